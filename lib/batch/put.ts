import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import type { Readable } from 'node:stream';
import type { FdfsClient } from '../client/client.ts';
import { crc32 } from '../protocol/crc32.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { decodeFileName, isValidExt, splitFileId } from '../protocol/filename.ts';
import { compileGlobs } from './glob.ts';
import { loadResumeIndex, ManifestWriter, parseManifestLine, readManifest, type ResumeEntry } from './manifest.ts';
import { BatchStats, type BatchEvent, type BatchSummary } from './progress.ts';
import { defaultConcurrency, permanent, runPool, withRetries } from './scheduler.ts';
import { isTarName, openTarFile, readTar } from './tar-input.ts';
import { walkDirectory } from './walker.ts';

// `fdfs put`: upload directories, files and tar archives, N at a time, recording each stored file
// in a manifest the moment the storage acknowledged it.

/** The manifest `fdfs export` puts at the root of its archive; `fdfs put` checks it instead of uploading it. */
export const EXPORT_MANIFEST_NAME = 'fdfs-export.jsonl';

/** What put needs of a client (FdfsClient, or a fake in tests). */
export type PutClient = Pick<FdfsClient, 'upload' | 'delete'>;

export interface PutOptions {
  client: PutClient;
  /** Directories, files, .tar/.tar.gz archives, or '-' for a tar stream on `stdin`. */
  sources: string[];
  /** Manifest file (JSON Lines, see manifest.ts). */
  manifest: string;
  /** Continue an existing manifest, skipping paths stored with the same size and mtime. */
  resume?: boolean;
  /** Upload into this group; default: the tracker chooses. */
  group?: string;
  /** Parallel uploads (default: defaultConcurrency()). */
  concurrency?: number;
  /** Glob patterns of relative paths to leave out (glob.ts). */
  exclude?: string[];
  /** Further attempts for a failed file (default 2). */
  retries?: number;
  /** First retry delay, doubled each time (default 250 ms). */
  retryDelayMs?: number;
  /** Files up to this size are read whole and sent from memory (default 1 MiB). */
  bufferLimit?: number;
  /** The tar stream for source '-' (default process.stdin). */
  stdin?: Readable;
  /** Stop taking new files; files in flight finish and are recorded. */
  signal?: AbortSignal;
  onEvent?: (e: BatchEvent) => void;
  /** Counters to update (the CLI's progress bar reads them); created if absent. */
  stats?: BatchStats;
  /** Walk directory sources once beforehand for a progress total (default true). */
  countTotals?: boolean;
}

type PutItem =
  | { kind: 'file'; path: string; abs: string; size: number; mtime: number }
  | { kind: 'tar'; path: string; size: number; mtime: number; data?: Buffer; stream?: Readable; root: boolean };

/** Files up to this size are read with one synchronous call (see uploadOnce). */
const SMALL_FILE = 64 * 1024;

function extOf(rel: string): string {
  const ext = path.posix.extname(rel).slice(1);
  return isValidExt(ext) ? ext : '';
}

interface ResolvedSource {
  kind: 'dir' | 'file' | 'tar' | 'stdin';
  arg: string;
  abs: string;
}

async function resolveSources(sources: string[]): Promise<ResolvedSource[]> {
  if (sources.length === 0) throw new FdfsError('EINVAL', 'nothing to upload: name directories, files, tar archives or -');
  if (sources.filter((s) => s === '-').length > 1) throw new FdfsError('EINVAL', 'stdin (-) can be read only once');
  const out: ResolvedSource[] = [];
  for (const arg of sources) {
    if (arg === '-') { out.push({ kind: 'stdin', arg, abs: '-' }); continue; }
    let st: fs.Stats;
    try {
      // A source named on the command line is followed if it is a symlink: the user meant it.
      st = await fsp.stat(arg);
    } catch (err) {
      throw toFdfsError(err, arg);
    }
    const abs = path.resolve(arg);
    if (st.isDirectory()) out.push({ kind: 'dir', arg, abs });
    else if (st.isFile()) out.push({ kind: isTarName(arg) ? 'tar' : 'file', arg, abs });
    else throw new FdfsError('EINVAL', 'not a directory, regular file or tar archive', { subject: arg });
  }
  return out;
}

