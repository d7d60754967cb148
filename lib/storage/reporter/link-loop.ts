import type { Buffer } from 'node:buffer';
import type { ClientConnection } from '../../net/client-connection.ts';
import { FdfsError, toFdfsError } from '../../protocol/errno.ts';
import { connectTracker, getMyIp } from '../tracker-session.ts';
import { ACTIVE_FAST_POLLS, MIN_EARLY_BEAT_GAP_MS, SetupError, type ReporterCore, type TrackerLink } from './core.ts';
import { initialSyncStep, join } from './join.ts';
import { changeStatus } from './leader-status.ts';
import { beat, changelog, checkActive, diskReport, syncReport } from './reports.ts';
import { learnMyIp, ownIdFromIps, setServerId } from './startup.ts';
import { hasTrunkCalls, trunkDuties } from './trunk.ts';

// One long-lived report connection per configured tracker (PROTOCOL.md §4, §4.4): connect, JOIN,
// the initial-sync step, then every second whatever is due; on failure close, wait, start over.

export async function runLink(r: ReporterCore, link: TrackerLink): Promise<void> {
  let failures = 0;
  let lastCode = '';
  while (!r.stopping) {
    let conn: ClientConnection;
    try {
      conn = await connect(r, link);
    } catch (err) {
      if (r.stopping) break;
      const e = toFdfsError(err, link.line);
      failures++;
      // Like C: log a connect failure once per distinct error, not every few seconds.
      if (e.code !== lastCode) r.log('error', `connect to tracker ${link.line} failed: ${e.message}`);
      lastCode = e.code;
      await link.sleeper.sleep(r.opts.connectRetryMs);
      continue;
    }
    r.log('info', `connected to tracker ${link.line}${failures ? ` after ${failures} failed attempts` : ''}`);
    failures = 0;
    lastCode = '';
    link.conn = conn;
    let delay = r.opts.retryDelayMs;
    let error: FdfsError | undefined;
    try {
      await session(r, link, conn);
    } catch (err) {
      const e = err instanceof SetupError ? err.reason : toFdfsError(err, link.line);
      if (err instanceof SetupError) delay = r.opts.connectRetryMs;
      if (!r.stopping) {
        error = e;
        // §4.9: 87 answers ENOENT while the other members are only ONLINE (none writable yet, as
        // in C): a routine wait on a cluster starting up, not a fault worth a warning.
        const routine = e.code === 'ENOENT' && e.command === 'STORAGE_SYNC_DEST_REQ';
        r.log(routine ? 'info' : 'warn', `tracker ${link.line}: ${e.message}; reconnecting in ${delay / 1000} s`);
      }
    } finally {
      link.conn = null;
      link.joined = false;
      await closeConnection(conn);
    }
    r.emit('disconnected', link.line, error);
    if (r.stopping) break;
    await link.sleeper.sleep(delay);
  }
}

/** Connect, giving up at once (and closing the late socket) when stop() is called. */
export async function connect(r: ReporterCore, link: TrackerLink): Promise<ClientConnection> {
  const attempt = connectTracker(link.endpoint, r.dial, link.preferredHost);
  const result = await Promise.race([attempt, r.stopped.then(() => null)]);
  if (result === null) {
    attempt.then(({ conn }) => conn.destroy(), () => {});
    throw r.stoppedError();
  }
  link.preferredHost = result.hostIndex;
  return result.conn;
}

/** One report connection from JOIN to failure, rejoin or stop (§4.4). */
export async function session(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  if (link.myIps === null) {
    // §4.1: the report connection asks 60 itself when start-up could not reach this tracker.
    learnMyIp(r, link, await getMyIp(conn, r.group, r.host.port));
    if (!r.useStorageId && r.myId === '') setServerId(r, ownIdFromIps(r.myIps));
  }
  await join(r, link, conn);
  if (r.stopping) return;
  await initialSyncStep(r, link, conn);

  // C starts these at 0, so the first beat and disk report go out right after joining (the
  // capture shows 83 and 84 immediately): a fresh cluster turns ACTIVE at once.
  let lastBeat = -Infinity;
  let lastDisk = -Infinity;
  let lastSyncReport = -Infinity;
  let syncReported = 0;
  let lastStat: Buffer | null = null;
  let ticks = 0;
  // A tracker that restarts closes the idle connection: notice it now, not at the next beat.
  let peerClosed = false;
  const onPeerClose = () => { peerClosed = true; link.sleeper.wake(); };
  conn.socket.once('end', onPeerClose);
  conn.socket.once('close', onPeerClose);
  try {
    while (!r.stopping) {
      if (peerClosed) throw new FdfsError('ENOTCONN', 'tracker closed the connection', { subject: link.line });
      const now = Date.now();
      let beaten = false;
      const early = link.forceBeat && now - lastBeat >= MIN_EARLY_BEAT_GAP_MS;
      if (early || now - lastBeat >= r.heartBeatMs) {
        const forced = link.forceBeat;
        link.forceBeat = false;
        lastStat = await beat(r, link, conn, lastStat, forced);
        lastBeat = now;
        beaten = true;
        if (r.listenerCount('changelog') > 0 && (r.params?.get('storage_ip_changed_auto_adjust') ?? '1') !== '0') {
          await changelog(r, link, conn);
        }
      }
      if (r.syncChangeCount !== syncReported && now - lastSyncReport >= 1000) {
        const count = r.syncChangeCount;
        await syncReport(r, link, conn);
        syncReported = count;
        lastSyncReport = now;
      }
      if (now - lastDisk >= r.statReportMs || r.spaceWatch.crossedSince(lastDisk)) {
        await diskReport(r, link, conn);
        lastDisk = now;
      }
      if (!r.activeSeen && (beaten || ticks < ACTIVE_FAST_POLLS)) await checkActive(r, link, conn);
      // §11.5: 72/73 queued by the trunk role, 73/74 while this storage is trunk server.
      await trunkDuties(r, link, conn);
      if (link.reportMyStatus) {
        link.reportMyStatus = false;
        await changeStatus(r, link, conn);
        return; // C re-joins after 59 so the follower's view is read back from the JOIN reply.
      }
      if (link.needRejoin) {
        link.needRejoin = false;
        r.log('info', `re-joining tracker ${link.line}`);
        return;
      }
      ticks++;
      // An early beat that is not due yet shortens the pause instead of waiting a whole tick.
      let pause = link.forceBeat ? Math.min(r.opts.tickMs, lastBeat + MIN_EARLY_BEAT_GAP_MS - Date.now()) : r.opts.tickMs;
      // Sync progress waiting for its 1 s spacing goes out as soon as that allows.
      if (r.syncChangeCount !== syncReported) pause = Math.min(pause, lastSyncReport + 1000 - Date.now());
      if (hasTrunkCalls(link)) pause = 0;
      if (pause > 0 && !r.stopping && !peerClosed) await link.sleeper.sleep(pause);
    }
  } finally {
    conn.socket.off('end', onPeerClose);
    conn.socket.off('close', onPeerClose);
  }
}

/** QUIT then wait (bounded) for the socket to be fully closed. */
async function closeConnection(conn: ClientConnection): Promise<void> {
  const socket = conn.socket;
  await conn.quit();
  if (socket.destroyed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); }, 1000);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
  });
}
