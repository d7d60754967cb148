import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';
import type { ClientConnection } from '../net/client-connection.ts';
import { ipv6ShortCode } from '../protocol/base64.ts';
import { CMD, FDFS_VERSION, STORAGE_STATUS, storageStatusName } from '../protocol/codes.ts';
import { ERRNO, FdfsError, toFdfsError } from '../protocol/errno.ts';
import { formatAddress } from '../protocol/ip.ts';
import { STORAGE_BRIEF_LEN, encodeStorageStat, type StorageBrief } from '../protocol/records.ts';
import {
  JOIN_FIXED_LEN, decodeChangePush, decodeJoinResponse, decodeSyncSource, encodeDiskUsage, encodeJoinRequest,
  encodeSyncReport, encodeSyncSource, type ChangePush, type SyncSource,
} from '../protocol/storage-tracker.ts';
import { silentLogger, type Logger } from '../util/log.ts';
import type { ReporterHost } from './reporter-host.ts';
import { SpaceWatch } from './space-watch.ts';
import {
  connectTracker, fetchStorageIds, getGroupName, getMyIp, getParameters, getServerId, getStorageStatus,
  isTrackerLeader, localIpOf, remoteIpOf, reportStatusToTrackers, trackerLine, withTracker,
  type TrackerDialOptions, type TrackerEndpoint, type TrackerOutcome,
} from './tracker-session.ts';

/**
 * The storage's tracker side (PROTOCOL.md §4): the start-up lookups, then one long-lived report
 * connection per configured tracker running JOIN → initial-sync step → periodic beat / disk /
 * sync reports, feeding every change-push back to the storage through its ReporterHost.
 *
 * Events:
 * - `'active'` (trackerAddress): the first time a tracker lists this storage ACTIVE.
 * - `'joined'` (trackerAddress, status): a JOIN was accepted (status = the tracker's view).
 * - `'disconnected'` (trackerAddress, error?): a report connection ended; it is re-opened.
 * - `'leader'` (address | null): the leader named by a change-push changed.
 * - `'trunk-server'` (brief, trackerAddress): a change-push named the group's trunk server.
 * - `'changelog'` (text, trackerAddress): new tracker changelog bytes (§4.15). 77 is only sent while
 *   someone listens: the tracker advances its per-storage read offset, so unread lines would be lost.
 */

/** The storage.conf keys the reporter reads (a subset of the storage config; FastDFS names). */
export interface ReporterConfig {
  /** `tracker_server` entries, `host[,host2]:port` each. */
  tracker_servers: ReadonlyArray<{ hosts: readonly string[]; port: number }>;
  /** Seconds between beats (default 30). */
  heart_beat_interval: number;
  /** Seconds between disk usage reports (default 300). */
  stat_report_interval: number;
  /** Seconds per connect attempt (default 10). */
  connect_timeout?: number;
  /** Seconds without progress on a request (default 60). */
  network_timeout?: number;
}

export interface TrackerReporterOptions {
  /** Start-up rounds before bootstrap() gives up (default: Infinity — the CLI stops it on SIGTERM). */
  bootstrapAttempts?: number;
  /** Pause between start-up rounds and after a failed exchange, ms (default 1000). */
  retryDelayMs?: number;
  /** Pause after a failed connect or a refused JOIN, ms (default min(heart_beat_interval, 5) s). */
  connectRetryMs?: number;
  /** Period of the report loop, ms (default 1000, §4.4 "every second"). */
  tickMs?: number;
  /** reportNow() calls within this many ms make one early beat (default 100). */
  reportNowDebounceMs?: number;
  /** After stop(), how long a request in flight may finish before its socket is destroyed, ms (default 2000). */
  stopGraceMs?: number;
}

/** Optional members a host may have beyond ReporterHost (see the report: proposed additions). */
interface ReporterHostExtras {
  /** Locally recorded sync source (.data_init_flag), sent with every 88 SYNC_NOTIFY. */
  readonly syncSource?: SyncSource | null;
  /** Group learnt with 109 when group_name is not configured. */
  onGroupName?(group: string): void;
}

export interface BootstrapResult {
  group: string;
  myIps: string[];
  params: Map<string, string>;
  useStorageId: boolean;
  serverId: string;
}

export interface TrackerLinkState {
  tracker: string;
  connected: boolean;
  joined: boolean;
  /** This storage's status as that tracker last reported it; -1 = unknown. */
  status: number;
}

/** Polls of 71 in the first seconds after a JOIN (one per tick), then one after each beat. */
const ACTIVE_FAST_POLLS = 30;
/** reportNow() beats at most this often per tracker, however busy the storage is. */
const MIN_EARLY_BEAT_GAP_MS = 1000;
/** Largest change-push we accept: flags + leader + trunk + members (C: 32 members; be generous). */
const MAX_PUSH_LEN = 1 + 258 * STORAGE_BRIEF_LEN;
/** Errors that leave the connection at an unknown stream position. */
const TRANSPORT_ERRNOS = new Set<number>([ERRNO.EPROTO, ERRNO.ENOTCONN, ERRNO.ECONNRESET, ERRNO.ETIMEDOUT, ERRNO.EPIPE]);
const AVAILABLE = new Set<number>([STORAGE_STATUS.OFFLINE, STORAGE_STATUS.ONLINE, STORAGE_STATUS.ACTIVE]);

