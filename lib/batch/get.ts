import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { FdfsClient } from '../client/client.ts';
import { crc32 } from '../protocol/crc32.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { decodeFileName, splitFileId } from '../protocol/filename.ts';
import { writeAll } from '../util/write-all.ts';
import { readManifest, type ManifestRecord } from './manifest.ts';
import { BatchStats, type BatchEvent, type BatchOp, type BatchSummary } from './progress.ts';
import { normalizeRelPath, SafeDirs, safeJoin } from './safe-path.ts';
import { defaultConcurrency, permanent, runPool, withRetries } from './scheduler.ts';
import { TarWriter } from './tar-output.ts';

// `fdfs get`: download the files of manifests (or file IDs) into a directory tree or a tar
// archive, N at a time, every file checked against the size and CRC-32 it should have.

/** What get needs of a client (FdfsClient, or a fake in tests). */
export type GetClient = Pick<FdfsClient, 'download' | 'fileInfo'>;

export interface GetItem {
  /** Where the file goes, relative to the output directory / inside the archive. */
  path: string;
  fileId: string;
  /** Expected size and CRC-32; taken from the file ID (or asked from the storage) when absent. */
  size?: number;
  crc32?: number;
  /** Unix seconds for the written file (default: the time in the file ID). */
  mtime?: number;
}

export interface TransferOptions {
  client: GetClient;
  concurrency?: number;
  /** Further attempts for a failed file (default 2). Downloads continue where they broke off. */
  retries?: number;
  retryDelayMs?: number;
  /** Files up to this size are downloaded into memory before going into a tar (default 1 MiB). */
  bufferLimit?: number;
  /** Directory output: skip files already present with the right size and CRC-32. */
  resume?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: BatchEvent) => void;
  stats?: BatchStats;
}

export interface GetOptions extends TransferOptions {
  /** Manifest files and/or file IDs. */
  sources: string[];
  /** Output directory (default '.'); ignored with `tar`. */
  out?: string;
  /** Write a tar archive instead: a file name, or a stream (stdout). */
  tar?: string | Writable;
  /** Count the manifests first for a progress total (default true). */
  countTotals?: boolean;
}

export type GetTarget = { dir: string } | { tar: TarWriter };

interface Expected {
  size: number;
  crc32: number;
  mtime: number;
}

/** Files up to this size are fetched into memory and written synchronously (see toDirectory). */
const SMALL_FILE = 64 * 1024;

/** Errors after which the output itself is unusable (a tar entry cut short): the run stops. */
function fatal(err: FdfsError): FdfsError {
  err.fatal = true;
  return err;
}

/** Download state carried across attempts, so a retry continues at the byte where the last one broke. */
interface Progress {
  received: number;
  crc: number;
}

async function fetchInto(client: GetClient, fileId: string, want: Expected, state: Progress, stats: BatchStats,
  write: (chunk: Buffer, position: number) => Promise<void>): Promise<void> {
  if (state.received >= want.size) return;
  const stream = await client.download(fileId, { offset: state.received });
  try {
    for await (const chunk of stream) {
      const c = chunk as Buffer;
      if (state.received + c.length > want.size) {
        throw permanent(new FdfsError('EIO', `stored file is larger than the expected ${want.size} bytes`, { subject: fileId }));
      }
      await write(c, state.received);
      state.crc = crc32(c, state.crc);
      state.received += c.length;
      stats.bytesMoved += c.length;
    }
  } finally {
    stream.destroy();
  }
  if (state.received !== want.size) {
    throw new FdfsError('EIO', `download ended at ${state.received} of ${want.size} bytes`, { subject: fileId });
  }
}

async function crcOfFile(file: string): Promise<number> {
  let c = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) c = crc32(chunk as Buffer, c);
  return c;
}

/**
 * Positional writes into a file, gathered: chunks arriving from the socket (tens of KiB) are
 * written in batches with one writev in flight, so the disk and the network overlap and a 10 MiB
 * file costs a handful of thread-pool round trips instead of hundreds. write() waits only while
 * more than `maxPending` bytes are queued (backpressure on the download).
 */
