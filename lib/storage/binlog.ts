import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import type { Logger } from '../util/log.ts';
import { silentLogger } from '../util/log.ts';

// The storage binlog (PROTOCOL.md §7.1, §7.2): `<base_path>/data/sync/binlog.NNN` plus
// binlog_index.dat. Replication (§5) and disk recovery read these files, so the format is the
// C one byte for byte.

/** One-char operations of §7.2. Upper case = originated here, lower case = applied replica. */
export type BinlogOp = 'C' | 'c' | 'U' | 'u' | 'D' | 'd' | 'A' | 'a' | 'M' | 'm' | 'T' | 't' | 'L' | 'l' | 'R' | 'r';

export interface BinlogRecord {
  timestamp: number;
  op: BinlogOp;
  /** Logic file name `Mxx/HH/HH/name` (metadata files carry `-m`). */
  name: string;
  /** A/M/T: "<n1> <n2>"; L/R: the second logic name. */
  extra?: string;
}

/** §7.2: a line including its '\n' must be shorter than 256 bytes or the C reader fails. */
export const BINLOG_MAX_LINE = 256;
/** §7.1: a new file is started once a flush leaves the current one at 1 GiB or more. */
export const BINLOG_ROTATE_SIZE = 1024 * 1024 * 1024;
export const BINLOG_INDEX_FILE = 'binlog_index.dat';
const LEGACY_INDEX_FILE = 'binlog.index';
const OPS = new Set('CcUuDdAaMmTtLlRr');

/** `binlog.000`; the index is zero-padded to 3 digits and grows past 999 (§7.1). */
export function binlogFileName(index: number): string {
  return `binlog.${String(index).padStart(3, '0')}`;
}

export function formatBinlogLine(r: BinlogRecord): string {
  return r.extra === undefined || r.extra === ''
    ? `${r.timestamp} ${r.op} ${r.name}\n`
    : `${r.timestamp} ${r.op} ${r.name} ${r.extra}\n`;
}

/**
 * Parse one line (with or without its '\n') the way the C sync reader splits it: ts, op, rest;
 * for L/l/R/r the rest splits at its first space into name and second name. Returns null for a
 * line the C reader rejects — including 6.16.1's broken `L  <target>` form (§3.3): callers decide
 * whether to skip it (file_sync_skip_invalid_record).
 */
export function parseBinlogLine(line: string): BinlogRecord | null {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  const m = /^(\d+) (.) (.*)$/s.exec(text);
  if (!m || !OPS.has(m[2]!)) return null;
  const op = m[2] as BinlogOp;
  const rest = m[3]!;
  const timestamp = Number(m[1]);
  let name = rest;
  let extra: string | undefined;
  const sp = rest.indexOf(' ');
  if (sp >= 0) {
    name = rest.slice(0, sp);
    extra = rest.slice(sp + 1);
  }
  if (name === '') return null;
  if ('LlRr'.includes(op) && !extra) return null;
  return extra === undefined ? { timestamp, op, name } : { timestamp, op, name, extra };
}

export function formatBinlogIndex(currentWrite: number, currentCompress: number): string {
  return `current_write=${currentWrite}\ncurrent_compress=${currentCompress}\n`;
}

