import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { decodeFileName } from '../protocol/filename.ts';
import { binlogFileName, parseBinlogLine, readBinlogIndex, type BinlogPosition, type BinlogRecord } from './binlog.ts';

// The live files of one storage for FDFS_LIST_FILES (120), kept up to date by a forward cursor
// over the binlog (PROTOCOL.md §7.2). One index per storage, shared by every listing: a listing
// reads only the binlog lines written since the previous one, and no connection keeps a copy.
// Issue 15: a snapshot per connection (the whole binlog replayed per first page) let 220
// connections take a storage to 3.36 GB.

/** Size not known from the name: the file is stat'ed when listed. */
const SIZE_UNKNOWN = -1;
/** A stat found no file (an appender deleted without its record yet): left out. */
const SIZE_GONE = -2;
/** Bytes read from the binlog per step; the event loop gets a turn between steps. */
const READ_CHUNK = 256 * 1024;
/** Entries looked at between two turns of the event loop. */
const SCAN_STEP = 4096;

interface Entry {
  ts: number;
  size: number;
}

export interface IndexedFile {
  name: string;
  size: number;
  timestamp: number;
}

export interface IndexPage {
  files: IndexedFile[];
  more: boolean;
  totalFiles: number;
  totalBytes: number;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function sizeFromName(name: string): number {
  const d = decodeFileName(name);
  return d && d.type === 'normal' ? d.nameSize : SIZE_UNKNOWN;
}

export class LiveIndex {
  private readonly live = new Map<string, Entry>();
  /** Names in byte order, possibly with names deleted since (filtered when sorting again). */
  private sorted: string[] = [];
  /** Names new since `sorted` was made. */
  private added: string[] = [];
  private removedSinceSort = false;
  private pos: BinlogPosition = { index: 0, offset: 0 };
  private catchingUp: Promise<void> | null = null;
  /** Bumped by every change; totals are cached against it. */
  private version = 0;
  private totals: { version: number; since: number; files: number; bytes: number } | null = null;

  /** `stat` resolves a logic name to its file (sizes of appender and slave files). */
  constructor(private readonly dir: string, private readonly statPath: (name: string) => string) {}

  get size(): number { return this.live.size; }

  /** Read the binlog lines written since the last call (concurrent callers share one read). */
  catchUp(): Promise<void> {
    this.catchingUp ??= this.readForward().finally(() => { this.catchingUp = null; });
    return this.catchingUp;
  }

  private reset(): void {
    this.live.clear();
    this.sorted = [];
    this.added = [];
    this.removedSinceSort = false;
    this.pos = { index: 0, offset: 0 };
    this.version++;
  }

  private async readForward(): Promise<void> {
    const { currentWrite } = await readBinlogIndex(this.dir);
    if (currentWrite < this.pos.index) this.reset();
    while (this.pos.index <= currentWrite) {
      const file = path.join(this.dir, binlogFileName(this.pos.index));
      if (fs.existsSync(file)) {
        const size = (await fsp.stat(file)).size;
        // A binlog shorter than what we read was replaced (a restore): start over.
        if (size < this.pos.offset) { this.reset(); continue; }
        await this.readPlain(file);
      } else if (fs.existsSync(`${file}.gz`)) {
        // §7.1 compress_binlog: only files before current_write are compressed, never grow again.
        await this.readGzip(`${file}.gz`);
      }
      if (this.pos.index === currentWrite) break;
      this.pos = { index: this.pos.index + 1, offset: 0 };
    }
  }

