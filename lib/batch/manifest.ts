import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import process from 'node:process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { FdfsError } from '../protocol/errno.ts';

// The batch manifest: JSON Lines, one object per stored file, appended as each upload is
// acknowledged by the storage.
//
//   {"path":"a/b.jpg","fileId":"group1/M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg","size":12345,"crc32":2936552237,"mtime":1700000000}
//
//   path    relative path, '/'-separated (a directory source's files relative to that directory,
//           a tar entry's name, or the file ID for `fdfs export`)
//   fileId  FastDFS file ID (group/Mxx/HH/HH/name)
//   size    bytes
//   crc32   CRC-32 (IEEE, unsigned) of the content
//   mtime   Unix seconds: the source file's modification time (tar: the entry's)
//
// Extra keys are ignored when reading, so later versions can add some.

export interface ManifestRecord {
  path: string;
  fileId: string;
  size: number;
  crc32: number;
  mtime: number;
}

/** One line, key order fixed so manifests diff well. */
export function formatManifestLine(r: ManifestRecord): string {
  return `${JSON.stringify({ path: r.path, fileId: r.fileId, size: r.size, crc32: r.crc32 >>> 0, mtime: r.mtime })}\n`;
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

/** Parse and check one line; a string saying what is wrong when it is not a record. */
export function parseManifestLine(line: string): ManifestRecord | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not an object';
  const o = v as Record<string, unknown>;
  if (typeof o.path !== 'string' || o.path === '') return 'no "path"';
  if (typeof o.fileId !== 'string' || !o.fileId.includes('/')) return 'no "fileId"';
  if (!isUint(o.size)) return 'bad "size"';
  if (!isUint(o.crc32, 0xffffffff)) return 'bad "crc32"';
  const mtime = o.mtime === undefined ? 0 : o.mtime;
  if (typeof mtime !== 'number' || !Number.isFinite(mtime)) return 'bad "mtime"';
  return { path: o.path, fileId: o.fileId, size: o.size, crc32: o.crc32, mtime: Math.trunc(mtime) };
}

export interface ReadManifestOptions {
  /** Called for each line that is not a record (a torn last line after a crash, a typo). */
  onInvalid?: (lineNo: number, reason: string, line: string) => void;
}

/**
 * Records of a manifest file (or stream), read line by line: memory stays flat whatever the
 * manifest's length. Blank lines are skipped; invalid ones reported through onInvalid.
 */
export async function* readManifest(source: string | Readable, opts: ReadManifestOptions = {}): AsyncGenerator<ManifestRecord & { line: number }> {
  const input = typeof source === 'string' ? fs.createReadStream(source, { encoding: 'utf8', highWaterMark: 256 * 1024 }) : source;
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      const line = raw.trim();
      if (line === '') continue;
      const r = parseManifestLine(line);
      if (typeof r === 'string') opts.onInvalid?.(lineNo, r, line);
      else yield { ...r, line: lineNo };
    }
  } finally {
    rl.close();
    if (typeof source === 'string') (input as fs.ReadStream).destroy();
  }
}

export interface ResumeEntry {
  size: number;
  mtime: number;
  crc32: number;
  fileId: string;
}

/**
 * path → what was stored, for `fdfs put --resume` (a later line for the same path wins). A missing
 * manifest is an empty index.
 */
export async function loadResumeIndex(file: string, opts: ReadManifestOptions = {}): Promise<Map<string, ResumeEntry>> {
  const index = new Map<string, ResumeEntry>();
  if (!fs.existsSync(file)) return index;
  for await (const r of readManifest(file, opts)) {
    index.set(r.path, { size: r.size, mtime: r.mtime, crc32: r.crc32, fileId: r.fileId });
  }
  return index;
}

export interface ManifestWriterOptions {
  /**
   * Continue an existing manifest. Without it an existing non-empty manifest is refused (EEXIST):
   * it may be the only record of a previous run's file IDs, and truncating it would lose them.
   */
  append?: boolean;
  /** fsync after this many records (default 256) … */
  fsyncEvery?: number;
  /** … or this many ms after the first unsynced record (default 1000), whichever comes first. */
  fsyncMs?: number;
}

