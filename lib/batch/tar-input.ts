import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { normalizeRelPath } from './safe-path.ts';

// Tar sources of `fdfs put` (a .tar / .tar.gz file, or a stream on stdin). Entries are handed
// out one at a time, as tar-stream parses them: nothing is copied to disk.

export interface TarItem {
  /** Entry name, normalised to a safe relative '/' path. */
  path: string;
  size: number;
  /** Unix seconds. */
  mtime: number;
  /** Small entries come read whole, so they can be uploaded concurrently and retried. */
  data?: Buffer;
  /**
   * Large entries come as a stream of exactly `size` bytes. The caller must read it to the end or
   * destroy it (the rest is then skipped); the next entry is parsed only after that.
   */
  stream?: Readable;
}

export interface ReadTarOptions {
  /** Entries up to this size are read into memory (default 1 MiB); larger ones are streamed. */
  bufferLimit?: number;
  /** Relative paths to leave out. */
  exclude?: (relPath: string) => boolean;
  /** Entries skipped: links, devices, FIFOs, unsafe names. */
  onWarning?: (name: string, message: string) => void;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Wait until `n` bytes can be read, look at them and put them back. Resolves with fewer bytes
 * (possibly none) when the stream ends first.
 */
function peek(input: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
    };
    const onReadable = () => {
      const b = input.read(n) as Buffer | null;
      if (b === null) return;
      cleanup();
      input.unshift(b);
      resolve(b);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.alloc(0)); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    input.on('readable', onReadable);
    input.once('end', onEnd);
    input.once('error', onError);
  });
}

/** The input, gunzipped when it starts with the gzip magic (whatever the file is called). */
export async function maybeGunzip(input: Readable): Promise<Readable> {
  const head = await peek(input, 2);
  if (head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1]) {
    const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
    input.on('error', (e) => gunzip.destroy(e));
    return input.pipe(gunzip);
  }
  return input;
}

export function openTarFile(file: string): Readable {
  return fs.createReadStream(file, { highWaterMark: 1024 * 1024 });
}

type EntryArgs = tar.ExtractEvents['entry'];

interface Pending {
  header: EntryArgs[0];
  stream: EntryArgs[1];
  next: EntryArgs[2];
}

/** Does the name look like a tar of ours: `.tar`, `.tar.gz`, `.tgz`. */
export function isTarName(file: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(file);
}

/** Read every regular-file entry of a tar stream (gzip detected by its magic bytes). */
export async function* readTar(input: Readable, opts: ReadTarOptions = {}): AsyncGenerator<TarItem> {
  const bufferLimit = opts.bufferLimit ?? 1024 * 1024;
  const src = await maybeGunzip(input);
  const extract = tar.extract();
  let pending: Pending | null = null;
  let finished = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const signal = () => { const w = wake; wake = null; w?.(); };
  extract.on('entry', (header, stream, next) => {
    pending = { header, stream, next };
    signal();
  });
  const done = pipeline(src, extract as unknown as NodeJS.WritableStream).then(
    () => { finished = true; signal(); },
    (e: Error) => { failure = e; signal(); },
  );
  try {
    for (;;) {
      while (!pending && !finished && !failure) await new Promise<void>((r) => { wake = r; });
      if (failure) throw failure;
      if (!pending) break;
      const { header, stream, next } = pending as Pending;
      pending = null;
      const type = header.type ?? 'file';
      const raw = header.name.replace(/^\/+/, '');
      const name = normalizeRelPath(raw);
      const size = header.size ?? 0;
      const skip = (why?: string) => {
        if (why) opts.onWarning?.(header.name, why);
        stream.on('end', () => next());
        stream.resume();
      };
      if (type !== 'file' && type !== 'contiguous-file') {
        skip(type === 'directory' ? undefined : `skipped ${type} entry`);
        continue;
      }
      if (name === null) { skip('skipped: unsafe entry name'); continue; }
      if (opts.exclude?.(name)) { skip(); continue; }
      const mtime = header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0;
      if (size <= bufferLimit) {
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        next();
        const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        yield { path: name, size, mtime, data };
        continue;
      }
      // Streamed: the entry feeds a stream we own, with backpressure; if the consumer gives up
      // (destroys it), the rest of the entry is skipped rather than killing the whole archive.
      const out = new PassThrough({ highWaterMark: 256 * 1024 });
      const ended = new Promise<void>((resolve) => {
        stream.on('end', () => { if (!out.destroyed) out.end(); resolve(); });
        stream.on('error', () => resolve());
      });
      stream.on('data', (data) => {
        const c = data as Buffer;
        if (out.destroyed) return;
        if (!out.write(c)) stream.pause();
      });
      out.on('drain', () => stream.resume());
      out.on('close', () => stream.resume());
      yield { path: name, size, mtime, stream: out };
      await ended;
      next();
    }
  } finally {
    if (!finished && !failure) {
      extract.destroy();
      src.destroy();
    }
    await done;
  }
}
