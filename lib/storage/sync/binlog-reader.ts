import { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { BINLOG_MAX_LINE, binlogFileName, parseBinlogLine, type BinlogPosition, type BinlogRecord } from '../binlog.ts';

// Sequential reader over the binlog files (PROTOCOL.md §7.1, §7.2) for one sync peer: from a mark
// position to the end, across rotations, one line at a time. It reads what the writer has handed
// to the OS, so it follows the binlog with no flush delay.

const gunzipAsync = promisify(gunzip);
const READ_CHUNK = 64 * 1024;
/** Shared by every reader: fill() copies out of it before anything else can run. */
const scratch = Buffer.allocUnsafe(READ_CHUNK);

export type BinlogItem =
  | { kind: 'record'; record: BinlogRecord; start: BinlogPosition; end: BinlogPosition }
  /**
   * A line the C reader refuses (§5.10 "unparsable line"). `skippable` marks 6.16.1's broken
   * `L  <target>` / `l ` lines (§3.3, §5.5), which lose nothing when skipped: the link name is gone.
   */
  | { kind: 'invalid'; line: string; reason: string; skippable: boolean; start: BinlogPosition; end: BinlogPosition }
  /** Nothing more for now. `checkedAt` (ms) was taken before the read that found nothing. */
  | { kind: 'eof'; checkedAt: number };

export interface BinlogReaderOptions {
  /** `<base_path>/data/sync`. */
  dir: string;
  /** The index the writer appends to now (binlog rotation, §7.1). */
  currentIndex: () => number;
  start: BinlogPosition;
}

/** 6.16.1's nameless `L`/`l` records: `<ts> L  <target>` and `<ts> l ` (§3.3, §5.5). */
function isBrokenLinkLine(line: string): boolean {
  return /^\d+ [Ll] ( |$)/.test(line);
}

/**
 * `<ts> L <link>` without the target: §5.5 lets the sender read the target from the local symlink
 * then. parseBinlogLine() refuses it because the C parser of L lines wants two names.
 */
function linkWithoutTarget(line: string): BinlogRecord | null {
  const m = /^(\d+) ([Ll]) (\S+)$/.exec(line);
  return m ? { timestamp: Number(m[1]), op: m[2] as 'L' | 'l', name: m[3]! } : null;
}

export class BinlogReader {
  private readonly dir: string;
  private readonly currentIndex: () => number;
  private index: number;
  /** File offset of buf[0]. */
  private bufStart: number;
  private buf: Buffer = Buffer.alloc(0);
  private fh: fs.FileHandle | null = null;
  /** Whole content of a gzipped binlog (§7.1 compress_binlog), read once. */
  private gz: Buffer | null = null;

  constructor(opts: BinlogReaderOptions) {
    this.dir = opts.dir;
    this.currentIndex = opts.currentIndex;
    this.index = opts.start.index;
    this.bufStart = opts.start.offset;
  }

  /** Where the next unread line starts. */
  get position(): BinlogPosition {
    return { index: this.index, offset: this.bufStart };
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.gz = null;
    await fh?.close().catch(() => {});
  }

  async next(): Promise<BinlogItem> {
    for (;;) {
      const line = this.takeLine();
      if (line) return line;
      if (this.buf.length >= BINLOG_MAX_LINE) return this.takeLongLine();
      const checkedAt = Date.now();
      // Read the writer's index before reading: a rotation seen here means the old file is final.
      const writerIndex = this.currentIndex();
      const n = await this.fill();
      if (n > 0) continue;
      if (this.index >= writerIndex) return { kind: 'eof', checkedAt };
      if (this.buf.length > 0) {
        // A rotated file never grows again: an unterminated tail is a broken last line.
        return this.takeRest('unterminated last line of a rotated binlog file');
      }
      await this.close();
      this.index++;
      this.bufStart = 0;
    }
  }

  private startPos(): BinlogPosition { return { index: this.index, offset: this.bufStart }; }

  private takeLine(): BinlogItem | null {
    const nl = this.buf.indexOf(0x0a);
    if (nl < 0) return null;
    const start = this.startPos();
    const text = this.buf.toString('latin1', 0, nl);
    this.consume(nl + 1);
    const end = this.startPos();
    if (nl + 1 >= BINLOG_MAX_LINE) {
      return { kind: 'invalid', line: text, reason: `line of ${nl + 1} bytes (limit ${BINLOG_MAX_LINE - 1})`, skippable: false, start, end };
    }
    const record = parseBinlogLine(text) ?? linkWithoutTarget(text);
    if (record) return { kind: 'record', record, start, end };
    return { kind: 'invalid', line: text, reason: 'unparsable line', skippable: isBrokenLinkLine(text), start, end };
  }

  /** A line ≥ 256 bytes: return it as invalid once its end arrived (the C reader fails with ENOSPC). */
  private async takeLongLine(): Promise<BinlogItem> {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0) return this.takeLine()!;
      if ((await this.fill()) === 0) {
        return { kind: 'eof', checkedAt: Date.now() };
      }
    }
  }

  private takeRest(reason: string): BinlogItem {
    const start = this.startPos();
    const text = this.buf.toString('latin1');
    this.consume(this.buf.length);
    return { kind: 'invalid', line: text, reason, skippable: false, start, end: this.startPos() };
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.bufStart += n;
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
  }

  /** Append the next bytes of the current file to buf; 0 at its end (or when it does not exist). */
  private async fill(): Promise<number> {
    const at = this.bufStart + this.buf.length;
    if (this.gz) return this.append(this.gz.subarray(Math.min(at, this.gz.length), Math.min(at + READ_CHUNK, this.gz.length)));
    if (!this.fh && !(await this.open())) return 0;
    if (this.gz) return this.fill();
    // A synchronous read into a reused buffer: the binlog tail is in the page cache, and a reader
    // woken for every appended line would otherwise pay a thread-pool round trip and a fresh
    // 64 KiB buffer per line (most of an fdfs receiver's CPU while a C peer copies files to it).
    const bytesRead = fsSync.readSync(this.fh!.fd, scratch, 0, READ_CHUNK, at);
    return this.append(scratch.subarray(0, bytesRead));
  }

  private append(b: Buffer): number {
    if (b.length > 0) this.buf = this.buf.length === 0 ? Buffer.from(b) : Buffer.concat([this.buf, b]);
    return b.length;
  }

  private async open(): Promise<boolean> {
    const file = path.join(this.dir, binlogFileName(this.index));
    try {
      this.fh = await fs.open(file, 'r');
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // §7.1: with compress_binlog a finished file may only exist gzipped.
    try {
      this.gz = await gunzipAsync(await fs.readFile(`${file}.gz`));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return false;
  }
}