  /** From pos.offset to the last complete line; a partial last line waits for the next call. */
  private async readPlain(file: string): Promise<void> {
    const fh = await fsp.open(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      let carry = '';
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, this.pos.offset + Buffer.byteLength(carry, 'latin1'));
        if (bytesRead === 0) break;
        const text = carry + buf.toString('latin1', 0, bytesRead);
        const end = text.lastIndexOf('\n');
        if (end < 0) { carry = text; continue; }
        this.applyLines(text.slice(0, end));
        this.pos = { index: this.pos.index, offset: this.pos.offset + end + 1 };
        carry = text.slice(end + 1);
        await tick();
      }
    } finally {
      await fh.close();
    }
  }

  /** A compressed binlog is complete: read it to its end, skipping what was read before. */
  private async readGzip(file: string): Promise<void> {
    const input = fs.createReadStream(file, { highWaterMark: READ_CHUNK }).pipe(zlib.createGunzip());
    let skip = this.pos.offset;
    let seen = 0;
    let carry = '';
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        seen += chunk.length;
        if (skip >= chunk.length) { skip -= chunk.length; continue; }
        const text = carry + chunk.toString('latin1', skip);
        skip = 0;
        const end = text.lastIndexOf('\n');
        if (end < 0) { carry = text; continue; }
        this.applyLines(text.slice(0, end));
        carry = text.slice(end + 1);
        await tick();
      }
    } finally {
      input.destroy();
    }
    if (carry) this.applyLines(carry);
    this.pos = { index: this.pos.index, offset: seen };
  }

  private applyLines(text: string): void {
    let start = 0;
    while (start <= text.length) {
      let nl = text.indexOf('\n', start);
      if (nl < 0) nl = text.length;
      const r = parseBinlogLine(text.slice(start, nl));
      if (r) this.apply(r);
      start = nl + 1;
    }
  }

  /**
   * One record, upper or lower case alike: a replica (lower case) is as much a file of this
   * storage as an upload. `-m` metadata files are not data files and are left out.
   */
  apply(r: BinlogRecord): void {
    const name = r.name;
    switch (r.op) {
      case 'C': case 'c': case 'U': case 'u':
      case 'A': case 'a': case 'M': case 'm': case 'T': case 't':
        if (!name.endsWith('-m')) this.set(name, r.timestamp);
        break;
      case 'D': case 'd':
        if (this.live.delete(name)) { this.removedSinceSort = true; this.version++; }
        break;
      case 'R': case 'r':
        // `R <new> <old>` (§3.13): the appender name is gone, the regenerated one is alive.
        if (r.extra && this.live.delete(r.extra)) this.removedSinceSort = true;
        this.set(name, r.timestamp);
        break;
      case 'L': case 'l':
        // `L <link> <target>`: the slave name (a symlink) is a file clients download. 6.16.1's
        // broken `L  <target>` lines do not parse (§3.3) and never reach here.
        this.set(name, r.timestamp);
        break;
      default:
        break;
    }
  }

  private set(name: string, ts: number): void {
    const e = this.live.get(name);
    if (e) {
      e.ts = ts;
      // Appends, modifies and truncates change a size the name does not carry.
      if (e.size < 0) e.size = SIZE_UNKNOWN;
    } else {
      this.live.set(name, { ts, size: sizeFromName(name) });
      this.added.push(name);
    }
    this.version++;
  }

  private sorting: Promise<string[]> | null = null;

  /** The names in byte order; concurrent pages share one merge. */
  private sortedNames(): Promise<string[]> {
    if (this.added.length === 0 && !this.removedSinceSort && !this.sorting) return Promise.resolve(this.sorted);
    this.sorting ??= this.merge().finally(() => { this.sorting = null; });
    return this.sorting;
  }

  private async merge(): Promise<string[]> {
    // Logic names are ASCII: code-unit order is byte order.
    const added = this.added.sort();
    this.added = [];
    const old = this.removedSinceSort ? this.sorted.filter((n) => this.live.has(n)) : this.sorted;
    this.removedSinceSort = false;
    await tick();
    // Merge: O(n + k) for k new names instead of sorting all n again.
    const out: string[] = new Array(old.length + added.length);
    let i = 0;
    let j = 0;
    let k = 0;
    let last = '';
    while (i < old.length || j < added.length) {
      const next = j >= added.length || (i < old.length && old[i]! <= added[j]!) ? old[i++]! : added[j++]!;
      // A name deleted and created again is in both lists once.
      if (k > 0 && next === last) continue;
      out[k++] = next;
      last = next;
    }
    out.length = k;
    this.sorted = out;
    return out;
  }

  /** The size of an entry, stat'ing files whose name does not carry it; null when gone. */
  private async sizeOf(name: string, e: Entry): Promise<number | null> {
    if (e.size === SIZE_UNKNOWN) {
      try {
        e.size = (await fsp.stat(this.statPath(name))).size;
      } catch {
        e.size = SIZE_GONE;
      }
    }
    return e.size === SIZE_GONE ? null : e.size;
  }

  /**
   * Files changed at or after `since`, in byte order after `after`, at most `limit`; with the
   * totals of the whole listing. The work is split into steps so client traffic keeps flowing.
   */
  async page(since: number, after: string, limit: number): Promise<IndexPage> {
    const names = await this.sortedNames();
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (names[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    const files: IndexedFile[] = [];
    let more = false;
    let scanned = 0;
    for (let i = after === '' ? 0 : lo; i < names.length; i++) {
      if (++scanned % SCAN_STEP === 0) await tick();
      const name = names[i]!;
      const e = this.live.get(name);
      if (!e || e.ts < since) continue;
      const size = await this.sizeOf(name, e);
      if (size === null) continue;
      if (files.length === limit) { more = true; break; }
      files.push({ name, size, timestamp: e.ts });
    }
    const t = await this.totalsFor(since);
    return { files, more, totalFiles: t.files, totalBytes: t.bytes };
  }

  private async totalsFor(since: number): Promise<{ files: number; bytes: number }> {
    const cached = this.totals;
    if (cached && cached.version === this.version && cached.since === since) return cached;
    const version = this.version;
    let files = 0;
    let bytes = 0;
    let scanned = 0;
    for (const [name, e] of this.live) {
      if (++scanned % SCAN_STEP === 0) await tick();
      if (e.ts < since) continue;
      const size = await this.sizeOf(name, e);
      if (size === null) continue;
      files++;
      bytes += size;
    }
    this.totals = { version, since, files, bytes };
    return this.totals;
  }
}
