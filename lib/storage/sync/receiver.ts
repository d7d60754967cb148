import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { writeFileAtomic } from '../binlog.ts';
import type { Logger } from '../../util/log.ts';
import { silentLogger } from '../../util/log.ts';

// The receiving side's sync progress (PROTOCOL.md §4.7, §7.3): per source storage, up to which
// second this storage holds the source's files. The SYNC_REPORT (89) sends these numbers; the
// tracker routes downloads by them (§8.4), so they must never claim a file that is not here yet.

/**
 * A source that never sent a watermark (a FastDFS storage) is credited with the newest record it
 * pushed, as §7.3 says, less one second: binlog timestamps of one source are not monotonic (a
 * record is logged with the file's mtime, a moment after the file was written, so two uploads
 * finishing around a second boundary can be logged in the other order; C also logs metadata one
 * second early, captures/README.md #11). A source that sends watermarks is credited with those
 * only: it pushes on several connections at once, so the newest record applied says nothing about
 * older ones still on their way.
 */
const REORDER_SLACK = 1;

/** File (fdfs private) keeping the numbers across restarts: a restarted storage reporting 0 would make the tracker forget what it knew. */
export const RECEIVED_FILE = 'fdfs_sync_received.dat';

/** Emit 'change' at most this often; the reporter rate-limits the 89 itself (≤ 1/s). */
const CHANGE_EVENT_MS = 10;
const SAVE_MS = 1000;

interface SourceState {
  /** Highest source timestamp of a record applied (or found applied) from it. */
  maxApplied: number;
  /** Highest watermark it sent (FDFS_SYNC_WATERMARK): all its files below it are here. */
  watermark: number;
  /** It sends watermarks (an fdfs storage). */
  sendsWatermarks: boolean;
}

/**
 * Per-source progress, fed by the sync handlers. Emits 'change' (throttled) when a reported value
 * moved. Also hands out temp file names for incoming files (`data/.cp<seq>.tmp`, §5.2).
 */
export class SyncReceiver extends EventEmitter {
  private readonly file: string | null;
  private readonly log: Logger;
  private readonly sources = new Map<string, SourceState>();
  private changeTimer: NodeJS.Timeout | null = null;
  private saveTimer: NodeJS.Timeout | null = null;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private seq: number;

  /** `dir` = `<base_path>/data/sync` (null: keep nothing on disk, for tests). */
  constructor(dir: string | null, log: Logger = silentLogger) {
    super();
    this.file = dir ? path.join(dir, RECEIVED_FILE) : null;
    this.log = log;
    // Unique across restarts as well, although start-up removes leftovers.
    this.seq = (Date.now() % 1_000_000) * 1000 + (process.pid % 1000);
  }

  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await fs.readFile(this.file, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const line of text.split('\n')) {
      // `<id>=<ts>`, or `<id>=<ts>:w` for a source that sends watermarks.
      const m = /^([^=\s]+)=(\d+)(:w)?$/.exec(line.trim());
      if (!m) continue;
      const ts = Number(m[2]);
      this.sources.set(m[1]!, m[3] ? { maxApplied: 0, watermark: ts, sendsWatermarks: true }
        : { maxApplied: ts + REORDER_SLACK, watermark: 0, sendsWatermarks: false });
    }
  }

  /** What this storage reports for `sourceId` (0 = nothing known). */
  reported(sourceId: string): number {
    const s = this.sources.get(sourceId);
    if (!s) return 0;
    return s.sendsWatermarks ? s.watermark : Math.max(s.maxApplied - REORDER_SLACK, 0);
  }

  /** Every source with a non-zero figure. */
  timestamps(): Map<string, number> {
    const out = new Map<string, number>();
    for (const id of this.sources.keys()) {
      const v = this.reported(id);
      if (v > 0) out.set(id, v);
    }
    return out;
  }

  /**
   * A sync record from `sourceId` was applied, or found already applied (EEXIST counts, §7.3).
   * Records on a connection that never sent REPORT_SERVER_ID are not attributed (§4.7).
   */
  applied(sourceId: string | undefined, timestamp: number): void {
    if (!sourceId || !(timestamp > 0)) return;
    const s = this.state(sourceId);
    if (timestamp <= s.maxApplied) return;
    const before = this.reported(sourceId);
    s.maxApplied = timestamp;
    if (this.reported(sourceId) !== before) this.changed();
  }

  /** FDFS_SYNC_WATERMARK from `sourceId`. */
  watermark(sourceId: string, timestamp: number): void {
    const s = this.state(sourceId);
    if (timestamp <= s.watermark && s.sendsWatermarks) return;
    const before = this.reported(sourceId);
    s.sendsWatermarks = true;
    s.watermark = Math.max(s.watermark, timestamp);
    if (this.reported(sourceId) !== before) this.changed();
  }

  /**
   * A peer introduced itself on a sync connection (REPORT_SERVER_ID). Emits 'hello' (id): a peer
   * this storage does not know as ACTIVE may be a new member it should start copying to.
   */
  hello(sourceId: string): void {
    this.emit('hello', sourceId);
  }

  /** A deleted peer: its numbers mean nothing for a storage that may re-join under its id. */
  forget(sourceId: string): void {
    if (this.sources.delete(sourceId)) this.changed();
  }

  /** Write the numbers now (also on stop). */
  async save(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    if (!this.file || !this.dirty) return this.saving;
    this.dirty = false;
    const lines = [...this.sources].map(([id, st]) => `${id}=${this.reported(id)}${st.sendsWatermarks ? ':w' : ''}\n`).join('');
    const file = this.file;
    this.saving = this.saving.then(() => writeFileAtomic(file, lines, false)).catch((err: Error) => {
      this.log('warn', `cannot write ${file}: ${err.message}`);
    });
    return this.saving;
  }

  async close(): Promise<void> {
    if (this.changeTimer) clearTimeout(this.changeTimer);
    this.changeTimer = null;
    await this.save();
  }

  private state(id: string): SourceState {
    let s = this.sources.get(id);
    if (!s) this.sources.set(id, s = { maxApplied: 0, watermark: 0, sendsWatermarks: false });
    return s;
  }

  private changed(): void {
    this.dirty = true;
    if (!this.changeTimer) {
      this.changeTimer = setTimeout(() => {
        this.changeTimer = null;
        this.emit('change', this.timestamps());
      }, CHANGE_EVENT_MS);
    }
    if (this.file && !this.saveTimer) {
      this.saveTimer = setTimeout(() => { void this.save(); }, SAVE_MS);
      this.saveTimer.unref();
    }
  }
}