/** A pause that stop(), reportNow() and rejoin() can cut short. */
class Sleeper {
  private timer: NodeJS.Timeout | null = null;
  private resolve: (() => void) | null = null;

  sleep(ms: number): Promise<void> {
    this.wake();
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.wake(), ms);
    });
  }

  wake(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const r = this.resolve;
    this.resolve = null;
    r?.();
  }
}

/** Thrown when JOIN or the initial-sync step fails: retried after the longer connect pause. */
class SetupError extends Error {
  constructor(readonly reason: FdfsError) { super(reason.message); }
}

class TrackerLink {
  readonly line: string;
  readonly sleeper = new Sleeper();
  /** Answer of 60 from this tracker. */
  myIps: string[] | null = null;
  preferredHost = 0;
  conn: ClientConnection | null = null;
  joined = false;
  /** undefined until this tracker answered a JOIN at all (C my_result == -1). */
  joinResult: number | undefined;
  /** Our status as this tracker sees it (JOIN reply / its member push); -1 = unknown. */
  trackerStatus = -1;
  /** The leader's view differs from this follower's: send 59 CHANGE_STATUS (§4.11). */
  reportMyStatus = false;
  forceBeat = false;
  needRejoin = false;
  loop: Promise<void> | null = null;

  constructor(readonly index: number, readonly endpoint: TrackerEndpoint) {
    this.line = trackerLine(endpoint);
  }
}

export class TrackerReporter extends EventEmitter {
  private readonly links: TrackerLink[];
  private readonly opts: Required<TrackerReporterOptions>;
  private readonly heartBeatMs: number;
  private readonly statReportMs: number;
  private readonly bootSleeper = new Sleeper();