class FileSink {
  readonly #fh: fsp.FileHandle;
  #queue: Buffer[] = [];
  #queued = 0;
  #queuePos = 0;
  #inflight: Promise<void> | null = null;
  #failure: Error | null = null;
  readonly #maxPending: number;

  constructor(fh: fsp.FileHandle, maxPending = 4 * 1024 * 1024) {
    this.#fh = fh;
    this.#maxPending = maxPending;
  }

  async write(chunk: Buffer, position: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#queued === 0) this.#queuePos = position;
    else if (position !== this.#queuePos + this.#queued) {
      // Not contiguous (a retry restarted elsewhere): write out what is queued first.
      await this.flush();
      this.#queuePos = position;
    }
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (!this.#inflight) this.#kick();
    else if (this.#queued >= this.#maxPending) await this.#inflight;
  }

  #kick(): void {
    const bufs = this.#queue;
    const pos = this.#queuePos;
    const total = this.#queued;
    this.#queue = [];
    this.#queued = 0;
    this.#queuePos = pos + total;
    this.#inflight = writeAll(this.#fh, bufs, pos).then(() => {
      this.#inflight = null;
      if (this.#queued > 0) this.#kick();
    }, (err: Error) => {
      this.#failure ??= err;
      this.#inflight = null;
    });
  }

