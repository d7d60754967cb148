import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import type { StorageBrief } from '../protocol/records.ts';
import { JOIN_FIXED_LEN } from '../protocol/storage-tracker.ts';
import { ReporterCore, type BootstrapResult, type TrackerLinkState } from './reporter/core.ts';
import { runLink } from './reporter/link-loop.ts';
import { bootstrapRound } from './reporter/startup.ts';
import { reportStatusToTrackers, type TrackerOutcome } from './tracker-session.ts';

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
export class TrackerReporter extends ReporterCore {

  /** Our own storage id (from 70, the configuration, or the IP of 60 without ids). */
  get serverId(): string { return this.myId; }

  get groupName(): string { return this.group; }

  get leader(): string | null { return this.leaderAddress; }

  get isActive(): boolean { return this.activeSeen; }


  get trackers(): TrackerLinkState[] {
    return this.links.map((l) => ({ tracker: l.line, connected: l.conn !== null, joined: l.joined, status: l.trackerStatus }));
  }


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
        this.bootRound = bootstrapRound(this);
        await this.bootRound;
        return {
          group: this.group, myIps: [...this.myIps], params: new Map(this.params!),
          useStorageId: this.useStorageId, serverId: this.myId,
        };
      } catch (err) {
        if (this.stopping) throw this.stoppedError();
        // A tracker's definite "you are not in storage_ids.conf" is not retried (the C storage exits).
        if (err instanceof FdfsError && err.fatal) throw err;
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


  /** Start one report loop per tracker (§4: each tracker is handled independently). */
  start(): void {
    this.assertRunning();
    if (this.started) return;
    this.started = true;
    this.spaceWatch.start();
    for (const link of this.links) {
      link.loop = runLink(this, link).catch((err) => {
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
}

export type { BootstrapResult, ReporterConfig, ReporterHostExtras, TrackerLinkState, TrackerReporterOptions } from './reporter/core.ts';
export { ownIdFromIps } from './reporter/startup.ts';
export { JOIN_FIXED_LEN, reportStatusToTrackers, type TrackerOutcome };