  private group: string;
  private myIps: string[] = [];
  private params: Map<string, string> | null = null;
  private useStorageId = false;
  private idsFetched = false;
  private myId: string;
  private ownStatusKnown = false;
  /** Sync source learnt by this reporter (87, or cleared after ENOENT); undefined = the host's record. */
  private syncSrc: SyncSource | null | undefined;
  private syncTimestamps = new Map<string, number>();
  private syncChangeCount = 0;
  private memberIds: string[] = [];
  private leaderIndex = -1;
  private leaderAddress: string | null = null;
  private activeSeen = false;
  private syncStepLock: Promise<void> = Promise.resolve();
  private readonly spaceWatch = new SpaceWatch({ diskUsage: () => this.host.diskUsage(), reserve: () => this.params?.get('reserved_storage_space'), onCross: () => { for (const l of this.links) l.sleeper.wake(); } });
  /** The start-up round in flight, so that stop() can wait for its short connections. */
  private bootRound: Promise<void> | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | null = null;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => { this.resolveStopped = r; });
  private readonly dial: TrackerDialOptions;
  private idAnnounced = false;

  constructor(private readonly host: ReporterHost, config: ReporterConfig, private readonly log: Logger = silentLogger,
    options: TrackerReporterOptions = {}) {
    super();
    if (config.tracker_servers.length === 0) throw new FdfsError('EINVAL', 'no tracker_server configured');
    this.links = config.tracker_servers.map((t, i) => new TrackerLink(i, { hosts: [...t.hosts], port: t.port }));
    const hbi = config.heart_beat_interval > 0 ? config.heart_beat_interval : 30;
    this.heartBeatMs = hbi * 1000;
    this.statReportMs = (config.stat_report_interval > 0 ? config.stat_report_interval : 300) * 1000;
    this.opts = {
      bootstrapAttempts: options.bootstrapAttempts ?? Infinity,
      retryDelayMs: options.retryDelayMs ?? 1000,
      // Deviation: C waits heart_beat_interval after a failed connect; we cap it at 5 s so a
      // restarted tracker sees its storages again quickly.
      connectRetryMs: options.connectRetryMs ?? Math.min(hbi, 5) * 1000,
      tickMs: options.tickMs ?? 1000,
      reportNowDebounceMs: options.reportNowDebounceMs ?? 100,
      stopGraceMs: options.stopGraceMs ?? 2000,
    };
    this.dial = {
      connectTimeout: config.connect_timeout,
      networkTimeout: config.network_timeout && config.network_timeout > 0 ? config.network_timeout : 60,
      localAddress: host.bindAddr || undefined,
    };
    this.group = host.groupName;
    this.myId = host.serverId;
  }

  private get extras(): ReporterHostExtras { return this.host as ReporterHost & ReporterHostExtras; }

  // ------------------------------------------------------------------ public state

  /** Our own storage id (from 70, the configuration, or the IP of 60 without ids). */
  get serverId(): string { return this.myId; }
  get groupName(): string { return this.group; }
  get leader(): string | null { return this.leaderAddress; }
  get isActive(): boolean { return this.activeSeen; }

  get trackers(): TrackerLinkState[] {
    return this.links.map((l) => ({ tracker: l.line, connected: l.conn !== null, joined: l.joined, status: l.trackerStatus }));
  }

  // ------------------------------------------------------------------ start-up (§4 preamble)

  /**
   * PROTOCOL.md §4 start-up order: 109 (no group configured), 60 to every tracker, 75, and with
   * storage ids 69 + 70. Resolves once 60 and 75 succeeded on at least one tracker; unreachable
   * trackers are retried every retryDelayMs (forever by default, a warning each 10 rounds).
   * Progress is kept between rounds. Rejects if stop() is called meanwhile.
   */
  async bootstrap(): Promise<BootstrapResult> {
    let lastError: FdfsError | null = null;
    for (let attempt = 1; ; attempt++) {
      this.assertRunning();
      try {
        this.bootRound = this.bootstrapRound();
        await this.bootRound;
        return {
          group: this.group, myIps: [...this.myIps], params: new Map(this.params!),
          useStorageId: this.useStorageId, serverId: this.myId,
        };
      } catch (err) {
        if (this.stopping) throw this.stoppedError();
        // A tracker's definite "you are not in storage_ids.conf" is not retried (the C storage exits).
        if ((err as { fatal?: boolean }).fatal) throw err;
        lastError = toFdfsError(err);
        this.log('debug', `start-up round ${attempt}: ${lastError.message}`);
      }
      if (attempt >= this.opts.bootstrapAttempts) {
        throw new FdfsError(lastError!.errno, `tracker start-up lookups failed after ${attempt} attempts: ${lastError!.message}`);
      }
      if (attempt === 1 || attempt % 10 === 0) {
        this.log('warn', `no tracker answered the start-up requests yet (${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}): ${lastError!.message}; retrying`);
      }
      await this.bootSleeper.sleep(this.opts.retryDelayMs);
    }
  }

  private async bootstrapRound(): Promise<void> {
    const port = this.host.port;
    // 109: the group of a storage without group_name, from storage_ids.conf (§4.12).
    if (this.group === '') {
      this.group = await this.firstTracker('GET_GROUP_NAME',
        (conn) => getGroupName(conn, port, this.host.bindAddr || undefined));
      this.log('info', `group name from the tracker: ${this.group}`);
      this.notifyHost('onGroupName', () => this.extras.onGroupName?.(this.group));
    }

    // 60 on a short connection to every tracker not asked yet (§4.1), all at once.
    const pending = this.links.filter((l) => l.myIps === null);
    const answers = await Promise.allSettled(pending.map((l) =>
      withTracker(l.endpoint, this.dial, (conn) => getMyIp(conn, this.group, port))));
    let lastError: unknown = null;
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') this.learnMyIp(pending[i]!, a.value);
      else lastError = a.reason;
    });
    if (this.myIps.length === 0) throw lastError ?? new FdfsError('ENOTCONN', 'no tracker answered GET_MY_IP');

    // 75: the first tracker that answers (leader first when one is known, §1.4 rule 4).
    if (this.params === null) {
      const params = await this.firstTracker('PARAMETER_REQ', (conn) => getParameters(conn), true);
      this.params = params;
      this.useStorageId = params.get('use_storage_id') === '1' || params.get('use_storage_id') === 'true';
      this.notifyHost('onParameters', () => this.host.onParameters(params));
    }

    if (this.useStorageId) {
      // 69 + 70 on one connection, as the C storage does. 70 is asked at every start-up even with a
      // configured server_id: 6.16.1 does (captures README, discrepancy 6).
      if (!this.idsFetched) {
        const ip = this.myIps[0]!;
        const { lines, id } = await this.firstTracker('FETCH_STORAGE_IDS', async (conn) => ({
          lines: await fetchStorageIds(conn),
          id: await getServerId(conn, this.group, ip, port).catch((err: unknown) => {
            // §4.12: ENOENT = no entry for this group + ip:port in the trackers' storage_ids.conf.
            const e = toFdfsError(err);
            if (e.code !== 'ENOENT') throw e;
            throw Object.assign(new FdfsError('ENOENT',
              `${formatAddress(ip, port)} (group ${this.group}) is not in the trackers' storage_ids.conf: add "<id> ${this.group} ${formatAddress(ip, port)}" there`,
              { subject: conn.address }), { fatal: true });
          }),
        }), true);
        this.notifyHost('onStorageIds', () => this.host.onStorageIds(lines));
        if (this.host.serverId && this.host.serverId !== id) {
          this.log('warn', `server_id ${this.host.serverId} in the configuration, the trackers know ${ip}:${port} as ${id}; using ${id}`);
        }
        this.setServerId(id);
        this.idsFetched = true;
      }
    } else {
      this.setServerId(ownIdFromIps(this.myIps));
    }
  }

  private learnMyIp(link: TrackerLink, ips: string[]): void {
    link.myIps = ips;
    if (this.myIps.length === 0) {
      this.myIps = ips;
      this.log('info', `my address as ${link.line} sees it: ${ips.join(',')}`);
      this.notifyHost('onMyIp', () => this.host.onMyIp(ips));
    } else if (ips.join(',') !== this.myIps.join(',')) {
      // The first answer stays the source IP of new file names; a multi-homed host may differ per tracker.
      this.log('warn', `tracker ${link.line} sees this storage as ${ips.join(',')}, an earlier tracker as ${this.myIps.join(',')}`);
    }
  }

  private setServerId(id: string): void {
    if (id === this.myId && this.idAnnounced) return;
    this.myId = id;
    this.idAnnounced = true;
    this.notifyHost('onServerId', () => this.host.onServerId(id));
  }

  /** Run fn on a short connection to each tracker in turn until one succeeds. */
  private async firstTracker<T>(what: string, fn: (conn: ClientConnection) => Promise<T>, leaderFirst = false): Promise<T> {
    const order = [...this.links];
    if (leaderFirst && this.leaderIndex >= 0) order.unshift(...order.splice(this.leaderIndex, 1));
    let last: unknown = null;
    for (const link of order) {
      this.assertRunning();
      try {
        return await withTracker(link.endpoint, this.dial, fn);
      } catch (err) {
        last = err;
        this.log('debug', `${what} on ${link.line}: ${(err as Error).message}`);
      }
    }
    throw last;
  }

  // ------------------------------------------------------------------ report loops (§4.3–4.9)

  /** Start one report loop per tracker (§4: each tracker is handled independently). */
  start(): void {
    this.assertRunning();
    if (this.started) return;
    this.started = true;
    this.spaceWatch.start();
    for (const link of this.links) {
      link.loop = this.runLink(link).catch((err) => {
        // Loops handle their own errors; reaching this is a bug, not a tracker problem.
        this.log('error', `report loop for ${link.line} ended: ${(err as Error).stack ?? err}`);
      });
    }
  }

  /**
   * Progress of the sync threads: for each peer id, the newest source timestamp received and
   * applied from it (§4.7). Sent with 89 when it changed — at most once per second per tracker
   * (C waits heart_beat_interval; we report sooner so 102 download routing learns progress fast).
   */
  setSyncTimestamps(map: ReadonlyMap<string, number> | Readonly<Record<string, number>>): void {
    const next = new Map<string, number>(map instanceof Map ? map : Object.entries(map));
    let changed = next.size !== this.syncTimestamps.size;
    if (!changed) for (const [k, v] of next) if (this.syncTimestamps.get(k) !== v) { changed = true; break; }
    if (!changed) return;
    this.syncTimestamps = next;
    this.syncChangeCount++;
    // Report soon (the loop keeps the 1 s spacing): downloads are routed to a replica by it (§8.4).
    for (const l of this.links) l.sleeper.wake();
  }

  /**
   * An early beat with fresh counters (the stat block) on every report connection. Calls within
   * reportNowDebounceMs are coalesced, and a tracker gets at most one early beat per second.
   */
  reportNow(): void {
    if (this.stopping || this.reportTimer) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      for (const l of this.links) {
        l.forceBeat = true;
        l.sleeper.wake();
      }
    }, this.opts.reportNowDebounceMs);
  }

  /** Close and re-open every report connection (JOIN again), e.g. when the host saw its own status regress. */
  rejoin(): void {
    for (const l of this.links) {
      l.needRejoin = true;
      l.sleeper.wake();
    }
  }

  /** 76 REPORT_STATUS to every tracker (connect, send, QUIT). Never throws; see the outcomes. */
  reportStatus(brief: StorageBrief): Promise<TrackerOutcome[]> {
    return reportStatusToTrackers(this.links.map((l) => l.endpoint), this.group, brief, this.dial);
  }

  /**
   * Stop every loop: the request in flight may finish (stopGraceMs), then each connection is
   * closed with QUIT. Resolves when every socket is closed; no timer is left behind.
   */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopping = true;
    this.spaceWatch.stop();
    this.resolveStopped();
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    this.bootSleeper.wake();
    for (const l of this.links) l.sleeper.wake();
    this.stopPromise = (async () => {
      const loops = Promise.all([...this.links.map((l) => l.loop ?? Promise.resolve()), this.bootRound?.catch(() => {})]);
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'grace'>((r) => { timer = setTimeout(() => r('grace'), this.opts.stopGraceMs); });
      const first = await Promise.race([loops.then(() => 'done' as const), grace]);
      clearTimeout(timer);
      if (first === 'grace') {
        for (const l of this.links) l.conn?.destroy();
        await loops;
      }
    })();
    return this.stopPromise;
  }

  private assertRunning(): void {
    if (this.stopping) throw this.stoppedError();
  }

  private stoppedError(): FdfsError {
    return new FdfsError('ENOTCONN', 'tracker reporter stopped');
  }

  private async runLink(link: TrackerLink): Promise<void> {
    let failures = 0;
    let lastCode = '';
    while (!this.stopping) {
      let conn: ClientConnection;
      try {
        conn = await this.connect(link);
      } catch (err) {
        if (this.stopping) break;
        const e = toFdfsError(err, link.line);
        failures++;
        // Like C: log a connect failure once per distinct error, not every few seconds.
        if (e.code !== lastCode) this.log('error', `connect to tracker ${link.line} failed: ${e.message}`);
        lastCode = e.code;
        await link.sleeper.sleep(this.opts.connectRetryMs);
        continue;
      }
      this.log('info', `connected to tracker ${link.line}${failures ? ` after ${failures} failed attempts` : ''}`);
      failures = 0;
      lastCode = '';
      link.conn = conn;
      let delay = this.opts.retryDelayMs;
      let error: FdfsError | undefined;
      try {
        await this.session(link, conn);
      } catch (err) {
        const e = err instanceof SetupError ? err.reason : toFdfsError(err, link.line);
        if (err instanceof SetupError) delay = this.opts.connectRetryMs;
        if (!this.stopping) {
          error = e;
          this.log('warn', `tracker ${link.line}: ${e.message}; reconnecting in ${delay / 1000} s`);
        }
      } finally {
        link.conn = null;
        link.joined = false;
        await closeConnection(conn);
      }
      this.emit('disconnected', link.line, error);
      if (this.stopping) break;
      await link.sleeper.sleep(delay);
    }
  }

  /** Connect, giving up at once (and closing the late socket) when stop() is called. */
  private async connect(link: TrackerLink): Promise<ClientConnection> {
    const attempt = connectTracker(link.endpoint, this.dial, link.preferredHost);
    const result = await Promise.race([attempt, this.stopped.then(() => null)]);
    if (result === null) {
      attempt.then(({ conn }) => conn.destroy(), () => {});
      throw this.stoppedError();
    }
    link.preferredHost = result.hostIndex;
    return result.conn;
  }

  /** One report connection from JOIN to failure, rejoin or stop (§4.4). */
  private async session(link: TrackerLink, conn: ClientConnection): Promise<void> {
    if (link.myIps === null) {
      // §4.1: the report connection asks 60 itself when start-up could not reach this tracker.
      this.learnMyIp(link, await getMyIp(conn, this.group, this.host.port));
      if (!this.useStorageId && this.myId === '') this.setServerId(ownIdFromIps(this.myIps));
    }
    await this.join(link, conn);
    if (this.stopping) return;
    await this.initialSyncStep(link, conn);

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
      while (!this.stopping) {
        if (peerClosed) throw new FdfsError('ENOTCONN', 'tracker closed the connection', { subject: link.line });
        const now = Date.now();
        let beat = false;
        const early = link.forceBeat && now - lastBeat >= MIN_EARLY_BEAT_GAP_MS;
        if (early || now - lastBeat >= this.heartBeatMs) {
          const forced = link.forceBeat;
          link.forceBeat = false;
          lastStat = await this.beat(link, conn, lastStat, forced);
          lastBeat = now;
          beat = true;
          if (this.listenerCount('changelog') > 0 && (this.params?.get('storage_ip_changed_auto_adjust') ?? '1') !== '0') {
            await this.changelog(link, conn);
          }
        }
        if (this.syncChangeCount !== syncReported && now - lastSyncReport >= 1000) {
          const count = this.syncChangeCount;
          await this.syncReport(link, conn);
          syncReported = count;
          lastSyncReport = now;
        }
        if (now - lastDisk >= this.statReportMs || this.spaceWatch.crossedSince(lastDisk)) {
          await this.diskReport(link, conn);
          lastDisk = now;
        }
        if (!this.activeSeen && (beat || ticks < ACTIVE_FAST_POLLS)) await this.checkActive(link, conn);
        if (link.reportMyStatus) {
          link.reportMyStatus = false;
          await this.changeStatus(link, conn);
          return; // C re-joins after 59 so the follower's view is read back from the JOIN reply.
        }
        if (link.needRejoin) {
          link.needRejoin = false;
          this.log('info', `re-joining tracker ${link.line}`);
          return;
        }
        ticks++;
        // An early beat that is not due yet shortens the pause instead of waiting a whole tick.
        let pause = link.forceBeat ? Math.min(this.opts.tickMs, lastBeat + MIN_EARLY_BEAT_GAP_MS - Date.now()) : this.opts.tickMs;
        // Sync progress waiting for its 1 s spacing goes out as soon as that allows.
        if (this.syncChangeCount !== syncReported) pause = Math.min(pause, lastSyncReport + 1000 - Date.now());
        if (pause > 0 && !this.stopping && !peerClosed) await link.sleeper.sleep(pause);
      }
    } finally {
      conn.socket.off('end', onPeerClose);
      conn.socket.off('close', onPeerClose);
    }
  }

  // ---- 81 JOIN (§4.3)

  /** C: the own entry of the leader's member list, else INIT, or −1 while some tracker never answered a JOIN. */
  private joinStatus(): number {
    const s = this.host.status;
    if (this.ownStatusKnown || (s !== STORAGE_STATUS.INIT && s !== STORAGE_STATUS.NONE)) return s;
    if (this.links.length > 1 && this.links.some((l) => l.joinResult === undefined)) return -1;
    return STORAGE_STATUS.INIT;
  }

  private async join(link: TrackerLink, conn: ClientConnection): Promise<void> {
    const h = this.host;
    const body = encodeJoinRequest({
      group: this.group,
      port: h.port,
      storePathCount: h.storePathCount,
      subdirCountPerPath: h.subdirCountPerPath,
      uploadPriority: h.uploadPriority,
      joinTime: h.joinTime,
      upTime: h.upTime,
      version: FDFS_VERSION,
      initFlag: h.syncOldDone ? 0 : 1,
      status: this.joinStatus(),
      storageId: this.useStorageId ? this.myId : '',
      currentTrackerIp: remoteIpOf(conn),
      trackers: this.links.map((l) => l.line),
    });
    let reply: Buffer;
    try {
      reply = await conn.request(CMD.STORAGE_JOIN, body, { maxResponse: 1024 });
    } catch (err) {
      const e = toFdfsError(err, link.line);
      link.joinResult = e.errno;
      throw new SetupError(e);
    }
    link.joinResult = 0;
    if (reply.length !== 1 + 16) {
      throw new SetupError(new FdfsError('EPROTO', `JOIN reply of ${reply.length} bytes, expected 17`, { subject: link.line }));
    }
    const { status, srcId } = decodeJoinResponse(reply);
    link.joined = true;
    link.trackerStatus = status;
    this.log('info', `joined tracker ${link.line} as ${this.myId || localIpOf(conn)}:${h.port}, status ${storageStatusName(status)}${srcId ? `, sync source ${srcId}` : ''}`);
    // Only the leader's view is ours (C keeps a follower's answer for the 59 check only).
    if (this.links.length === 1 || link.index === this.leaderIndex) {
      this.notifyHost('onOwnStatus', () => this.host.onOwnStatus(status));
    }
    this.checkMyStatus(link.index);
    this.emit('joined', link.line, status);
  }

  // ---- 87 SYNC_DEST_REQ / 88 SYNC_NOTIFY (§4.9)

  private async initialSyncStep(link: TrackerLink, conn: ClientConnection): Promise<void> {
    if (!this.host.syncOldDone) {
      // Serialized across trackers: only the first loop asks for a sync source (§4.4).
      const run = this.syncStepLock.then(async () => {
        if (this.host.syncOldDone || this.stopping) return;
        let reply: Buffer;
        try {
          reply = await conn.request(CMD.STORAGE_SYNC_DEST_REQ, [], { maxResponse: 1024 });
        } catch (err) {
          const e = toFdfsError(err, link.line);
          // ENOENT: no writable source yet — typically members started together, the first one
          // not ACTIVE yet. It will be in a moment: ask again after the short retry delay.
          if (e.code === 'ENOENT') throw e;
          throw new SetupError(e);
        }
        if (reply.length !== 0 && reply.length !== 24) {
          throw new SetupError(new FdfsError('EPROTO', `SYNC_DEST_REQ reply of ${reply.length} bytes`, { subject: link.line }));
        }
        const src = decodeSyncSource(reply);
        this.syncSrc = src && src.srcId ? src : null;
        this.host.syncOldDone = true;
        this.log('info', this.syncSrc ? `initial sync source ${this.syncSrc.srcId}, until ${this.syncSrc.until}`
          : 'no initial sync needed (first storage of the group)');
        this.notifyHost('onSyncSource', () => this.host.onSyncSource(this.syncSrc ? { ...this.syncSrc } : null));
        await this.saveInitFlag();
      });
      this.syncStepLock = run.catch(() => {});
      await run;
      if (this.stopping) return;
    }
    await this.syncNotify(link, conn);
  }

  /** The sync source 88 announces: ours if we learnt one, else the host's .data_init_flag record. */
  private get syncSource(): SyncSource | null {
    if (this.syncSrc !== undefined) return this.syncSrc;
    const recorded = this.extras.syncSource;
    return recorded?.srcId ? recorded : null;
  }

  private async syncNotify(link: TrackerLink, conn: ClientConnection): Promise<void> {
    const src = this.syncSource;
    const body = encodeSyncSource(src ?? { srcId: '', until: 0 });
    try {
      const reply = await conn.request(CMD.STORAGE_SYNC_NOTIFY, body, { maxResponse: 1024 });
      if (reply.length !== 0) throw new FdfsError('EPROTO', `SYNC_NOTIFY reply of ${reply.length} bytes, expected none`, { subject: link.line });
    } catch (err) {
      const e = toFdfsError(err, link.line);
      if (e.errno === ERRNO.ENOENT && src) {
        // §4.9: the source is unknown/deleted. C forgets it when the leader says so; the next
        // JOIN then notifies an empty source and the tracker lets us go ONLINE.
        if (await this.isLeader(link)) {
          this.log('warn', `tracker leader ${link.line} does not know sync source ${src.srcId}; forgetting it`);
          this.syncSrc = null;
          this.notifyHost('onSyncSource', () => this.host.onSyncSource(null));
          await this.saveInitFlag();
        }
      }
      throw new SetupError(e);
    }
  }

  private async isLeader(link: TrackerLink): Promise<boolean> {
    if (this.links.length === 1) return true;
    if (this.leaderIndex < 0) {
      // No change-push named a leader yet: ask them (64), as C's get_tracker_leader() does.
      for (const l of this.links) {
        try {
          if (await withTracker(l.endpoint, this.dial, isTrackerLeader)) { this.setLeaderIndex(l.index); break; }
        } catch { /* unreachable tracker: not the leader we can use */ }
      }
    }
    return link.index === this.leaderIndex;
  }

  private async saveInitFlag(): Promise<void> {
    try {
      await this.host.saveInitFlag();
    } catch (err) {
      // C exits here; we keep serving: memory holds the right state and the next save retries.
      this.log('error', `cannot save the init flag: ${(err as Error).message}`);
    }
  }

  // ---- 83 BEAT, 84 REPORT_DISK_USAGE, 89 SYNC_REPORT (§4.5–4.7)

  private async beat(link: TrackerLink, conn: ClientConnection, lastStat: Buffer | null, forced: boolean): Promise<Buffer> {
    // The storage leaves last_synced_timestamp and last_heart_beat_time zero (§4.5).
    const stat = encodeStorageStat({ ...this.host.stats(), last_synced_timestamp: 0, last_heart_beat_time: 0 });
    const send = forced || lastStat === null || !stat.equals(lastStat);
    const reply = await conn.request(CMD.STORAGE_BEAT, send ? stat : [], { maxResponse: MAX_PUSH_LEN });
    this.onChangePush(link, reply);
    return stat;
  }

  private async diskReport(link: TrackerLink, conn: ClientConnection): Promise<void> {
    let body: Buffer;
    try {
      body = encodeDiskUsage(await this.host.diskUsage());
    } catch (err) {
      // A failing statfs is local; dropping the tracker connection would not help. Retried next period.
      this.log('warn', `cannot measure the store paths: ${(err as Error).message}`);
      return;
    }
    const reply = await conn.request(CMD.STORAGE_REPORT_DISK_USAGE, body, { maxResponse: MAX_PUSH_LEN });
    this.onChangePush(link, reply);
  }

  private async syncReport(link: TrackerLink, conn: ClientConnection): Promise<void> {
    // One entry per known group member, ourselves included with 0 (what 6.16.1 sends, captures
    // README discrepancy 9), plus any peer the sync code reported before a member list arrived.
    const ids = [...this.memberIds];
    for (const id of this.syncTimestamps.keys()) if (!ids.includes(id)) ids.push(id);
    if (ids.length === 0) return;
    const items = ids.map((peerId) => ({ peerId, timestamp: Math.min(this.syncTimestamps.get(peerId) ?? 0, 0x7fffffff) }));
    const reply = await conn.request(CMD.STORAGE_SYNC_REPORT, encodeSyncReport(items), { maxResponse: MAX_PUSH_LEN });
    this.onChangePush(link, reply);
  }

  // ---- 77 CHANGELOG_REQ (§4.15), 59 CHANGE_STATUS (§4.11), 71 GET_STATUS (§4.12)

  private async changelog(link: TrackerLink, conn: ClientConnection): Promise<void> {
    const text = (await conn.request(CMD.STORAGE_CHANGELOG_REQ, [], { maxResponse: 64 * 1024 })).toString('latin1');
    if (text.length > 0) this.emit('changelog', text, link.line);
  }

  private async changeStatus(link: TrackerLink, conn: ClientConnection): Promise<void> {
    const leader = this.links[this.leaderIndex];
    if (!leader || leader === link || leader.trackerStatus < 0 || leader.trackerStatus === link.trackerStatus) return;
    this.log('info', `tracker ${link.line} sees this storage ${storageStatusName(link.trackerStatus)}, the leader ${storageStatusName(leader.trackerStatus)}: sending CHANGE_STATUS`);
    const reply = await conn.request(CMD.STORAGE_CHANGE_STATUS, Buffer.from([leader.trackerStatus & 0xff]), { maxResponse: 1024 });
    if (reply.length !== 0) throw new FdfsError('EPROTO', `CHANGE_STATUS reply of ${reply.length} bytes, expected none`, { subject: link.line });
  }

  /**
   * Ask this tracker how it sees us (71) until one says ACTIVE. Only the leader pushes member
   * lists, and a C leader elected after our first beat pushes them one heart_beat_interval later,
   * so waiting for a push alone could take 30 s.
   */
  private async checkActive(link: TrackerLink, conn: ClientConnection): Promise<void> {
    const ip = link.myIps?.[0] ?? this.myIps[0] ?? localIpOf(conn);
    try {
      const brief = await getStorageStatus(conn, this.group, ip, this.host.port);
      if (brief.status === STORAGE_STATUS.ACTIVE) this.markActive(link);
    } catch (err) {
      const e = toFdfsError(err, link.line);
      if (TRANSPORT_ERRNOS.has(e.errno) || conn.socket.destroyed) throw e;
      // A status reply (e.g. ENOENT before the tracker knows us): the tracker keeps the
      // connection open after error replies (captures README), so the stream is still framed.
      conn.usable = true;
      this.log('debug', `GET_STATUS on ${link.line}: ${e.message}`);
    }
  }

  private markActive(link: TrackerLink): void {
    if (this.activeSeen) return;
    this.activeSeen = true;
    this.log('info', `tracker ${link.line} lists this storage ACTIVE`);
    this.emit('active', link.line);
  }

  // ---- change-push (§4.8)

  private onChangePush(link: TrackerLink, body: Buffer): void {
    if (body.length === 0) return;
    if ((body.length - 1) % STORAGE_BRIEF_LEN !== 0) {
      throw new FdfsError('EPROTO', `change-push of ${body.length} bytes is not 1 + n × ${STORAGE_BRIEF_LEN}`, { subject: link.line });
    }
    let push: ChangePush;
    try {
      push = decodeChangePush(body);
    } catch (err) {
      throw new FdfsError('EPROTO', `change-push: ${(err as Error).message}`, { subject: link.line });
    }
    if (push.leader) this.onLeaderBrief(push.leader, link);
    if (push.trunkServer) this.emit('trunk-server', push.trunkServer, link.line);
    if (push.members) {
      const members = push.members;
      this.memberIds = members.filter((m) => m.status !== STORAGE_STATUS.DELETED && m.status !== STORAGE_STATUS.IP_CHANGED)
        .map((m) => m.id);
      this.notifyHost('onGroupMembers', () => this.host.onGroupMembers(members, link.line));
      const own = members.find((m) => m.id === this.myId);
      if (own) {
        link.trackerStatus = own.status;
        this.ownStatusKnown = true;
        this.notifyHost('onOwnStatus', () => this.host.onOwnStatus(own.status));
        if (own.status === STORAGE_STATUS.ACTIVE) this.markActive(link);
        this.checkAllStatuses();
      }
    }
  }

  private onLeaderBrief(brief: StorageBrief, link: TrackerLink): void {
    if (brief.ip === '') {
      if (this.leaderIndex >= 0) this.log('warn', `tracker ${link.line} reports no leader, mine was ${this.leaderAddress}`);
      this.setLeaderIndex(-1);
      return;
    }
    const index = this.links.findIndex((l) => l.endpoint.port === brief.port && l.endpoint.hosts.includes(brief.ip));
    if (index < 0) {
      this.log('warn', `tracker ${link.line} names leader ${formatAddress(brief.ip, brief.port)}, which is not in my tracker_server list`);
      return;
    }
    this.setLeaderIndex(index);
  }

  private setLeaderIndex(index: number): void {
    if (index === this.leaderIndex) return;
    this.leaderIndex = index;
    const link = this.links[index];
    this.leaderAddress = link ? link.line : null;
    if (link) this.log('info', `tracker leader is ${link.line}`);
    this.emit('leader', this.leaderAddress);
    this.checkAllStatuses();
  }

  /** C tracker_check_my_status: a follower whose view differs from the leader's gets 59 (§4.11). */
  private checkMyStatus(index: number): void {
    const leader = this.links[this.leaderIndex];
    const link = this.links[index]!;
    if (!leader || leader === link) return;
    const mine = link.trackerStatus;
    const lead = leader.trackerStatus;
    if (mine < 0 || lead < 0 || mine === lead) return;
    if (AVAILABLE.has(mine) && AVAILABLE.has(lead)) return;
    link.reportMyStatus = true;
    link.sleeper.wake();
  }

  private checkAllStatuses(): void {
    for (const l of this.links) this.checkMyStatus(l.index);
  }

  /** Host callbacks must not break the protocol loop: a throwing host is logged, not fatal. */
  private notifyHost(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log('error', `storage host ${what} failed: ${(err as Error).stack ?? err}`);
    }
  }
}

/**
 * Without storage ids our id is the IPv4 address the tracker sees (the first IPv4 of the 60
 * answer), or the §6.7 short code of an IPv6 address.
 */
export function ownIdFromIps(ips: readonly string[]): string {
  const v4 = ips.find((ip) => isIPv4(ip));
  if (v4) return v4;
  const first = ips[0] ?? '';
  return isIPv6(first) ? ipv6ShortCode(first) : first;
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

export { JOIN_FIXED_LEN, reportStatusToTrackers, type TrackerOutcome };