  /** Everything queued is written (or the first write error is thrown). */
  async flush(): Promise<void> {
    while (this.#inflight || this.#queued > 0) {
      if (!this.#inflight) this.#kick();
      await this.#inflight;
      if (this.#failure) throw this.#failure;
    }
    if (this.#failure) throw this.#failure;
  }
}

/** Download every item into the target; the engine shared by `fdfs get` and `fdfs export`. */
export async function transferItems(items: AsyncIterable<GetItem> | Iterable<GetItem>, target: GetTarget, op: BatchOp,
  opts: TransferOptions & { onStored?: (r: ManifestRecord) => void }): Promise<BatchSummary> {
  const stats = opts.stats ?? new BatchStats(op);
  const emit = (e: BatchEvent) => {
    stats.apply(e);
    opts.onEvent?.(e);
  };
  const bufferLimit = opts.bufferLimit ?? 1024 * 1024;
  const retryOpts = {
    retries: opts.retries ?? 2,
    baseDelayMs: opts.retryDelayMs,
    signal: opts.signal,
  };
  const dirs = 'dir' in target ? new SafeDirs(target.dir) : null;

  async function expected(item: GetItem): Promise<Expected> {
    const parts = splitFileId(item.fileId);
    const d = parts ? decodeFileName(parts.logicName) : null;
    if (!parts || !d) throw permanent(new FdfsError('EINVAL', 'invalid file ID', { subject: item.fileId }));
    if (item.size !== undefined && item.crc32 !== undefined) {
      return { size: item.size, crc32: item.crc32 >>> 0, mtime: item.mtime ?? d.timestamp };
    }
    // §6.2/§6.3: a normal name carries the size and CRC-32 of its content. Appender and slave names
    // do not (the CRC is of the initial content / of the master): the storage computes them (22).
    if (d.type === 'normal') return { size: item.size ?? d.nameSize, crc32: d.crc32, mtime: item.mtime ?? d.timestamp };
    const info = await opts.client.fileInfo(item.fileId, { server: true });
    return { size: item.size ?? info.size, crc32: info.crc32 >>> 0, mtime: item.mtime ?? info.timestamp };
  }

  const retrying = (item: GetItem) => (err: unknown, attempt: number) =>
    emit({ type: 'retry', path: item.path, attempt, error: (err as Error).message });

  async function toDirectory(item: GetItem, rel: string, want: Expected, root: string): Promise<'ok' | 'skipped'> {
    const dest = safeJoin(root, rel);
    await dirs!.prepare(dest);
    if (opts.resume) {
      const st = await fsp.lstat(dest).catch(() => null);
      // Quick check first (as rsync's): a file this command wrote has the expected size and the
      // mtime it set, so a complete tree is skipped without reading it back (issue 14: a resume
      // over a complete tree took as long as a fresh download). Otherwise the CRC decides.
      if (st?.isFile() && st.size === want.size
        && (Math.floor(st.mtimeMs / 1000) === want.mtime || (await crcOfFile(dest)) === want.crc32)) return 'skipped';
    }
    // Written beside the destination and renamed into place once verified: the destination never
    // holds a partial or wrong file, and a symlink already there is replaced, not followed.
    const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${crypto.randomBytes(4).toString('hex')}.part`);
    const mtime = new Date(want.mtime * 1000);
    if (want.size <= SMALL_FILE) {
      // Small files: verified in memory, then written with a few synchronous calls (cheaper than
      // five thread-pool round trips; runs of many small files spend their time here).
      const data = await fetchVerified(item, want);
      try {
        fs.writeFileSync(tmp, data, { flag: 'wx', mode: 0o644 });
        fs.utimesSync(tmp, mtime, mtime);
        fs.renameSync(tmp, dest);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
      return 'ok';
    }
    const fh = await fsp.open(tmp, 'wx', 0o644);
    let closed = false;
    try {
      const state: Progress = { received: 0, crc: 0 };
      const sink = new FileSink(fh);
      await withRetries(async () => {
        await fetchInto(opts.client, item.fileId, want, state, stats, (c, pos) => sink.write(c, pos));
        await sink.flush();
        if (state.crc !== want.crc32) {
          stats.bytesMoved -= state.received;
          state.received = 0;
          state.crc = 0;
          await fh.truncate(0);
          throw new FdfsError('EIO', `CRC-32 mismatch (expected ${want.crc32.toString(16)})`, { subject: item.fileId });
        }
      }, { ...retryOpts, onRetry: retrying(item) });
      await fh.utimes(mtime, mtime).catch(() => {});
      await fh.close();
      closed = true;
      await fsp.rename(tmp, dest);
    } catch (err) {
      if (!closed) await fh.close().catch(() => {});
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
    return 'ok';
  }

  /** The whole content in memory, checked; a retry continues where a broken download stopped. */
  async function fetchVerified(item: GetItem, want: Expected): Promise<Buffer> {
    const state: Progress = { received: 0, crc: 0 };
    let chunks: Buffer[] = [];
    await withRetries(async () => {
      await fetchInto(opts.client, item.fileId, want, state, stats, async (c) => { chunks.push(c); });
      if (state.crc !== want.crc32) {
        stats.bytesMoved -= state.received;
        state.received = 0;
        state.crc = 0;
        chunks = [];
        throw new FdfsError('EIO', `CRC-32 mismatch (expected ${want.crc32.toString(16)})`, { subject: item.fileId });
      }
    }, { ...retryOpts, onRetry: retrying(item) });
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, want.size);
  }

  async function toTar(item: GetItem, rel: string, want: Expected, tar: TarWriter): Promise<void> {
    const state: Progress = { received: 0, crc: 0 };
    if (want.size <= bufferLimit) {
      const data = await fetchVerified(item, want);
      try {
        await tar.addBuffer({ name: rel, mtime: want.mtime }, data);
      } catch (err) {
        // The archive's destination failed (a full disk, a closed pipe): nothing more can be written.
        throw fatal(toFdfsError(err, rel));
      }
      return;
    }
    // Too big to hold: streamed into the archive as it arrives. A broken download continues at
    // its offset; if it cannot be completed the archive is unusable and the run stops.
    try {
      await tar.addStream({ name: rel, size: want.size, mtime: want.mtime }, async (sink) => {
        await withRetries(() => fetchInto(opts.client, item.fileId, want, state, stats, (c) => sink.write(c)),
          { ...retryOpts, onRetry: retrying(item) });
      });
    } catch (err) {
      throw fatal(toFdfsError(err, item.fileId));
    }
    if (state.crc !== want.crc32) {
      throw permanent(new FdfsError('EIO', `CRC-32 mismatch (expected ${want.crc32.toString(16)}, got ${state.crc.toString(16)}); the archive holds the wrong content`, { subject: item.fileId }));
    }
  }

  async function handle(item: GetItem): Promise<void> {
    let want: Expected | undefined;
    try {
      const rel = normalizeRelPath(item.path);
      if (rel === null) throw permanent(new FdfsError('EINVAL', 'refusing unsafe path (absolute, empty or with "..")', { subject: JSON.stringify(item.path) }));
      want = await withRetries(() => expected(item), { ...retryOpts, onRetry: retrying(item) });
      if (want.size < 0) throw permanent(new FdfsError('EINVAL', 'file size unknown', { subject: item.fileId }));
      let outcome: 'ok' | 'skipped' = 'ok';
      if ('dir' in target) outcome = await toDirectory(item, rel, want, target.dir);
      else await toTar(item, rel, want, target.tar);
      if (outcome === 'skipped') {
        emit({ type: 'file', status: 'skipped', path: item.path, fileId: item.fileId, size: want.size, reason: 'present and verified' });
        return;
      }
      opts.onStored?.({ path: rel, fileId: item.fileId, size: want.size, crc32: want.crc32, mtime: want.mtime });
      emit({ type: 'file', status: 'ok', path: item.path, fileId: item.fileId, size: want.size, crc32: want.crc32, mtime: want.mtime, attempts: 1 });
    } catch (err) {
      // An output that broke ends the run with that error, not with one failure per file.
      if (err instanceof FdfsError && err.fatal) throw err;
      const e = toFdfsError(err, item.fileId);
      emit({ type: 'file', status: 'failed', path: item.path, fileId: item.fileId, size: want?.size ?? item.size, error: e.message, code: e.code, attempts: 1 });
    }
  }

  await runPool(items, opts.concurrency ?? defaultConcurrency(), handle, { signal: opts.signal });
  stats.interrupted = !!opts.signal?.aborted;
  return stats.summary();
}

/** Items of the named sources: manifest files (streamed) and file IDs (their path is the ID). */
async function* sourceItems(sources: string[], warn: (p: string, m: string) => void): AsyncGenerator<GetItem> {
  for (const s of sources) {
    if (isManifestSource(s)) {
      for await (const r of readManifest(s, { onInvalid: (n, why) => warn(s, `line ${n} ignored: ${why}`) })) {
        yield { path: r.path, fileId: r.fileId, size: r.size, crc32: r.crc32, mtime: r.mtime || undefined };
      }
    } else {
      yield { path: s, fileId: s };
    }
  }
}

function isManifestSource(s: string): boolean {
  try {
    return fs.statSync(s).isFile();
  } catch {
    return false;
  }
}

function checkSources(sources: string[]): void {
  if (sources.length === 0) throw new FdfsError('EINVAL', 'nothing to download: name manifests or file IDs');
  for (const s of sources) {
    if (isManifestSource(s)) continue;
    if (!splitFileId(s)) throw new FdfsError('ENOENT', 'neither a manifest file nor a file ID', { subject: s });
  }
}

export async function getFiles(opts: GetOptions): Promise<BatchSummary> {
  checkSources(opts.sources);
  if (opts.tar !== undefined && opts.resume) throw new FdfsError('EINVAL', '--resume applies to a directory output, not to --tar');
  const stats = opts.stats ?? new BatchStats('get');
  const emit = (e: BatchEvent) => {
    stats.apply(e);
    opts.onEvent?.(e);
  };
  const warn = (p: string, message: string) => emit({ type: 'warning', path: p, message });
  const counting = new AbortController();
  if (opts.countTotals ?? true) {
    void (async () => {
      let files = 0;
      let bytes = 0;
      let known = true;
      for (const s of opts.sources) {
        if (isManifestSource(s)) {
          for await (const r of readManifest(s)) {
            if (counting.signal.aborted) return;
            files++;
            bytes += r.size;
          }
        } else {
          files++;
          known = false;
        }
      }
      if (!counting.signal.aborted) emit({ type: 'total', files, bytes: known ? bytes : 0 });
    })().catch(() => {});
  }
  let tar: TarWriter | null = null;
  if (opts.tar !== undefined) tar = typeof opts.tar === 'string' ? TarWriter.toFile(opts.tar) : new TarWriter(opts.tar);
  const target: GetTarget = tar ? { tar } : { dir: opts.out ?? '.' };
  try {
    const summary = await transferItems(sourceItems(opts.sources, warn), target, 'get', { ...opts, stats, onEvent: opts.onEvent });
    if (tar) await tar.finish();
    return { ...summary, elapsedMs: stats.elapsedMs };
  } catch (err) {
    tar?.abort(err as Error);
    throw err;
  } finally {
    counting.abort();
  }
}