/**
 * Appends manifest records, one write(2) per record on an O_APPEND descriptor, synchronously.
 *
 * Why synchronous and unbuffered: a record is written only after the storage acknowledged the
 * upload, and the upload counts as done only after the write returned. Once write(2) returned the
 * line is in the kernel's page cache, which survives the process being killed (SIGKILL, a crash,
 * Ctrl-C): an interrupted run never loses an acknowledged entry, and never holds half a line in a
 * user-space buffer. A small line written with one write(2) on an O_APPEND file is not interleaved
 * with other writers. What only fsync protects — an OS crash or power loss — is bounded by fsyncing
 * every `fsyncEvery` records / `fsyncMs` ms and at close; readers skip a torn last line.
 */
export class ManifestWriter {
  readonly file: string;
  #fd: number;
  #unsynced = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #fsyncEvery: number;
  readonly #fsyncMs: number;
  #lock = '';
  /** Records written by this writer. */
  written = 0;

  private constructor(file: string, fd: number, opts: ManifestWriterOptions) {
    this.file = file;
    this.#fd = fd;
    this.#fsyncEvery = opts.fsyncEvery && opts.fsyncEvery > 0 ? opts.fsyncEvery : 256;
    this.#fsyncMs = opts.fsyncMs && opts.fsyncMs > 0 ? opts.fsyncMs : 1000;
  }

  static open(file: string, opts: ManifestWriterOptions = {}): ManifestWriter {
    const lock = takeLock(file);
    try {
      return ManifestWriter.#open(file, opts, lock);
    } catch (err) {
      fs.rmSync(lock, { force: true });
      throw err;
    }
  }

  static #open(file: string, opts: ManifestWriterOptions, lock: string): ManifestWriter {
    let size = 0;
    try {
      size = fs.statSync(file).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (size > 0 && !opts.append) {
      throw new FdfsError('EEXIST', 'manifest already exists: continue it with --resume, or name another one with --manifest', { subject: file });
    }
    const fd = fs.openSync(file, 'a', 0o644);
    const w = new ManifestWriter(file, fd, opts);
    w.#lock = lock;
    if (size > 0) {
      // A torn last line (power loss mid-write) must not swallow the first new record.
      const last = Buffer.alloc(1);
      const rfd = fs.openSync(file, 'r');
      try {
        fs.readSync(rfd, last, 0, 1, size - 1);
      } finally {
        fs.closeSync(rfd);
      }
      if (last[0] !== 0x0a) fs.writeSync(fd, '\n');
    }
    return w;
  }

  append(r: ManifestRecord): void {
    if (this.#fd < 0) throw new FdfsError('EINVAL', 'manifest is closed', { subject: this.file });
    const buf = Buffer.from(formatManifestLine(r), 'utf8');
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.#fd, buf, off, buf.length - off);
    this.written++;
    if (++this.#unsynced >= this.#fsyncEvery) this.sync();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => { this.#timer = null; this.sync(); }, this.#fsyncMs);
      this.#timer.unref();
    }
  }

  sync(): void {
    if (this.#timer) { clearTimeout(this.#timer); this.#timer = null; }
    if (this.#fd < 0 || this.#unsynced === 0) return;
    this.#unsynced = 0;
    try {
      fs.fsyncSync(this.#fd);
    } catch { /* some file systems (pipes, /dev/stdout) cannot fsync; the write already happened */ }
  }

  close(): void {
    if (this.#fd < 0) return;
    this.sync();
    fs.closeSync(this.#fd);
    this.#fd = -1;
    if (this.#lock) fs.rmSync(this.#lock, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `<manifest>.lock` holding our pid: two runs appending to one manifest would both upload the
 * files neither has recorded yet. A lock left by a killed run (its pid is gone) is taken over —
 * that is exactly the run `--resume` continues.
 */
function takeLock(file: string): string {
  const lock = `${file}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
      throw new FdfsError('EBUSY', `another run (pid ${pid}) is writing this manifest`, { subject: file });
    }
    fs.rmSync(lock, { force: true });
  }
  throw new FdfsError('EBUSY', 'cannot lock the manifest', { subject: file });
}