export async function putFiles(opts: PutOptions): Promise<BatchSummary> {
  const stats = opts.stats ?? new BatchStats('put');
  const emit = (e: BatchEvent) => {
    stats.apply(e);
    opts.onEvent?.(e);
  };
  const sources = await resolveSources(opts.sources);
  const exclude = compileGlobs(opts.exclude ?? []);
  const bufferLimit = opts.bufferLimit ?? 1024 * 1024;
  const warn = (p: string, message: string) => emit({ type: 'warning', path: p, message });
  const resume: Map<string, ResumeEntry> = opts.resume
    ? await loadResumeIndex(opts.manifest, { onInvalid: (n, why) => warn(opts.manifest, `line ${n} ignored: ${why}`) })
    : new Map();
  const manifest = ManifestWriter.open(opts.manifest, { append: opts.resume });
  const unchanged = (p: string, size: number, mtime: number) => {
    const prev = resume.get(p);
    return prev !== undefined && prev.size === size && prev.mtime === mtime;
  };

  // Totals for the progress bar: only when every source can be counted without reading content.
  const counting = new AbortController();
  const onAbort = () => counting.abort();
  opts.signal?.addEventListener('abort', onAbort);
  if ((opts.countTotals ?? true) && sources.every((s) => s.kind === 'dir' || s.kind === 'file')) {
    void (async () => {
      let files = 0;
      let bytes = 0;
      for (const s of sources) {
        if (counting.signal.aborted) return;
        if (s.kind === 'file') {
          const st = await fsp.stat(s.abs);
          if (!unchanged(path.basename(s.abs), st.size, Math.floor(st.mtimeMs / 1000))) { files++; bytes += st.size; }
          continue;
        }
        for await (const e of walkDirectory(s.abs, { exclude })) {
          if (counting.signal.aborted) return;
          if (!unchanged(e.path, e.size, e.mtime)) { files++; bytes += e.size; }
        }
      }
      if (!counting.signal.aborted) emit({ type: 'total', files, bytes });
    })().catch(() => { /* the real walk reports problems */ });
  }

  let exportManifest: Map<string, { size: number; crc32: number }> | null = null;

  async function* items(): AsyncGenerator<PutItem> {
    for (const s of sources) {
      if (s.kind === 'file') {
        const st = await fsp.stat(s.abs);
        yield { kind: 'file', path: path.basename(s.abs), abs: s.abs, size: st.size, mtime: Math.floor(st.mtimeMs / 1000) };
      } else if (s.kind === 'dir') {
        for await (const e of walkDirectory(s.abs, { exclude, onWarning: warn })) yield { kind: 'file', ...e };
      } else {
        const input = s.kind === 'stdin' ? (opts.stdin ?? process.stdin) : openTarFile(s.abs);
        try {
          for await (const t of readTar(input, { bufferLimit, exclude, onWarning: (n, m) => warn(`${s.arg}:${n}`, m) })) {
            yield { kind: 'tar', ...t, root: t.path === EXPORT_MANIFEST_NAME };
          }
        } catch (err) {
          throw new FdfsError('EINVAL', `cannot read tar archive: ${(err as Error).message}`, { subject: s.arg, cause: err });
        }
      }
    }
  }

  async function loadExportManifest(item: Extract<PutItem, { kind: 'tar' }>): Promise<void> {
    exportManifest ??= new Map();
    const add = (line: string) => {
      const r = parseManifestLine(line.trim());
      if (typeof r !== 'string') exportManifest!.set(r.path, { size: r.size, crc32: r.crc32 });
    };
    if (item.data) {
      for (const line of item.data.toString('utf8').split('\n')) if (line.trim()) add(line);
      return;
    }
    for await (const r of readManifest(item.stream!)) exportManifest.set(r.path, { size: r.size, crc32: r.crc32 });
  }

  /** One upload attempt; resolves with what goes into the manifest. */
  async function uploadOnce(item: PutItem, moved: { n: number }): Promise<{ fileId: string; size: number; crc32: number; mtime: number }> {
    const ext = extOf(item.path);
    let size = item.size;
    let mtime = item.mtime;
    let crc = 0;
    let fileId: string;
    if (item.kind === 'tar' && item.data) {
      crc = crc32(item.data);
      fileId = await opts.client.upload(item.data, { ext, group: opts.group });
    } else if (item.kind === 'tar') {
      const stream = item.stream!;
      const chunks = async function* (): AsyncGenerator<Uint8Array> {
        for await (const c of stream) {
          crc = crc32(c as Buffer, crc);
          moved.n += (c as Buffer).length;
          stats.bytesMoved += (c as Buffer).length;
          yield c as Buffer;
        }
      };
      try {
        fileId = await opts.client.upload(chunks(), { ext, group: opts.group, size });
      } finally {
        // Whatever happened, the archive must move on to its next entry.
        if (!stream.readableEnded) stream.destroy();
      }
    } else if (item.size <= SMALL_FILE) {
      // Small files are read synchronously: one read of a few KiB from the page cache costs less
      // than the four thread-pool round trips of open/fstat/read/close, and this is where
      // thousands-of-small-files runs spend their time.
      let data: Buffer;
      try {
        data = fs.readFileSync(item.abs);
      } catch (err) {
        throw permanent(toFdfsError(err, item.path));
      }
      if (data.length !== item.size) {
        // Changed since the walk: describe what we read.
        mtime = Math.floor(fs.statSync(item.abs).mtimeMs / 1000);
      }
      size = data.length;
      if (size > bufferLimit) throw new FdfsError('EAGAIN', 'file grew while being read', { subject: item.path });
      crc = crc32(data);
      fileId = await opts.client.upload(data, { ext, group: opts.group });
    } else {
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(item.abs, 'r');
      } catch (err) {
        throw permanent(toFdfsError(err, item.path));
      }
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw permanent(new FdfsError('EISDIR', 'no longer a regular file', { subject: item.path }));
        size = st.size;
        mtime = Math.floor(st.mtimeMs / 1000);
        if (size <= bufferLimit) {
          const data = await fh.readFile();
          size = data.length;
          crc = crc32(data);
          fileId = await opts.client.upload(data, { ext, group: opts.group });
        } else {
          const total = size;
          const chunks = async function* (): AsyncGenerator<Uint8Array> {
            let pos = 0;
            while (pos < total) {
              const buf = Buffer.allocUnsafe(Math.min(512 * 1024, total - pos));
              const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
              if (bytesRead === 0) break;
              const c = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
              pos += bytesRead;
              crc = crc32(c, crc);
              moved.n += bytesRead;
              stats.bytesMoved += bytesRead;
              yield c;
            }
          };
          fileId = await opts.client.upload(chunks(), { ext, group: opts.group, size: total });
        }
      } finally {
        await fh.close().catch(() => {});
      }
    }
    // End to end check: the storage puts the size and CRC-32 of what it received into the name
    // (§6.2, §6.3); they must be those of what we read.
    const d = splitFileId(fileId);
    const decoded = d ? decodeFileName(d.logicName) : null;
    if (decoded && decoded.type === 'normal' && (decoded.crc32 !== crc || decoded.nameSize !== size)) {
      await opts.client.delete(fileId).catch(() => {});
      throw new FdfsError('EIO', `stored file differs from the source (crc32 ${decoded.crc32.toString(16)} vs ${crc.toString(16)}, size ${decoded.nameSize} vs ${size})`, { subject: item.path });
    }
    return { fileId, size, crc32: crc, mtime };
  }

  async function handle(item: PutItem): Promise<void> {
    if (item.kind === 'tar' && item.root) {
      try {
        await loadExportManifest(item);
      } catch (err) {
        warn(item.path, `export manifest unreadable: ${(err as Error).message}`);
      } finally {
        if (item.stream && !item.stream.readableEnded) item.stream.destroy();
      }
      return;
    }
    const prev = resume.get(item.path);
    if (prev && prev.size === item.size && prev.mtime === item.mtime) {
      if (item.kind === 'tar') item.stream?.destroy();
      emit({ type: 'file', status: 'skipped', path: item.path, fileId: prev.fileId, size: item.size, reason: 'in manifest' });
      return;
    }
    let attempts = 0;
    const moved = { n: 0 };
    let r: Awaited<ReturnType<typeof uploadOnce>>;
    try {
      r = await withRetries(async (attempt) => {
        attempts = attempt + 1;
        stats.bytesMoved -= moved.n;
        moved.n = 0;
        const out = await uploadOnce(item, moved);
        if (moved.n === 0) stats.bytesMoved += out.size;
        return out;
      }, {
        // A streamed tar entry cannot be read twice: no temporary copy is kept.
        retries: item.kind === 'tar' && item.stream ? 0 : (opts.retries ?? 2),
        baseDelayMs: opts.retryDelayMs,
        onRetry: (err, attempt) => emit({ type: 'retry', path: item.path, attempt, error: (err as Error).message }),
      });
    } catch (err) {
      stats.bytesMoved -= moved.n;
      const e = toFdfsError(err, item.path);
      emit({ type: 'file', status: 'failed', path: item.path, size: item.size, error: e.message, code: e.code, attempts });
      return;
    }
    // Acknowledged by the storage: record it before anything else. A manifest that cannot be
    // written ends the run (the throw stops the pool): uploading on would store files nobody
    // can find again.
    manifest.append({ path: item.path, fileId: r.fileId, size: r.size, crc32: r.crc32, mtime: r.mtime });
    emit({ type: 'file', status: 'ok', path: item.path, fileId: r.fileId, size: r.size, crc32: r.crc32, mtime: r.mtime, attempts });
  }

  try {
    await runPool(items(), opts.concurrency ?? defaultConcurrency(), handle, { signal: opts.signal });
    if (exportManifest) await checkAgainstExport(exportManifest);
  } finally {
    counting.abort();
    opts.signal?.removeEventListener('abort', onAbort);
    manifest.close();
  }
  stats.interrupted = !!opts.signal?.aborted;
  return stats.summary();

  /**
   * The archive came from `fdfs export`: every file it lists must now be in our manifest with the
   * same size and CRC-32 (this run or an earlier one resumed here).
   */
  async function checkAgainstExport(expected: Map<string, { size: number; crc32: number }>): Promise<void> {
    for await (const r of readManifest(opts.manifest)) {
      const want = expected.get(r.path);
      if (!want) continue;
      expected.delete(r.path);
      if (want.size !== r.size || want.crc32 !== r.crc32) {
        emit({ type: 'file', status: 'failed', path: r.path, fileId: r.fileId, size: r.size, code: 'EIO', attempts: 1,
          error: `EIO: differs from the export manifest (size ${r.size} vs ${want.size}, crc32 ${r.crc32.toString(16)} vs ${want.crc32.toString(16)})` });
      }
    }
    if (expected.size > 0 && stats.failed === 0) {
      warn(EXPORT_MANIFEST_NAME, `${expected.size} file(s) listed in the export manifest were not in the archive`);
    }
  }
}
