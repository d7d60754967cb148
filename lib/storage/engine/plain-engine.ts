import { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Crc32, crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { LogicName } from '../../protocol/filename.ts';
import type { FileNameGenerator, NameRequest } from '../file-names.ts';
import { hex2, type StorePaths } from '../store-paths.ts';
import {
  SMALL_FILE, type ClaimedName, type CommittedFile, type ContentReader, type ContentSource, type EngineStat,
  type FileRef, type IncomingFile, type IoListener, type NewFileNaming, type ReceiveOptions, type ReceiveTarget,
  type RemoveOptions, type StatOptions, type StorageEngine, type SweepOptions, type WriteOptions, type WriteResult,
} from './engine.ts';
import { fsError, isMissing } from './errors.ts';
import { PlainReader } from './plain-reader.ts';
import { writeAllSync } from '../../util/write-all.ts';
import { receiveInto } from './receive-into.ts';
import { IncomingTempNames, newFileTempIn, sweepIncomingTemps, sweepNewFileTemps } from './temp-files.ts';

// Plain files (PROTOCOL.md §6.1): one file per logic name at `<store_pathN>/data/HH/HH/<base>`,
// slaves stored as links are symbolic links with an absolute target (§3.3). The first
// implementation of the storage engine (engine.ts).

/** §6.5: the storage regenerates a name at most this many times when it already exists. */
const NAME_TRIES = 10;
const CRC_CHUNK = 512 * 1024;

export interface PlainEngineOptions {
  storePaths: StorePaths;
  /** Names new files and picks their sub-directory (§6.2–§6.5). */
  names: FileNameGenerator;
  /** fsync_after_written_bytes (0 = never). */
  fsyncAfterBytes?: number;
  io?: IoListener;
}

function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function typeOf(st: fsSync.Stats): EngineStat['type'] {
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'link';
  if (st.isDirectory()) return 'dir';
  return 'other';
}

export class PlainEngine implements StorageEngine {
  readonly kind = 'plain';
  /** Logic names being committed right now, so two uploads never claim the same name (§6.5). */
  readonly claimedNames = new Set<string>();
  readonly storePaths: StorePaths;
  private readonly names: FileNameGenerator;
  private readonly fsyncAfterBytes: number;
  private readonly io?: IoListener;
  private readonly incomingTemps = new IncomingTempNames();
  /** Temp files created and not yet committed or removed: 0 at a stop means none is left behind. */
  private tempsOpen = 0;

  get openTemps(): number { return this.tempsOpen; }

  /** PlainIncoming: its temp file was committed or removed. */
  tempClosed(): void {
    this.tempsOpen--;
  }

  constructor(opts: PlainEngineOptions) {
    this.storePaths = opts.storePaths;
    this.names = opts.names;
    this.fsyncAfterBytes = opts.fsyncAfterBytes ?? 0;
    this.io = opts.io;
  }

  /** A FileRef for a logic name built here (valid by construction). */
  fileRef(parsed: LogicName): FileRef {
    const { storePathIndex: i, high, low, base } = parsed;
    const logicName = `M${hex2(i)}/${hex2(high)}/${hex2(low)}/${base}`;
    return { logicName, parsed, path: this.storePaths.filePath(i, high, low, base) };
  }

  async receive(src: ContentSource, target: ReceiveTarget, opts: ReceiveOptions): Promise<IncomingFile> {
    const size = opts.size;
    const wantCrc = opts.crc ?? true;
    let tmp: string;
    let where: { storePathIndex: number; high: number; low: number } | null = null;
    if (target.to === 'new') {
      // §6.5: the temp file lives in its final sub-directory, so the last step is a rename.
      const sub = target.subdir ?? this.names.pickSubdir(target.startTime);
      where = { storePathIndex: target.storePathIndex, high: sub.high, low: sub.low };
      tmp = newFileTempIn(this.storePaths.subdir(where.storePathIndex, where.high, where.low));
    } else {
      // PROTOCOL.md §5.2: `<path>/data/.cp<seq>.tmp`.
      tmp = this.incomingTemps.in(this.storePaths.dataDir(target.file.parsed.storePathIndex));
    }
    const setMtime = target.to === 'name' ? target.mtime : undefined;

    if (size <= SMALL_FILE) {
      // A cut-off body throws here, before anything touched the disk. The pieces as they arrived
      // (no gathering copy): one vectored write takes them all.
      const content = await readPieces(src, size);
      let crc = 0;
      if (wantCrc) for (const b of content) crc = crc32(b, crc);
      this.io?.('open', 'start');
      this.io?.('write', 'start');
      let mtime: number;
      try {
        mtime = writeSmall(tmp, content, setMtime);
      } catch (err) {
        fsSync.rmSync(tmp, { force: true });
        throw new FdfsError('EAGAIN', `cannot write temp file ${tmp}: ${(err as Error).message}`, { cause: err });
      }
      this.io?.('open', 'ok');
      this.io?.('write', 'ok');
      opts.onBytes?.(size);
      this.tempsOpen++;
      return new PlainIncoming(this, tmp, target, where, size, crc, mtime, true);
    }

    this.io?.('open', 'start');
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(tmp, 'wx', 0o644);
    } catch (err) {
      throw new FdfsError('EAGAIN', `cannot create temp file ${tmp}: ${(err as Error).message}`, { cause: err });
    }
    this.io?.('open', 'ok');
    this.tempsOpen++;
    const crc = wantCrc ? new Crc32() : undefined;
    let kept = false;
    try {
      const received = await receiveInto(src, fh, 0, size, { crc, onBytes: opts.onBytes, io: this.io, fsyncAfterBytes: this.fsyncAfterBytes });
      let mtime: number;
      if (setMtime !== undefined) {
        await fh.utimes(setMtime, setMtime);
        mtime = setMtime;
      } else {
        // §6.2: the name carries the file's mtime at upload end; the binlog and 22 use the same value.
        mtime = unixSeconds((await fh.stat()).mtimeMs);
      }
      kept = true;
      return new PlainIncoming(this, tmp, target, where, received, crc ? crc.digest() : 0, mtime, false);
    } finally {
      await fh.close().catch(() => {});
      if (!kept) {
        await fs.rm(tmp, { force: true }).then(() => { this.tempsOpen--; }, () => {});
      }
    }
  }

  claimName(r: NameRequest): ClaimedName {
    if (!this.names.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');
    let name = '';
    for (let attempt = 0; attempt < NAME_TRIES; attempt++) {
      name = this.names.makeName(r);
      const base = name.slice(name.lastIndexOf('/') + 1);
      const parsed = { storePathIndex: r.storePathIndex, high: r.high, low: r.low, base };
      const file: FileRef = { logicName: name, parsed, path: this.storePaths.filePath(r.storePathIndex, r.high, r.low, base) };
      // A metadata-only syscall done synchronously: no other request can claim the name between
      // the check and the claim.
      if (this.claimedNames.has(name) || existsSync(file.path)) continue;
      const claimed = name;
      this.claimedNames.add(claimed);
      return { name: claimed, file, release: () => { this.claimedNames.delete(claimed); } };
    }
    throw new FdfsError('EEXIST', `no unused file name after ${NAME_TRIES} tries`, { subject: name });
  }

  async writeAt(file: FileRef, src: ContentSource, position: number, length: number, opts: WriteOptions = {}): Promise<WriteResult> {
    this.io?.('open', 'start');
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file.path, 'r+');
    } catch (err) {
      throw fsError(err, file.logicName);
    }
    this.io?.('open', 'ok');
    try {
      try {
        const written = await receiveInto(src, fh, position, length, { onBytes: opts.onBytes, io: this.io, fsyncAfterBytes: this.fsyncAfterBytes });
        if (opts.mtime !== undefined) {
          await fh.utimes(opts.mtime, opts.mtime);
          return { written, mtime: opts.mtime };
        }
        return { written, mtime: unixSeconds((await fh.stat()).mtimeMs) };
      } catch (err) {
        if (opts.restoreSize !== undefined) {
          const now = await fh.stat().catch(() => null);
          if (now && now.size > opts.restoreSize) await fh.truncate(opts.restoreSize).catch(() => {});
        }
        throw err;
      }
    } finally {
      await fh.close().catch(() => {});
    }
  }

  async truncate(file: FileRef, size: number, opts: { mtime?: number } = {}): Promise<number> {
    try {
      const fh = await fs.open(file.path, 'r+');
      try {
        await fh.truncate(size);
        if (opts.mtime !== undefined) {
          await fh.utimes(opts.mtime, opts.mtime);
          return opts.mtime;
        }
        return unixSeconds((await fh.stat()).mtimeMs);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw fsError(err, file.logicName);
    }
  }

  async link(link: FileRef, target: FileRef): Promise<void> {
    try {
      // An absolute target, as the C server makes it; readLink maps it back to a logic name.
      await fs.symlink(target.path, link.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FdfsError('EEXIST', 'file already exists', { subject: link.logicName, cause: err });
      throw fsError(err, link.logicName);
    }
  }

  async readLink(file: FileRef): Promise<FileRef | null> {
    let raw: string;
    try {
      raw = await fs.readlink(file.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (isMissing(err) || code === 'EINVAL') return null;
      throw fsError(err, file.logicName);
    }
    const parsed = this.parsedOfPath(path.resolve(path.dirname(file.path), raw));
    return parsed ? this.fileRef(parsed) : null;
  }

  /** The logic name parts of a physical path inside one of our store paths, or null when it points elsewhere. */
  parsedOfPath(target: string): LogicName | null {
    for (let i = 0; i < this.storePaths.count; i++) {
      const rel = path.relative(this.storePaths.dataDir(i), target);
      const parts = rel.split(path.sep);
      if (parts.length === 3 && /^[0-9A-F]{2}$/.test(parts[0]!) && /^[0-9A-F]{2}$/.test(parts[1]!) && !parts[2]!.startsWith('.')) {
        return { storePathIndex: i, high: parseInt(parts[0]!, 16), low: parseInt(parts[1]!, 16), base: parts[2]! };
      }
    }
    return null;
  }

  async rename(from: FileRef, to: FileRef): Promise<void> {
    try {
      await fs.rename(from.path, to.path);
    } catch (err) {
      throw fsError(err, from.logicName);
    }
  }

  async remove(file: FileRef, _opts: RemoveOptions): Promise<boolean> {
    try {
      await fs.unlink(file.path);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw fsError(err, file.logicName);
    }
  }

  async stat(file: FileRef, opts: StatOptions = {}): Promise<EngineStat | null> {
    let st: fsSync.Stats | undefined;
    try {
      if (opts.quick) {
        st = opts.follow ? fsSync.statSync(file.path, { throwIfNoEntry: false }) : fsSync.lstatSync(file.path, { throwIfNoEntry: false });
      } else {
        st = opts.follow ? await fs.stat(file.path) : await fs.lstat(file.path);
      }
    } catch (err) {
      if (isMissing(err)) return null;
      throw fsError(err, file.logicName);
    }
    if (!st) return null;
    return { type: typeOf(st), size: st.size, mtime: unixSeconds(st.mtimeMs) };
  }

  async open(file: FileRef): Promise<ContentReader> {
    // Synchronous: on a page-cached file open + fstat take microseconds, far less than two hops
    // through libuv's thread pool, and small files are what FastDFS serves most.
    this.io?.('open', 'start');
    let fd: number;
    try {
      fd = fsSync.openSync(file.path, 'r');
    } catch (err) {
      throw fsError(err, file.logicName);
    }
    this.io?.('open', 'ok');
    try {
      const st = fsSync.fstatSync(fd);
      if (!st.isFile()) throw new FdfsError('EINVAL', 'not a regular file', { subject: file.logicName });
      return new PlainReader(fd, st.size, unixSeconds(st.mtimeMs), file.logicName, this.io);
    } catch (err) {
      try { fsSync.closeSync(fd); } catch { /* already gone */ }
      throw fsError(err, file.logicName);
    }
  }

  async crc32(file: FileRef): Promise<number> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file.path, 'r');
    } catch (err) {
      throw fsError(err, file.logicName);
    }
    try {
      const crc = new Crc32();
      const buf = Buffer.allocUnsafe(CRC_CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CRC_CHUNK, null);
        if (bytesRead === 0) break;
        crc.update(buf.subarray(0, bytesRead));
      }
      return crc.digest();
    } catch (err) {
      throw fsError(err, file.logicName);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  sweep(opts: SweepOptions): Promise<number> {
    return opts.deep ? sweepNewFileTemps(this.storePaths, opts.startedMs) : sweepIncomingTemps(this.storePaths, opts.startedMs);
  }
}

