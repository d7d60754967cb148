import { Buffer } from 'node:buffer';
import { CMD, STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import { ERRNO, FdfsError, errnoName, toFdfsError } from '../../protocol/errno.ts';
import type { SyncSource } from '../../protocol/storage-tracker.ts';
import { syncChannel, type SyncEvent } from '../../util/events.ts';
import type { Logger } from '../../util/log.ts';
import type { BinlogPosition, BinlogRecord } from '../binlog.ts';
import type { StorageContext } from '../context.ts';
import { BEHIND_SCAN_LIMIT, countBacklog } from './backlog.ts';
import { BinlogReader } from './binlog-reader.ts';
import { SYNC_CAP, SYNC_CAPS_PROBE_STATUS, decodeSyncCaps, encodeReportServerId, encodeSyncWatermark } from './codec.ts';
import { LocalFiles } from './local-files.ts';
import type { SyncMark } from './mark-file.ts';
import { MarkKeeper } from './mark-keeper.ts';
import { Pause } from './pause.ts';
import { pushRecord, type PlanContext } from './plan-runner.ts';
import { conflicting, laneOf, pushable, wouldPush } from './push-policy.ts';
import type { RuleState } from './sender-plan.ts';
import { SyncChannel } from './sync-channel.ts';
import { Watermarks } from './watermark.ts';

export { BEHIND_SCAN_LIMIT } from './backlog.ts';
export { WATERMARK_GUARD_MS } from './watermark.ts';

// One sync reader per peer (PROTOCOL.md §5.9, §5.10): it follows this storage's binlog from the
// peer's mark and pushes every record the peer needs (§5.7) with the sender rules of §5.2–§5.6
// (rules/*.ts, carried out by plan-runner.ts). Records are pipelined on one connection (see
// sync-channel.ts), in binlog order, when the peer is an fdfs storage that said it takes that; a
// C storage gets one request at a time and none of the fdfs extensions (capabilities:
// REPORT_SERVER_ID probe, codec.ts). This file is the session: connections, the push loop, the
// caught-up duties; the mark is mark-keeper.ts, the backlog count backlog.ts, watermarks watermark.ts.

/** A group member as the tracker's change-push lists it (§4.8). */
export interface SyncPeer {
  id: string;
  ip: string;
  port: number;
  status: number;
}

/** What a PeerSync needs from the storage around it (SyncManager provides it). */
export interface SyncEnv {
  readonly ctx: StorageContext;
  /** `<base_path>/data/sync`. */
  readonly syncDir: string;
  readonly log: Logger;
  ownId(): string;
  ownPort(): number;
  useStorageId(): boolean;
  /** Source address of sync connections (client_bind). */
  readonly localAddress: string | undefined;
  readonly heartBeatMs: number;
  /** sync_wait_msec: poll period of an idle reader (the binlog writer also wakes it). */
  readonly waitMs: number;
  /** sync_interval: pause after each pushed record. */
  readonly intervalMs: number;
  /** write_mark_file_freq. */
  readonly markFreq: number;
  readonly skipInvalid: boolean;
  readonly connectTimeout: number;
  readonly networkTimeout: number;
  /** sync_pipeline_window: requests in flight per connection to a peer that announced pipelining. */
  readonly window: number;
  /** Parallel connections per peer (sync_max_threads, §5.10). */
  readonly lanes: number;
  /** sync_start_time / sync_end_time (§5.10). */
  inWindow(now: Date): boolean;
  /** 86 SYNC_SRC_REQ (§4.9): who copies the old files to `destId` (null: nobody). Throws when no tracker answers. */
  askSyncSource(destId: string): Promise<SyncSource | null>;
  /** 76 REPORT_STATUS about a peer to every tracker (§4.10); true when at least one accepted. */
  reportPeerStatus(peer: SyncPeer, status: number): Promise<boolean>;
  /** A peer's initial copy finished (the manager makes the trackers hear from everyone soon). */
  onOldCopyDone?(peer: SyncPeer): void;
}

export class PeerSync {
  peer: SyncPeer;
  private readonly env: SyncEnv;
  private readonly log: Logger;
  private readonly marks: MarkKeeper;
  private stopped = false;
  private loop: Promise<void> | null = null;
  /** Pauses that status changes and stop() cut short. */
  private readonly pause = new Pause();
  /** The idle wait for new binlog lines (also cut short by status changes and stop()). */
  private readonly linesPause = new Pause();
  /** This session's connections: 0 is the main one, the others are opened on first use. */
  private lanes: Array<SyncChannel | null> = [];
  private pending = 0;
  private settledWaiters: Array<() => void> = [];
  private sessionError: FdfsError | null = null;
  /** What the sender rules know about the peer (peerHasFiles: §5.2). */
  private readonly rules: RuleState;
  private readonly planContext: PlanContext;
  private readonly watermarks = new Watermarks();
  private offlinePending = false;
  private offlineTriedAt = 0;
  private lastError = '';
  /** Last caught-up state published (null before the first), so only changes become events. */
  private caughtUpState: boolean | null = null;

  /** Why the reader last failed, for logs and tests. */
  lastFailure: FdfsError | null = null;
  /** Records pushed since start (tests and metrics). */
  pushedRecords = 0;
  /** Source timestamp of the last record pushed since start, 0 if none (FDFS_SYNC_STATUS). */
  lastPushedTimestamp = 0;

  constructor(env: SyncEnv, peer: SyncPeer) {
    this.env = env;
    this.peer = { ...peer };
    this.log = env.log;
    this.marks = new MarkKeeper({
      syncDir: env.syncDir, log: env.log, ownId: () => env.ownId(), ownPort: () => env.ownPort(),
      useStorageId: () => env.useStorageId(), markFreq: env.markFreq,
      askSyncSource: (id) => env.askSyncSource(id),
      firstLineFrom: (ts) => this.firstLineFrom(ts),
    });
    const ctx = env.ctx;
    this.rules = { get group() { return ctx.groupName; }, peerHasFiles: false, peerCaps: null };
    this.planContext = { state: this.rules, local: new LocalFiles(env.ctx, env.log), warn: (text) => this.log('warn', text) };
  }

  get address(): string { return `${this.peer.ip}:${this.peer.port}`; }
  /** Current position and flags (null before the first session). */
  get markState(): Readonly<SyncMark> | null { return this.marks.mark; }
  /** SYNC_CAP bits the peer announced in its answer to REPORT_SERVER_ID (0: a C storage), null before the first answer. */
  get peerCaps(): number | null { return this.rules.peerCaps; }

  start(): void {
    this.loop ??= this.run().catch((err) => this.log('error', `sync to ${this.peer.id}: ${(err as Error).stack ?? err}`));
  }

  /** New status or address from a change-push. */
  update(peer: SyncPeer): void {
    const moved = peer.ip !== this.peer.ip || peer.port !== this.peer.port;
    const was = this.peer.status;
    this.peer = { ...peer };
    if (moved) for (const c of this.lanes) c?.destroy();
    if (was !== peer.status) {
      this.pause.wake();
      this.linesPause.wake();
    }
  }

  /** New binlog lines: an idle reader looks again. */
  wake(): void {
    this.linesPause.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pause.wake();
    this.linesPause.wake();
    for (const c of this.lanes) c?.destroy();
    this.wakeSettled();
    await this.loop;
  }

  // ---------------------------------------------------------------- sessions (§5.10)

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (!pushable(this.peer.status)) {
        // §5.10 step 1: a peer being initialised (INIT) or in disk recovery is left alone.
        await this.pause.sleep(1000);
        continue;
      }
      if (!this.env.inWindow(new Date())) {
        await this.pause.sleep(5000);
        continue;
      }
      let ch: SyncChannel;
      try {
        ch = await this.openChannel();
      } catch (err) {
        failures++;
        this.noteFailure(toFdfsError(err, this.address), `cannot connect to ${this.peer.id} at ${this.address}`);
        // An ONLINE/OFFLINE peer may simply be down: back off up to 5 s.
        await this.pause.sleep(Math.min(5000, 500 * failures));
        continue;
      }
      this.lanes = [ch];
      let error: FdfsError | null = null;
      const pushedBefore = this.pushedRecords;
      try {
        await this.session(ch);
      } catch (err) {
        error = toFdfsError(err, this.address);
      } finally {
        for (const c of this.lanes) c?.close();
        this.lanes = [];
        await this.marks.save();
      }
      if (this.stopped) break;
      if (!error) { failures = 0; continue; }
      // A session that got records through was not a failure to connect: retry at once again.
      failures = this.pushedRecords > pushedBefore ? 1 : failures + 1;
      this.noteFailure(error, `sync to ${this.peer.id} at ${this.address} stopped`);
      // §5.10 step 8: at once after a closed connection or I/O error, otherwise after 5 s.
      const quick = error.errno === ERRNO.ENOTCONN || error.errno === ERRNO.EIO || error.errno === ERRNO.ECONNRESET;
      await this.pause.sleep(quick && failures < 3 ? 100 : 5000);
    }
  }

  private openChannel(): Promise<SyncChannel> {
    return SyncChannel.open(this.peer.ip, this.peer.port, {
      connectTimeout: this.env.connectTimeout,
      networkTimeout: this.env.networkTimeout,
      localAddress: this.env.localAddress,
      // One request at a time until the peer says it takes more (introduce()).
      window: 1,
      onBytesOut: (n) => this.publish({ kind: 'sent', bytes: n }),
    });
  }

  /**
   * REPORT_SERVER_ID on a new connection (§5.1), carrying the capability probe (codec.ts): an fdfs
   * peer answers with what it takes, a C storage with its usual empty answer. So a C peer is known
   * before anything it would not understand is sent, at no cost to it (no extra request, no log
   * line), and an fdfs peer replaced by a C storage on the same address (or back) is noticed at
   * the next connection.
   */
  private async introduce(ch: SyncChannel): Promise<void> {
    const r = await ch.call(CMD.REPORT_SERVER_ID, encodeReportServerId(this.env.ownId()), { status: SYNC_CAPS_PROBE_STATUS });
    if (r.status !== 0) throw new FdfsError(r.status, `REPORT_SERVER_ID refused by ${this.address}`);
    const caps = decodeSyncCaps(r.body);
    if (caps !== this.peerCaps) {
      this.log('info', caps === 0
        ? `peer ${this.peer.id} at ${this.address} is a FastDFS storage (or an fdfs without sync extensions): one sync request at a time, no watermarks`
        : `peer ${this.peer.id} at ${this.address} is an fdfs storage: up to ${this.env.window} sync requests in flight per connection`);
    }
    this.rules.peerCaps = caps;
    this.watermarks.announced((caps & SYNC_CAP.WATERMARK) !== 0);
    ch.setWindow((caps & SYNC_CAP.PIPELINE) !== 0 ? this.env.window : 1);
  }

  /**
   * Connection `i` of this session. Unlike 6.16 (§5.10), every extra connection also sends
   * REPORT_SERVER_ID, so the peer credits what arrives on it to us in its SYNC_REPORT.
   */
  private async lane(i: number): Promise<SyncChannel> {
    const have = this.lanes[i];
    if (have) {
      if (have.broken) throw have.broken;
      return have;
    }
    const ch = await this.openChannel();
    this.lanes[i] = ch;
    await this.introduce(ch);
    return ch;
  }

  private brokenLane(): FdfsError | null {
    for (const c of this.lanes) if (c?.broken) return c.broken;
    return null;
  }

  private noteFailure(e: FdfsError, what: string): void {
    this.lastFailure = e;
    // Once per distinct error, as the C storage logs connect failures.
    const key = `${what}:${e.code}`;
    // A peer stopping or restarting closes or refuses connections: worth a line, not a warning.
    const routine = e.errno === ERRNO.ENOTCONN || e.errno === ERRNO.ECONNREFUSED || e.errno === ERRNO.ECONNRESET;
    this.log(key === this.lastError ? 'debug' : routine ? 'info' : 'warn', `${what}: ${e.message}`);
    this.lastError = key;
    this.publish({ kind: 'error', status: e.errno || ERRNO.EIO, detail: `${what}: ${e.message}` });
  }

  private async session(ch: SyncChannel): Promise<void> {
    this.sessionError = null;
    this.rules.peerHasFiles = false;
    this.watermarks.startSession();
    const mark = await this.marks.open(this.peer);

    // §5.10 step 6: REPORT_SERVER_ID first, so the peer attributes our records in its 89.
    await this.introduce(ch);
    if (this.lastError) this.log('info', `syncing to ${this.peer.id} at ${this.address} again`);
    this.lastError = '';

    if (mark.needSyncOld && !mark.syncOldDone && this.peer.status === ST.WAIT_SYNC) {
      this.log('info', `copying old files to new member ${this.peer.id} (records up to ${mark.untilTimestamp})`);
      await this.reportPeer(ST.SYNCING);
    }
    if (mark.needSyncOld && mark.syncOldDone && (this.peer.status === ST.WAIT_SYNC || this.peer.status === ST.SYNCING)) {
      // Finished before a crash or a failed report: the trackers still wait for the OFFLINE.
      this.offlinePending = true;
    }
    await this.pushLoop(ch, mark);
  }

  private async reportPeer(status: number): Promise<boolean> {
    const ok = await this.env.reportPeerStatus(this.peer, status);
    if (!ok) this.log('warn', `no tracker took the status ${storageStatusName(status)} of ${this.peer.id}; will retry`);
    return ok;
  }

  private async firstLineFrom(ts: number): Promise<BinlogPosition> {
    const reader = this.newReader({ index: 0, offset: 0 });
    try {
      for (;;) {
        const item = await reader.next();
        if (item.kind === 'eof') return reader.position;
        if (item.kind === 'record' && item.record.timestamp >= ts) return item.start;
      }
    } finally {
      await reader.close();
    }
  }

  private newReader(start: BinlogPosition): BinlogReader {
    const binlog = this.env.ctx.binlog;
    return new BinlogReader({ dir: binlog.dir, currentIndex: () => binlog.position().index, start });
  }

  // ---------------------------------------------------------------- push loop (§5.10 step 7)

  private async pushLoop(ch: SyncChannel, mark: SyncMark): Promise<void> {
    const reader = this.newReader({ index: mark.binlogIndex, offset: mark.binlogOffset });
    try {
      while (!this.stopped && !this.sessionError) {
        if (!pushable(this.peer.status) || !this.env.inWindow(new Date())) break;
        const broken = this.brokenLane();
        if (broken) throw broken;
        const item = await reader.next();
        if (item.kind === 'eof') {
          await this.settled();
          if (this.sessionError || this.stopped) break;
          const broken = this.brokenLane();
          if (broken) throw broken;
          this.setCaughtUp(true);
          await this.caughtUp(ch, mark, item.checkedAt);
          await this.idle(ch);
          continue;
        }
        if (item.kind === 'invalid') {
          if (item.skippable || this.env.skipInvalid) {
            this.log('warn', `binlog ${item.start.index}:${item.start.offset}: skipping ${item.reason}: ${JSON.stringify(item.line.slice(0, 80))}`);
            this.marks.passed(item.end);
            continue;
          }
          // §5.10: stop at the line and retry later, forever, unless file_sync_skip_invalid_record.
          await this.settled();
          this.log('error', `binlog ${item.start.index}:${item.start.offset}: ${item.reason}: ${JSON.stringify(item.line.slice(0, 80))}; `
            + 'sync to ' + this.peer.id + ' stops here (set file_sync_skip_invalid_record = true to skip it)');
          await this.pause.sleep(5000);
          throw new FdfsError('EINVAL', `unparsable binlog line at ${item.start.index}:${item.start.offset}`);
        }
        mark.scanRowCount++;
        const rec = item.record;
        if (!wouldPush(rec, mark)) {
          this.marks.passed(item.end);
          continue;
        }
        this.setCaughtUp(false);
        if (conflicting(rec)) {
          // Two names: everything before it must be done, and it before anything after it
          // (§5.10 "conflicting" records; one at a time on the main connection).
          await this.settled();
          if (this.sessionError) break;
          await ch.room();
          await this.dispatch(ch, rec, item.end);
          await this.settled();
        } else {
          const lane = await this.lane(laneOf(rec.name, this.env.lanes));
          await lane.room();
          await this.dispatch(lane, rec, item.end);
        }
        if (this.env.intervalMs > 0) await this.pause.sleep(this.env.intervalMs);
      }
      await this.settled();
    } finally {
      await reader.close();
    }
    if (this.sessionError) throw this.sessionError;
  }

  /**
   * How far the peer is behind (FDFS_SYNC_STATUS, backlog.ts). Before the first session the mark
   * file (or, without one, the start of the binlog) is the position.
   */
  async behind(scanLimit = BEHIND_SCAN_LIMIT): Promise<{ records: number; bytes: number }> {
    const binlog = this.env.ctx.binlog;
    const m = await this.marks.peek(this.peer);
    return countBacklog({
      dir: binlog.dir, start: { index: m.binlogIndex, offset: m.binlogOffset }, end: binlog.position(),
      newReader: (start) => this.newReader(start), wouldPush: (r) => wouldPush(r, m), scanLimit,
    });
  }

  /** Push one record; returns once its requests are queued (in order), completion is tracked. */
  private async dispatch(ch: SyncChannel, rec: BinlogRecord, end: BinlogPosition): Promise<void> {
    const entry = this.marks.track(end);
    this.pending++;
    let queued!: () => void;
    const sent = new Promise<void>((r) => { queued = r; });
    const started = performance.now();
    const done = pushRecord(ch, rec, this.planContext, queued).then(
      (bytes) => {
        this.publish({ kind: 'pushed', op: rec.op, status: 0, bytes, records: 1, durationMs: performance.now() - started });
        this.pushedRecords++;
        this.lastPushedTimestamp = rec.timestamp;
        this.watermarks.pushed(rec.timestamp);
        this.marks.finished(entry);
      },
      (err) => {
        const e = toFdfsError(err, this.address);
        this.publish({ kind: 'pushed', op: rec.op, status: e.errno || ERRNO.EIO, bytes: 0, records: 1, durationMs: performance.now() - started, detail: e.message });
        this.sessionError ??= e;
        this.log('debug', `push of ${rec.op} ${rec.name} to ${this.peer.id} failed: ${e.message}`);
      },
    ).finally(() => {
      queued();
      this.pending--;
      if (this.pending === 0) this.wakeSettled();
    });
    await Promise.race([sent, done]);
  }

  private setCaughtUp(v: boolean): void {
    if (this.caughtUpState === v) return;
    this.caughtUpState = v;
    this.publish({ kind: 'state', caughtUp: v, detail: v ? 'caught up' : 'behind' });
  }

  /** Replication events (lib/util/events.ts SyncEvent), sourced by the storage's context like its I/O events. */
  private publish(e: Omit<SyncEvent, 'source' | 'peer'>): void {
    if (syncChannel.hasSubscribers) syncChannel.publish({ source: this.env.ctx, peer: this.peer.id, ...e } satisfies SyncEvent);
  }

  private settled(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.settledWaiters.push(r));
  }

  private wakeSettled(): void {
    const list = this.settledWaiters;
    this.settledWaiters = [];
    for (const r of list) r();
  }

  /** Everything up to the end of the binlog is at the peer. */
  private async caughtUp(ch: SyncChannel, m: SyncMark, checkedAt: number): Promise<void> {
    if (m.needSyncOld && !m.syncOldDone) {
      // §5.9: the old-data copy ends when the reader first reaches the end of the binlog.
      await this.marks.oldCopyDone();
      this.log('info', `old files copied to ${this.peer.id}`);
      if (this.peer.status === ST.WAIT_SYNC || this.peer.status === ST.SYNCING) this.offlinePending = true;
    }
    if (this.offlinePending && Date.now() - this.offlineTriedAt >= 5000) {
      // §4.10/§8.5: OFFLINE tells the trackers the copy is done; the peer's next beat makes it ACTIVE.
      this.offlineTriedAt = Date.now();
      if (await this.reportPeer(ST.OFFLINE)) {
        this.offlinePending = false;
        this.env.onOldCopyDone?.(this.peer);
      }
    }
    await this.sendWatermark(ch, checkedAt);
    this.marks.saveWhenIdle();
  }

  private async sendWatermark(ch: SyncChannel, checkedAt: number): Promise<void> {
    const x = this.watermarks.next(checkedAt);
    if (x === null) return;
    const r = await ch.call(CMD.FDFS_SYNC_WATERMARK, encodeSyncWatermark(x));
    if (r.status === 0) {
      this.log('debug', `sync watermark ${x} sent to ${this.peer.id}`);
      this.watermarks.accepted(x);
      return;
    }
    if (r.status === ERRNO.EINVAL) {
      // It announced the extension and still refused it as unknown (and closed, as C does after
      // an EINVAL): never again with this peer.
      this.watermarks.refuse();
      this.log('info', `peer ${this.peer.id} does not take sync watermarks (a FastDFS storage); its download routing waits for the trackers' usual rules`);
      throw new FdfsError('ENOTCONN', 'peer closed after an unknown command');
    }
    this.log('debug', `watermark refused by ${this.peer.id}: ${errnoName(r.status)}`);
  }

  /** Nothing to push: wait for new lines, keep the connection alive (§5.10 ACTIVE_TEST). */
  private async idle(ch: SyncChannel): Promise<void> {
    const now = Date.now();
    const testAt = ch.lastActivity + this.env.heartBeatMs;
    if (now >= testAt) {
      const r = await ch.call(CMD.ACTIVE_TEST, Buffer.alloc(0));
      if (r.status !== 0) throw new FdfsError(r.status, `ACTIVE_TEST refused by ${this.address}`);
      return;
    }
    let until = Math.min(testAt, now + this.env.waitMs);
    const wm = this.watermarks.dueAt();
    if (wm !== null && wm > now) until = Math.min(until, wm);
    if (this.offlinePending) until = Math.min(until, now + 2000);
    if (until > now) await this.linesPause.sleep(until - now);
  }
}
