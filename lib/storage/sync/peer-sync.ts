import { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CMD, GROUP_NAME_LEN, STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import { ERRNO, FdfsError, errnoName, toFdfsError } from '../../protocol/errno.ts';
import { fixed, readI64 } from '../../protocol/fields.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import type { SyncSource } from '../../protocol/storage-tracker.ts';
import { syncChannel, type SyncEvent } from '../../util/events.ts';
import type { Logger } from '../../util/log.ts';
import { binlogFileName, type BinlogPosition, type BinlogRecord } from '../binlog.ts';
import type { StorageContext } from '../context.ts';
import { locate, logicNameOfPath } from '../handlers/common.ts';
import { BinlogReader } from './binlog-reader.ts';
import {
  SYNC_CAP, SYNC_CAPS_PROBE_STATUS, SYNC_NO_CONTENT_STATUS, decodeSyncCaps, encodeReportServerId, encodeSyncDelete,
  encodeSyncFile, encodeSyncPair, encodeSyncRange, encodeSyncWatermark,
} from './codec.ts';
import { markFileName, newMark, readMark, writeMark, type SyncMark } from './mark-file.ts';
import { SyncChannel, type ContentSource, type SyncReply } from './sync-channel.ts';

// One sync reader per peer (PROTOCOL.md §5.9, §5.10): it follows this storage's binlog from the
// peer's mark and pushes every record the peer needs (§5.7) with the sender rules of §5.2–§5.6.
// Records are pipelined on one connection (see sync-channel.ts), in binlog order, when the peer is
// an fdfs storage that said it takes that; a C storage gets one request at a time and none of the
// fdfs extensions (capabilities: REPORT_SERVER_ID probe, codec.ts).

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

/**
 * §8.4 routes a download to a replica once it reports a sync timestamp above the file's. A file's
 * binlog line is written a moment after its mtime; with this much margin a watermark never covers
 * a file whose line might still be on its way into the binlog.
 */
export const WATERMARK_GUARD_MS = 500;

/**
 * Content up to this size is read when its record is dispatched: the size announced is then the
 * size sent even when an appender file changes meanwhile, and a page-cache read this small costs
 * less done synchronously than through the thread pool. Larger files stream from disk.
 */
const SNAPSHOT_MAX = 256 * 1024;

/** One more byte than SNAPSHOT_MAX: a read that fills it means "large file". */
const scratch = Buffer.allocUnsafe(SNAPSHOT_MAX + 1);

interface Snapshot {
  size: number;
  content: ContentSource;
}

/**
 * Bytes [offset, offset + length) of a regular file (length undefined: to its end), or null when
 * it is missing, not a regular file, or (for a range) shorter than the range.
 */
function snapshot(p: string, offset = 0, length?: number): Snapshot | null {
  let fd: number;
  try {
    fd = fsSync.openSync(p, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    throw err;
  }
  try {
    if (length === undefined) {
      // Whole file: one read into a scratch buffer tells a small file's size without an fstat.
      let n = 0;
      for (;;) {
        const want = scratch.length - n;
        const r = fsSync.readSync(fd, scratch, n, want, n);
        n += r;
        // A short read of a regular file is its end: no second call to learn it.
        if (r < want) break;
        if (n === scratch.length) break;
      }
      if (n <= SNAPSHOT_MAX) {
        const data = Buffer.from(scratch.subarray(0, n));
        return { size: n, content: { data, length: n } };
      }
      const st = fsSync.fstatSync(fd);
      return { size: st.size, content: { path: p, offset: 0, length: st.size } };
    }
    if (length > SNAPSHOT_MAX) {
      const st = fsSync.fstatSync(fd);
      return offset + length > st.size ? null : { size: length, content: { path: p, offset, length } };
    }
    const buf = Buffer.allocUnsafe(length);
    let n = 0;
    while (n < length) {
      const r = fsSync.readSync(fd, buf, n, length - n, offset + n);
      if (r === 0) return null;
      n += r;
    }
    return { size: length, content: { data: buf, length } };
  } catch (err) {
    // A directory under a file's name, or an I/O error: nothing we can send.
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') return null;
    throw err;
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Statuses a reader pushes to (§5.10 step 4; see pushable()). */
function pushable(status: number): boolean {
  // Deviation from C (which waits for ACTIVE, or SYNCING when it is the source): records also go
  // to a peer that is ONLINE/OFFLINE/WAIT_SYNC but reachable. That is harmless (the receiver rules
  // make every push idempotent) and lets a restarted or new member catch up before the trackers
  // list it ACTIVE, instead of up to one heartbeat later.
  return status === ST.ACTIVE || status === ST.SYNCING || status === ST.WAIT_SYNC || status === ST.ONLINE || status === ST.OFFLINE;
}

/** Binlog bytes past a peer's mark that FDFS_SYNC_STATUS reads to count records at most. */
export const BEHIND_SCAN_LIMIT = 64 * 1024 * 1024;

/** Size of binlog.<index> (a gzipped one counts as its compressed size; 0 when missing). */
async function binlogFileSize(dir: string, index: number): Promise<number> {
  const file = path.join(dir, binlogFileName(index));
  for (const f of [file, `${file}.gz`]) {
    try {
      return (await fs.stat(f)).size;
    } catch { /* next */ }
  }
  return 0;
}

function isUpper(op: string): boolean {
  return op >= 'A' && op <= 'Z';
}

interface Entry {
  end: BinlogPosition;
  done: boolean;
}

/** A wakeable pause. A wake while nobody sleeps is kept, so the next sleep returns at once. */
class Pause {
  private wakeFn: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending = false;

  sleep(ms: number): Promise<void> {
    this.release();
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeFn = resolve;
      this.timer = setTimeout(() => this.release(), Math.max(0, ms));
    });
  }

  wake(): void {
    if (this.wakeFn) this.release();
    else this.pending = true;
  }

  private release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.wakeFn;
    this.wakeFn = null;
    w?.();
  }
}

export class PeerSync {
  peer: SyncPeer;
  private readonly env: SyncEnv;
  private readonly log: Logger;
  private mark: SyncMark | null = null;
  private markFile = '';
  private markWrites: Promise<void> = Promise.resolve();
  private pushedSinceMark = 0;
  private lastMarkWrite = 0;
  private markDirty = false;
  private stopped = false;
  private loop: Promise<void> | null = null;
  /** Pauses that status changes and stop() cut short. */
  private readonly pause = new Pause();
  /** The idle wait for new binlog lines (also cut short by status changes and stop()). */
  private readonly linesPause = new Pause();
  /** This session's connections: 0 is the main one, the others are opened on first use. */
  private lanes: Array<SyncChannel | null> = [];
  /** Entries in binlog order; the mark moves over the done prefix. */
  private entries: Entry[] = [];
  private pending = 0;
  private settledWaiters: Array<() => void> = [];
  private sessionError: FdfsError | null = null;
  /** §5.2: after an EEXIST, ask the peer before sending a file again. */
  private peerHasFiles = false;
  /** FDFS_SYNC_WATERMARK: whether the peer announced it (false for a C peer); undefined before the first session. */
  private watermarkOk: boolean | undefined;
  /** SYNC_CAP bits the peer announced in its answer to REPORT_SERVER_ID (0: a C storage), null before the first answer. */
  peerCaps: number | null = null;
  /** The peer announced watermarks and then refused one: not sent again while this process runs. */
  private watermarkRefused = false;
  private sentWatermark = 0;
  private watermarkSentAt = 0;
  /** Lowest timestamp of a record pushed and not yet covered by a watermark. */
  private uncoveredMin = Infinity;
  private maxPushedTs = 0;
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
  }

  get address(): string { return `${this.peer.ip}:${this.peer.port}`; }
  /** Current position and flags (null before the first session). */
  get markState(): Readonly<SyncMark> | null { return this.mark; }

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
        await this.saveMark();
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
    this.peerCaps = caps;
    this.watermarkOk = (caps & SYNC_CAP.WATERMARK) !== 0 && !this.watermarkRefused;
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

  /** Which connection carries a record: all records about one file go on the same one, in order. */
  private laneOf(name: string): number {
    const n = this.env.lanes;
    if (n <= 1) return 0;
    // A metadata file goes with its data file.
    const key = name.endsWith('-m') ? name.slice(0, -2) : name;
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return (h >>> 0) % n;
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
    this.entries = [];
    this.peerHasFiles = false;
    this.sentWatermark = 0;
    this.maxPushedTs = 0;
    this.uncoveredMin = Infinity;
    await this.openMark();
    const mark = this.mark!;

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
    await this.pushLoop(ch);
  }

  private async reportPeer(status: number): Promise<boolean> {
    const ok = await this.env.reportPeerStatus(this.peer, status);
    if (!ok) this.log('warn', `no tracker took the status ${storageStatusName(status)} of ${this.peer.id}; will retry`);
    return ok;
  }

  // ---------------------------------------------------------------- mark file (§5.9)

  private async openMark(): Promise<void> {
    const file = path.join(this.env.syncDir, markFileName(this.peer, this.env.useStorageId(), this.env.ownPort()));
    if (file !== this.markFile) this.mark = null;
    this.markFile = file;
    let m = this.mark ?? await readMark(file);
    const status = this.peer.status;
    if (!m || status === ST.WAIT_SYNC) {
      // §5.9: no mark yet, or the peer (again) waits for its old data: ask who copies it.
      const src = await this.env.askSyncSource(this.peer.id);
      const mine = src !== null && src.srcId === this.env.ownId();
      if (!m) {
        m = newMark();
        m.needSyncOld = mine;
        m.untilTimestamp = src?.until ?? 0;
        if (!mine && m.untilTimestamp > 0) {
          // The source copies everything older; start at the first line from that second on
          // (less a second for lines logged out of order).
          const at = await this.firstLineFrom(m.untilTimestamp - 1);
          m.binlogIndex = at.index;
          m.binlogOffset = at.offset;
        }
        this.log('info', `new sync peer ${this.peer.id} (${storageStatusName(status)}): ${mine ? 'this storage copies its old files'
          : m.untilTimestamp > 0 ? `records from ${m.untilTimestamp} on` : 'the whole binlog'}`);
      } else if (mine && !(m.needSyncOld && !m.syncOldDone)) {
        // It restarts its initial sync from us: copy everything again.
        this.log('info', `peer ${this.peer.id} waits for its old files again: copying from the start of the binlog`);
        m = { ...newMark(), needSyncOld: true, untilTimestamp: src!.until };
      }
      this.mark = m;
      this.markDirty = true;
      await this.saveMark();
    }
    this.mark = m;
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

  private saveMark(): Promise<void> {
    const m = this.mark;
    if (!m || !this.markDirty || !this.markFile) return this.markWrites;
    this.markDirty = false;
    this.pushedSinceMark = 0;
    this.lastMarkWrite = Date.now();
    const snapshot = { ...m };
    const file = this.markFile;
    this.markWrites = this.markWrites.then(() => writeMark(file, snapshot)).catch((err: Error) => {
      this.markDirty = true;
      this.log('warn', `cannot write ${file}: ${err.message}`);
    });
    return this.markWrites;
  }

  // ---------------------------------------------------------------- push loop (§5.10 step 7)

  private async pushLoop(ch: SyncChannel): Promise<void> {
    const mark = this.mark!;
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
          await this.caughtUp(ch, item.checkedAt);
          await this.idle(ch);
          continue;
        }
        if (item.kind === 'invalid') {
          if (item.skippable || this.env.skipInvalid) {
            this.log('warn', `binlog ${item.start.index}:${item.start.offset}: skipping ${item.reason}: ${JSON.stringify(item.line.slice(0, 80))}`);
            this.doneEntry(item.end);
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
        if (!this.needsPush(rec)) {
          this.doneEntry(item.end);
          continue;
        }
        this.setCaughtUp(false);
        if (rec.op === 'L' || rec.op === 'l' || rec.op === 'R') {
          // Two names: everything before it must be done, and it before anything after it
          // (§5.10 "conflicting" records; one at a time on the main connection).
          await this.settled();
          if (this.sessionError) break;
          await ch.room();
          await this.dispatch(ch, rec, item.end);
          await this.settled();
        } else {
          const lane = await this.lane(this.laneOf(rec.name));
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
   * How far the peer is behind (FDFS_SYNC_STATUS, lib/protocol/sync-status.ts): binlog bytes from
   * its mark to the end of the binlog, and the records among them this reader would push (§5.7),
   * counted over at most `scanLimit` bytes (a count at the cap is a lower bound). Before the first
   * session the mark file (or, without one, the start of the binlog) is the position.
   */
  async behind(scanLimit = BEHIND_SCAN_LIMIT): Promise<{ records: number; bytes: number }> {
    const binlog = this.env.ctx.binlog;
    const m = this.mark
      ?? await readMark(path.join(this.env.syncDir, markFileName(this.peer, this.env.useStorageId(), this.env.ownPort()))).catch(() => null)
      ?? newMark();
    const start: BinlogPosition = { index: m.binlogIndex, offset: m.binlogOffset };
    const end = binlog.position();
    let bytes = 0;
    if (start.index >= end.index) {
      bytes = start.index === end.index ? Math.max(0, end.offset - start.offset) : 0;
    } else {
      for (let i = start.index; i < end.index; i++) {
        const size = await binlogFileSize(binlog.dir, i);
        bytes += i === start.index ? Math.max(0, size - start.offset) : size;
      }
      bytes += end.offset;
    }
    if (bytes === 0) return { records: 0, bytes: 0 };
    let records = 0;
    let scanned = 0;
    const reader = this.newReader(start);
    try {
      while (scanned < scanLimit) {
        const item = await reader.next();
        if (item.kind === 'eof') break;
        if (item.end.index === item.start.index) scanned += item.end.offset - item.start.offset;
        else scanned += item.end.offset;
        // Stop at the end seen at the start: lines appended meanwhile are not counted.
        if (item.start.index > end.index || (item.start.index === end.index && item.start.offset >= end.offset)) break;
        if (item.kind === 'record' && this.wouldPush(item.record, m)) records++;
      }
    } finally {
      await reader.close();
    }
    return { records, bytes };
  }

  /** §5.7: which records this peer gets. */
  private needsPush(r: BinlogRecord): boolean {
    return this.wouldPush(r, this.mark!);
  }

  private wouldPush(r: BinlogRecord, m: Readonly<SyncMark>): boolean {
    if (isUpper(r.op)) return true;
    // Replicas (lower case) only while copying old data to a new member, up to its `until`.
    return 'cdulr'.includes(r.op) && m.needSyncOld && !m.syncOldDone && r.timestamp <= m.untilTimestamp;
  }

  /** Push one record; returns once its requests are queued (in order), completion is tracked. */
  private async dispatch(ch: SyncChannel, rec: BinlogRecord, end: BinlogPosition): Promise<void> {
    const entry: Entry = { end, done: false };
    this.entries.push(entry);
    this.pending++;
    let queued!: () => void;
    const sent = new Promise<void>((r) => { queued = r; });
    const started = performance.now();
    const done = this.push(ch, rec, queued).then(
      (bytes) => {
        this.publish({ kind: 'pushed', op: rec.op, status: 0, bytes, records: 1, durationMs: performance.now() - started });
        entry.done = true;
        this.pushedRecords++;
        this.pushedSinceMark++;
        this.lastPushedTimestamp = rec.timestamp;
        if (rec.timestamp > this.maxPushedTs) this.maxPushedTs = rec.timestamp;
        if (rec.timestamp >= this.sentWatermark && rec.timestamp < this.uncoveredMin) this.uncoveredMin = rec.timestamp;
        this.mark!.syncRowCount++;
        this.advance();
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

  private doneEntry(end: BinlogPosition): void {
    this.entries.push({ end, done: true });
    this.advance();
  }

  /** Move the mark over the done prefix (a failed record stops it: it is retried next session). */
  private advance(): void {
    const m = this.mark!;
    let moved = false;
    while (this.entries.length > 0 && this.entries[0]!.done) {
      const e = this.entries.shift()!;
      m.binlogIndex = e.end.index;
      m.binlogOffset = e.end.offset;
      moved = true;
    }
    if (!moved) return;
    this.markDirty = true;
    if (this.pushedSinceMark >= this.env.markFreq) void this.saveMark();
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
  private async caughtUp(ch: SyncChannel, checkedAt: number): Promise<void> {
    const m = this.mark!;
    if (m.needSyncOld && !m.syncOldDone) {
      // §5.9: the old-data copy ends when the reader first reaches the end of the binlog.
      m.syncOldDone = true;
      this.markDirty = true;
      await this.saveMark();
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
    // §5.9 "when idle", but at most once a second: a mark a little behind only means re-pushes.
    if (this.markDirty && Date.now() - this.lastMarkWrite >= 1000) void this.saveMark();
  }

  /** The watermark a reader at the end of the binlog (checked at `checkedAt`) may claim. */
  private watermarkAt(checkedAt: number): number {
    return Math.floor((checkedAt - WATERMARK_GUARD_MS) / 1000);
  }

  /** When a watermark covering every record pushed so far can go, or null when none is needed. */
  private watermarkDueAt(): number | null {
    if (!this.watermarkOk) return null;
    if (this.sentWatermark > this.maxPushedTs) return null;
    // It covers a record of second T once it reaches T + 1.
    return (this.maxPushedTs + 1) * 1000 + WATERMARK_GUARD_MS;
  }

  private async sendWatermark(ch: SyncChannel, checkedAt: number): Promise<void> {
    if (!this.watermarkOk) return;
    const x = this.watermarkAt(checkedAt);
    // The first one of a session goes at once (the tracker keeps a 0 for a source that never
    // reported). Later ones go when they cover every record pushed, or — under a steady stream of
    // records, where that never happens — once a second: the receiver reports once a second anyway.
    if (x <= this.sentWatermark) return;
    if (this.sentWatermark > 0) {
      // The last one already covers every record pushed: nothing new to tell.
      if (this.sentWatermark > this.maxPushedTs) return;
      // A partial one must cover a pushed record, and goes at most once a second: spent on
      // nothing, it would delay the receiver's report of the full one by a second.
      if (x <= this.maxPushedTs && (x <= this.uncoveredMin || Date.now() - this.watermarkSentAt < 1000)) return;
    }
    const r = await ch.call(CMD.FDFS_SYNC_WATERMARK, encodeSyncWatermark(x));
    if (r.status === 0) {
      this.log('debug', `sync watermark ${x} sent to ${this.peer.id}`);
      this.watermarkOk = true;
      this.sentWatermark = x;
      this.watermarkSentAt = Date.now();
      // What stays uncovered has a timestamp of x or more (a lower bound is enough).
      this.uncoveredMin = this.maxPushedTs >= x ? x : Infinity;
      return;
    }
    if (r.status === ERRNO.EINVAL) {
      // It announced the extension and still refused it as unknown (and closed, as C does after
      // an EINVAL): never again with this peer.
      this.watermarkOk = false;
      this.watermarkRefused = true;
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
    const wm = this.watermarkDueAt();
    if (wm !== null && wm > now) until = Math.min(until, wm);
    if (this.offlinePending) until = Math.min(until, now + 2000);
    if (until > now) await this.linesPause.sleep(until - now);
  }

  // ---------------------------------------------------------------- sender rules (§5.2–§5.6)

  private get group(): string { return this.env.ctx.groupName; }

  /** Physical path of a logic name of our binlog, or null (bad name: nothing to push). */
  private localPath(name: string): string | null {
    try {
      return locate(this.env.ctx, name).path;
    } catch (err) {
      if (err instanceof FdfsError && err.code === 'EINVAL') this.log('warn', `binlog names an invalid file ${JSON.stringify(name)}; not synced`);
      return null;
    }
  }

  /** Push one record; resolves to the content bytes the peer took (success_sync_out_bytes). */
  private async push(ch: SyncChannel, r: BinlogRecord, queued: () => void): Promise<number> {
    switch (r.op) {
      case 'C': case 'c': case 'r':
        // §5.6: replica renames travel as a create of the new name.
        return this.pushCreate(ch, r.name, r.timestamp, queued);
      case 'U': case 'u':
        return this.pushWhole(ch, r.name, r.timestamp, queued);
      case 'D': case 'd':
        return this.pushDelete(ch, r.name, r.timestamp, queued);
      case 'A': case 'M':
        return this.pushRange(ch, r, queued);
      case 'T':
        return this.pushTruncate(ch, r, queued);
      case 'L': case 'l':
        return this.pushLink(ch, r, queued);
      case 'R':
        return this.pushRename(ch, r, queued);
      default:
        queued();
        return 0;
    }
  }

  private async fileStat(p: string): Promise<import('node:fs').Stats | null> {
    try {
      const st = await fs.stat(p);
      return st.isFile() ? st : null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw err;
    }
  }

  private fail(reply: SyncReply, what: string, name: string): never {
    throw new FdfsError(reply.status, `${what} refused by ${this.address}`, { subject: name });
  }

  /** §5.2 CREATE: skipped when the file is gone here; after an EEXIST ask the peer first. */
  private async pushCreate(ch: SyncChannel, name: string, ts: number, queued: () => void): Promise<number> {
    const p = this.localPath(name);
    const st = p ? snapshot(p) : null;
    if (!p || !st) { queued(); return 0; }
    let cmd: number = CMD.SYNC_CREATE_FILE;
    let noContent = false;
    // Only for names our QUERY_FILE_INFO decodes: others would get EINVAL, which closes the connection.
    if (this.peerHasFiles && decodeFileName(name)) {
      const info = await ch.call(CMD.QUERY_FILE_INFO, Buffer.concat([fixed(this.group, GROUP_NAME_LEN), Buffer.from(name, 'latin1')]),
        { status: 1 });
      if (info.status === 0 && info.body.length >= 8) {
        if (readI64(info.body, 0) === st.size) noContent = true;
        else cmd = CMD.SYNC_UPDATE_FILE;
      }
    }
    const size = st.size;
    const q = ch.request(cmd, encodeSyncFile(this.group, name, size, ts),
      noContent ? { status: SYNC_NO_CONTENT_STATUS } : { content: st.content });
    queued();
    const reply = await q.reply;
    if (reply.status === 0) {
      if (cmd === CMD.SYNC_CREATE_FILE) this.peerHasFiles = false;
      return noContent ? 0 : size;
    }
    if (reply.status === ERRNO.EEXIST) {
      this.peerHasFiles = true;
      return 0;
    }
    this.fail(reply, cmd === CMD.SYNC_CREATE_FILE ? 'SYNC_CREATE_FILE' : 'SYNC_UPDATE_FILE', name);
  }

  /** §5.2 UPDATE (and the resync of §5.4): the whole current file. */
  private async pushWhole(ch: SyncChannel, name: string, ts: number, queued: () => void): Promise<number> {
    const p = this.localPath(name);
    const st = p ? snapshot(p) : null;
    if (!p || !st) { queued(); return 0; }
    const q = ch.request(CMD.SYNC_UPDATE_FILE, encodeSyncFile(this.group, name, st.size, ts), { content: st.content });
    queued();
    const reply = await q.reply;
    if (reply.status === 0 || reply.status === ERRNO.EEXIST) return st.size;
    this.fail(reply, 'SYNC_UPDATE_FILE', name);
  }

  /** §5.3: skipped when the file exists here again; ENOENT is success. */
  private async pushDelete(ch: SyncChannel, name: string, ts: number, queued: () => void): Promise<number> {
    const p = this.localPath(name);
    if (!p) { queued(); return 0; }
    try {
      await fs.lstat(p);
      queued();
      return 0;
    } catch { /* gone here too: push the delete */ }
    const q = ch.request(CMD.SYNC_DELETE_FILE, encodeSyncDelete(this.group, name, ts));
    queued();
    const reply = await q.reply;
    if (reply.status === 0 || reply.status === ERRNO.ENOENT) return 0;
    this.fail(reply, 'SYNC_DELETE_FILE', name);
  }

  private numbers(r: BinlogRecord): [number, number] | null {
    const m = /^(\d+) (\d+)$/.exec(r.extra ?? '');
    if (!m) {
      this.log('warn', `binlog record ${r.op} ${r.name} lacks its two numbers (${JSON.stringify(r.extra ?? '')}); not synced`);
      return null;
    }
    return [Number(m[1]), Number(m[2])];
  }

  /**
   * §5.4 APPEND/MODIFY: the bytes are read from the current file. ENOENT from the peer, or a local
   * file already shorter than the range (deviation: C skips the record, which can leave the peer
   * behind), re-send the whole file.
   */
  private async pushRange(ch: SyncChannel, r: BinlogRecord, queued: () => void): Promise<number> {
    const nums = this.numbers(r);
    const p = this.localPath(r.name);
    if (!p || !nums) { queued(); return 0; }
    const [offset, length] = nums;
    const range = snapshot(p, offset, length);
    if (!range) return this.pushWhole(ch, r.name, r.timestamp, queued);
    const cmd = r.op === 'A' ? CMD.SYNC_APPEND_FILE : CMD.SYNC_MODIFY_FILE;
    const q = ch.request(cmd, encodeSyncRange(this.group, r.name, offset, length, r.timestamp), { content: range.content });
    queued();
    const reply = await q.reply;
    if (reply.status === 0) return length;
    if (reply.status === ERRNO.EEXIST) return 0;
    if (reply.status === ERRNO.ENOENT) return this.pushWhole(ch, r.name, r.timestamp, () => {});
    this.fail(reply, r.op === 'A' ? 'SYNC_APPEND_FILE' : 'SYNC_MODIFY_FILE', r.name);
  }

  /**
   * §5.4 TRUNCATE. 6.16 retries an ENOENT forever; we re-send the whole file instead (or count
   * it done when the file is gone here too), so one missing file cannot stall the peer.
   */
  private async pushTruncate(ch: SyncChannel, r: BinlogRecord, queued: () => void): Promise<number> {
    const nums = this.numbers(r);
    const p = this.localPath(r.name);
    const st = p && nums ? await this.fileStat(p) : null;
    if (!p || !nums || !st) { queued(); return 0; }
    const q = ch.request(CMD.SYNC_TRUNCATE_FILE, encodeSyncRange(this.group, r.name, nums[0], nums[1], r.timestamp));
    queued();
    const reply = await q.reply;
    if (reply.status === 0 || reply.status === ERRNO.EEXIST) return 0;
    if (reply.status === ERRNO.ENOENT) return this.pushWhole(ch, r.name, r.timestamp, () => {});
    this.fail(reply, 'SYNC_TRUNCATE_FILE', r.name);
  }

  /**
   * §5.5: target from the record, or from the local link when the record has none. Deviation for
   * a C peer (no capabilities announced): 6.16.1 answers 19 by logging a nameless `l` line that
   * stops every outbound sync of that storage (§5.5) unless it runs with
   * file_sync_skip_invalid_record, so it gets the link as a copy of its target (a create under the
   * link's name: the same bytes for every reader, at the cost of the space of one more file).
   */
  private async pushLink(ch: SyncChannel, r: BinlogRecord, queued: () => void): Promise<number> {
    const p = this.localPath(r.name);
    if (!p) { queued(); return 0; }
    if (this.peerCaps === 0) return this.pushCreate(ch, r.name, r.timestamp, queued);
    let target = r.extra ?? '';
    try {
      const raw = await fs.readlink(p);
      if (!target) target = logicNameOfPath(this.env.ctx, path.resolve(path.dirname(p), raw)) ?? '';
    } catch {
      // The link is gone here (deleted later): nothing to create.
      queued();
      return 0;
    }
    if (!target) {
      this.log('warn', `cannot tell the target of link ${r.name}; not synced`);
      queued();
      return 0;
    }
    const q = ch.request(CMD.SYNC_CREATE_LINK, encodeSyncPair(this.group, r.name, target, r.timestamp));
    queued();
    const reply = await q.reply;
    if (reply.status === 0 || reply.status === ERRNO.ENOENT || reply.status === ERRNO.EEXIST) return 0;
    this.fail(reply, 'SYNC_CREATE_LINK', r.name);
  }

  /** §5.6: EEXIST is done; ENOENT falls back to creating the new name. A body on status 0 (6.16.1's echo) is fine. */
  private async pushRename(ch: SyncChannel, r: BinlogRecord, queued: () => void): Promise<number> {
    if (!r.extra) { queued(); return 0; }
    const q = ch.request(CMD.SYNC_RENAME_FILE, encodeSyncPair(this.group, r.name, r.extra, r.timestamp));
    queued();
    const reply = await q.reply;
    if (reply.status === 0 || reply.status === ERRNO.EEXIST) return 0;
    if (reply.status === ERRNO.ENOENT) return this.pushCreate(ch, r.name, r.timestamp, () => {});
    this.fail(reply, 'SYNC_RENAME_FILE', r.name);
  }
}

