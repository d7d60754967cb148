import path from 'node:path';
import { STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import type { SyncSource } from '../../protocol/storage-tracker.ts';
import type { Logger } from '../../util/log.ts';
import type { BinlogPosition } from '../binlog.ts';
import { markFileName, newMark, readMark, writeMark, type SyncMark } from './mark-file.ts';

// A sync reader's mark (PROTOCOL.md §5.9): where the next record for a peer starts, and whether
// this storage copies the peer's old files. Loaded or created at the start of a session, moved
// over the done prefix of the records dispatched (pipelined records finish out of order across
// connections), and written every write_mark_file_freq records, when idle, and at session end.
// The file format is mark-file.ts.

export interface MarkPeer {
  id: string;
  ip: string;
  status: number;
}

export interface MarkKeeperOptions {
  /** `<base_path>/data/sync`. */
  syncDir: string;
  log: Logger;
  ownId(): string;
  ownPort(): number;
  useStorageId(): boolean;
  /** write_mark_file_freq. */
  markFreq: number;
  /** 86 SYNC_SRC_REQ (§4.9) about the peer. */
  askSyncSource(peerId: string): Promise<SyncSource | null>;
  /** Position of the first binlog line of second `ts` or later (the end when none). */
  firstLineFrom(ts: number): Promise<BinlogPosition>;
}

/** One dispatched record: the mark may pass it once it is done. */
export interface MarkEntry {
  end: BinlogPosition;
  done: boolean;
}

export class MarkKeeper {
  /** Current position and flags (null before the first session). */
  mark: SyncMark | null = null;
  private file = '';
  private writes: Promise<void> = Promise.resolve();
  private dirty = false;
  private lastWrite = 0;
  private doneSinceWrite = 0;
  /** Entries in binlog order; the mark moves over the done prefix. */
  private entries: MarkEntry[] = [];

  constructor(private readonly opts: MarkKeeperOptions) {}

  fileOf(peer: MarkPeer): string {
    return path.join(this.opts.syncDir, markFileName(peer, this.opts.useStorageId(), this.opts.ownPort()));
  }

  /** The mark in use, or (before the first session) the one on disk, or a new one: for counting the backlog. */
  async peek(peer: MarkPeer): Promise<Readonly<SyncMark>> {
    return this.mark ?? await readMark(this.fileOf(peer)).catch(() => null) ?? newMark();
  }

  /** At the start of a session: the mark to read from (§5.9), asking the trackers when the peer needs a sync source. */
  async open(peer: MarkPeer): Promise<SyncMark> {
    this.entries = [];
    const { log } = this.opts;
    const file = this.fileOf(peer);
    if (file !== this.file) this.mark = null;
    this.file = file;
    let m = this.mark ?? await readMark(file);
    const status = peer.status;
    if (!m || status === ST.WAIT_SYNC) {
      // §5.9: no mark yet, or the peer (again) waits for its old data: ask who copies it.
      const src = await this.opts.askSyncSource(peer.id);
      const mine = src !== null && src.srcId === this.opts.ownId();
      if (!m) {
        m = newMark();
        m.needSyncOld = mine;
        m.untilTimestamp = src?.until ?? 0;
        if (!mine && m.untilTimestamp > 0) {
          // The source copies everything older; start at the first line from that second on
          // (less a second for lines logged out of order).
          const at = await this.opts.firstLineFrom(m.untilTimestamp - 1);
          m.binlogIndex = at.index;
          m.binlogOffset = at.offset;
        }
        log('info', `new sync peer ${peer.id} (${storageStatusName(status)}): ${mine ? 'this storage copies its old files'
          : m.untilTimestamp > 0 ? `records from ${m.untilTimestamp} on` : 'the whole binlog'}`);
      } else if (mine && !(m.needSyncOld && !m.syncOldDone)) {
        // It restarts its initial sync from us: copy everything again.
        log('info', `peer ${peer.id} waits for its old files again: copying from the start of the binlog`);
        m = { ...newMark(), needSyncOld: true, untilTimestamp: src!.until };
      }
      this.mark = m;
      this.dirty = true;
      await this.save();
    }
    this.mark = m;
    return m;
  }

  /** A dispatched record, in binlog order. */
  track(end: BinlogPosition): MarkEntry {
    const entry: MarkEntry = { end, done: false };
    this.entries.push(entry);
    return entry;
  }

  /** The peer has the record. */
  finished(entry: MarkEntry): void {
    entry.done = true;
    this.doneSinceWrite++;
    this.mark!.syncRowCount++;
    this.advance();
  }

  /** A line needing no request (not for this peer, or skipped). */
  passed(end: BinlogPosition): void {
    this.entries.push({ end, done: true });
    this.advance();
  }

  /** §5.9: the old-data copy ends when the reader first reaches the end of the binlog. */
  async oldCopyDone(): Promise<void> {
    this.mark!.syncOldDone = true;
    this.dirty = true;
    await this.save();
  }

  /** §5.9 "when idle", but at most once a second: a mark a little behind only means re-pushes. */
  saveWhenIdle(): void {
    if (this.dirty && Date.now() - this.lastWrite >= 1000) void this.save();
  }

  save(): Promise<void> {
    const m = this.mark;
    if (!m || !this.dirty || !this.file) return this.writes;
    this.dirty = false;
    this.doneSinceWrite = 0;
    this.lastWrite = Date.now();
    const snapshot = { ...m };
    const file = this.file;
    this.writes = this.writes.then(() => writeMark(file, snapshot)).catch((err: Error) => {
      this.dirty = true;
      this.opts.log('warn', `cannot write ${file}: ${err.message}`);
    });
    return this.writes;
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
    this.dirty = true;
    if (this.doneSinceWrite >= this.opts.markFreq) void this.save();
  }
}