/** Read binlog_index.dat (or the legacy binlog.index, which holds just the number). */
export async function readBinlogIndex(dir: string): Promise<{ currentWrite: number; currentCompress: number }> {
  try {
    const text = await fs.readFile(path.join(dir, BINLOG_INDEX_FILE), 'latin1');
    const kv = new Map<string, string>();
    for (const l of text.split('\n')) {
      const eq = l.indexOf('=');
      if (eq > 0) kv.set(l.slice(0, eq).trim(), l.slice(eq + 1).trim());
    }
    const w = Number(kv.get('current_write') ?? 0);
    const c = Number(kv.get('current_compress') ?? 0);
    return { currentWrite: Number.isSafeInteger(w) && w >= 0 ? w : 0, currentCompress: Number.isSafeInteger(c) && c >= 0 ? c : 0 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    const n = Number((await fs.readFile(path.join(dir, LEGACY_INDEX_FILE), 'latin1')).trim());
    return { currentWrite: Number.isSafeInteger(n) && n >= 0 ? n : 0, currentCompress: 0 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { currentWrite: 0, currentCompress: 0 };
}

/** Replace a small file atomically: a crash leaves the old or the new content, never half. */
export async function writeFileAtomic(file: string, data: string | Buffer, fsync = true): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    const fh = await fs.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    // A full disk fails the write, not the rename: the temp file must go in every case, or
    // each retry leaves one more behind.
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

export interface BinlogPosition {
  index: number;
  /** Bytes of binlog.<index> written to the OS so far. */
  offset: number;
}

export interface BinlogWriterOptions {
  /** `<base_path>/data/sync`. */
  dir: string;
  /** sync_binlog_buff_interval (s): fsync period for written lines (≤ 0 ⇒ 1). */
  syncInterval?: number;
  /** Rotation threshold; tests shrink it. */
  rotateSize?: number;
  log?: Logger;
}

/**
 * Appends binlog records. Lines are written to the OS file right after the current event-loop
 * turn (several appends coalesce into one write), so a record survives a kill -9 as soon as its
 * append() promise resolves and a sync reader can follow the file with little delay; fsync runs
 * every sync_binlog_buff_interval s, on rotation and on close, as the C server's buffered flush
 * does (§7.1).
 *
 * Emits 'append' (BinlogPosition) after each write, so a sync reader can wait for new records
 * instead of polling.
 */
export class BinlogWriter extends EventEmitter {
  readonly dir: string;
  private readonly rotateSize: number;
  private readonly syncMs: number;
  private readonly log: Logger;
  private fh: fs.FileHandle | null = null;
  private index = 0;
  private compressIndex = 0;
  private offset = 0;
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: BinlogWriterOptions) {
    super();
    this.dir = opts.dir;
    this.rotateSize = opts.rotateSize ?? BINLOG_ROTATE_SIZE;
    this.syncMs = Math.max(1, opts.syncInterval && opts.syncInterval > 0 ? opts.syncInterval : 1) * 1000;
    this.log = opts.log ?? silentLogger;
  }

  /** Create the sync directory if needed and open the current binlog file for appending. */
  async open(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const idx = await readBinlogIndex(this.dir);
    this.index = idx.currentWrite;
    this.compressIndex = idx.currentCompress;
    await this.openCurrent();
    // Write the index file even when it existed: a legacy binlog.index becomes binlog_index.dat.
    await this.writeIndex();
    this.syncTimer = setInterval(() => { void this.syncNow(); }, this.syncMs);
    this.syncTimer.unref();
  }

  private async openCurrent(): Promise<void> {
    const file = path.join(this.dir, binlogFileName(this.index));
    this.fh = await fs.open(file, 'a', 0o644);
    this.offset = (await this.fh.stat()).size;
  }

  private writeIndex(): Promise<void> {
    return writeFileAtomic(path.join(this.dir, BINLOG_INDEX_FILE), formatBinlogIndex(this.index, this.compressIndex));
  }

  /** Where the next record will be written (after pending records are flushed). */
  position(): BinlogPosition {
    return { index: this.index, offset: this.offset };
  }

  /**
   * Queue a record. The promise resolves once the line is in the OS file (so it survives a crash
   * of this process); a caller acknowledging a client request awaits it.
   */
  append(record: BinlogRecord): Promise<void> {
    if (this.closed || !this.fh) return Promise.reject(new Error('binlog is closed'));
    const line = formatBinlogLine(record);
    if (Buffer.byteLength(line, 'latin1') >= BINLOG_MAX_LINE) {
      return Promise.reject(new RangeError(`binlog line of ${line.length} bytes is too long: ${line.trimEnd()}`));
    }
    this.pending.push(line);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; void this.flush().catch(() => { /* reported to waiters */ }); });
    }
    return p;
  }

  /** Write every queued record to the OS file. */
  async flush(): Promise<void> {
    // Serialise: one write in flight; records queued meanwhile go in the next write.
    while (this.flushing) await this.flushing.catch(() => {});
    if (this.pending.length === 0) return;
    const lines = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.flushing = this.writeLines(lines).then(
      () => { for (const w of waiters) w.resolve(); },
      (err: Error) => {
        this.log('error', `binlog write failed: ${err.message}`);
        for (const w of waiters) w.reject(err);
        throw err;
      },
    ).finally(() => { this.flushing = null; });
    await this.flushing;
  }

  private async writeLines(lines: string[]): Promise<void> {
    const fh = this.fh;
    if (!fh) throw new Error('binlog is closed');
    const buf = Buffer.from(lines.join(''), 'latin1');
    let done = 0;
    // A synchronous append: it lands in the page cache in microseconds, while a thread-pool
    // write would add a round trip to every acknowledged upload. fsync stays periodic.
    while (done < buf.length) done += fsSync.writeSync(fh.fd, buf, done, buf.length - done);
    this.offset += buf.length;
    this.dirty = true;
    this.emit('append', this.position());
    if (this.offset >= this.rotateSize) await this.rotate();
  }

  private async rotate(): Promise<void> {
    const old = this.fh!;
    await old.sync();
    await old.close();
    this.dirty = false;
    this.index++;
    await this.openCurrent();
    await this.writeIndex();
    this.log('info', `binlog rotated to ${binlogFileName(this.index)}`);
    this.emit('rotate', this.position());
  }

  /** fsync what was written; called periodically (sync_binlog_buff_interval) and on close. */
  async syncNow(): Promise<void> {
    if (!this.dirty || !this.fh) return;
    while (this.flushing) await this.flushing.catch(() => {});
    if (!this.fh) return;
    this.dirty = false;
    try {
      await this.fh.sync();
    } catch (err) {
      this.dirty = true;
      this.log('warn', `binlog fsync failed: ${(err as Error).message}`);
    }
  }

  /** Flush, fsync and close. Appends after this are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    try {
      await this.flush();
      await this.syncNow();
    } finally {
      this.closed = true;
      const fh = this.fh;
      this.fh = null;
      await fh?.close();
    }
  }
}