/** `size` bytes of `src` as the pieces they arrived in. */
async function readPieces(src: ContentSource, size: number): Promise<Buffer[]> {
  const pieces: Buffer[] = [];
  for (let got = 0; got < size;) {
    const b = await src.readSome(size - got);
    pieces.push(b);
    got += b.length;
  }
  return pieces;
}

/**
 * Write a small content to a new temp file in a few synchronous calls; returns its mtime (unix s).
 * Creating the file on the thread pool instead when the loop is busy was measured: more system
 * time and less throughput on the 2-core host (README, Performance).
 */
function writeSmall(tmp: string, content: Buffer[], mtime: number | undefined): number {
  const fd = fsSync.openSync(tmp, 'wx', 0o644);
  try {
    writeAllSync(fd, content);
    if (mtime !== undefined) {
      fsSync.futimesSync(fd, mtime, mtime);
      return mtime;
    }
    return unixSeconds(fsSync.fstatSync(fd).mtimeMs);
  } finally {
    fsSync.closeSync(fd);
  }
}

function existsSync(p: string): boolean {
  try {
    fsSync.lstatSync(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Received content waiting in a temp file. */
class PlainIncoming implements IncomingFile {
  private done = false;

  constructor(private readonly engine: PlainEngine, private readonly tmp: string, private readonly target: ReceiveTarget,
    private readonly where: { storePathIndex: number; high: number; low: number } | null,
    readonly size: number, readonly crc32: number, readonly mtime: number, private readonly small: boolean) {}

  private checkOpen(): void {
    if (this.done) throw new FdfsError('EINVAL', 'content already committed or discarded');
  }

  /** The temp file is gone (renamed, linked or removed). */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.engine.tempClosed();
  }

  async commit(naming: NewFileNaming): Promise<CommittedFile> {
    this.checkOpen();
    if (!this.where) throw new FdfsError('EINVAL', 'content received for a given name cannot take a new one');
    let claim: ClaimedName;
    try {
      // Fields spelled out: an object spread costs tens of µs per call on Node 20 here (measured).
      const w = this.where;
      claim = this.engine.claimName({
        storePathIndex: w.storePathIndex, high: w.high, low: w.low, timestamp: this.mtime, size: this.size, crc32: this.crc32,
        ext: naming.ext, ext7: naming.ext7, kind: naming.kind,
      });
    } catch (err) {
      await this.discard();
      throw err;
    }
    try {
      fsSync.renameSync(this.tmp, claim.file.path);
      this.finish();
    } catch (err) {
      await this.discard();
      throw new FdfsError('EIO', `cannot store ${claim.name}: ${(err as Error).message}`, { subject: claim.name, cause: err });
    } finally {
      claim.release();
    }
    return { name: claim.name, file: claim.file, timestamp: this.mtime };
  }

  async commitAs(opts: { replace: boolean; file?: FileRef }): Promise<void> {
    this.checkOpen();
    const file = opts.file ?? (this.target.to === 'name' ? this.target.file : null);
    if (!file) throw new FdfsError('EINVAL', 'no name to store the content under');
    try {
      if (opts.replace) {
        if (this.small) fsSync.renameSync(this.tmp, file.path);
        else await fs.rename(this.tmp, file.path);
        this.finish();
        return;
      }
      if (this.small) {
        // Both calls synchronous, so no other request of this loop runs between them; only a
        // thread-pool link() of the same name by a second peer pushing the same file could, and
        // that carries the same content. Saves two thread-pool round trips per replicated file.
        if (existsSync(file.path)) throw Object.assign(new Error(`${file.path} exists`), { code: 'EEXIST' });
        fsSync.renameSync(this.tmp, file.path);
        this.finish();
        return;
      }
      // link() refuses to replace an existing file, unlike rename(): a file that arrived meanwhile wins.
      await fs.link(this.tmp, file.path);
      this.finish();
      await fs.rm(this.tmp, { force: true }).catch(() => {});
    } catch (err) {
      if (!this.done) await this.discard();
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FdfsError('EEXIST', 'file already exists', { subject: file.logicName, cause: err });
      throw fsError(err, file.logicName);
    }
  }

  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    // Counted as closed only once removed: a stop must not call a half-removed temp gone.
    // A temp that could not be removed stays counted: the next start then sweeps.
    await fs.rm(this.tmp, { force: true }).then(() => this.engine.tempClosed(), () => {});
  }
}
