import type { Buffer } from 'node:buffer';
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

// Tar output of `fdfs get --tar` and `fdfs export`: entries are written one at a time (a tar is
// sequential), each awaited until the archive stream accepted it, so a slow consumer (a pipe to
// ssh, a slow disk) holds back the downloads instead of filling memory.

export interface TarEntryHeader {
  /** Relative '/' path (the caller made it safe). */
  name: string;
  /** Unix seconds. */
  mtime: number;
  mode?: number;
}

/** Where a streamed entry's content goes; write() resolves when the archive can take more. */
export interface TarEntrySink {
  write(chunk: Buffer): Promise<void>;
}

export class TarWriter {
  readonly #pack: tar.Pack;
  readonly #done: Promise<void>;
  #lock: Promise<void> = Promise.resolve();
  #failure: Error | null = null;
  /** Entries written. */
  entries = 0;

  constructor(dest: Writable) {
    this.#pack = tar.pack();
    this.#done = pipeline(this.#pack as unknown as NodeJS.ReadableStream, dest).catch((e: Error) => {
      this.#failure ??= e;
      throw e;
    });
    // Surfaced by finish() or the next entry; never an unhandled rejection.
    this.#done.catch(() => {});
  }

  static toFile(file: string): TarWriter {
    return new TarWriter(fs.createWriteStream(file, { highWaterMark: 1024 * 1024 }));
  }

  /** Run fn with the archive to itself: entries never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(() => {
      if (this.#failure) throw this.#failure;
      return fn();
    });
    this.#lock = run.then(() => {}, () => {});
    return run;
  }

  /** A whole entry from memory. */
  addBuffer(h: TarEntryHeader, data: Buffer): Promise<void> {
    return this.#exclusive(() => new Promise<void>((resolve, reject) => {
      this.#pack.entry({ name: h.name, mtime: new Date(h.mtime * 1000), mode: h.mode ?? 0o644, type: 'file' }, data, (err) => {
        if (err) reject(err);
        else { this.entries++; resolve(); }
      });
    }));
  }

  /**
   * An entry of `size` bytes streamed by fn. fn must write exactly `size` bytes; if it throws
   * midway, the archive cannot be repaired (the header promised `size` bytes), so the writer fails
   * and every later call rejects.
   */
  addStream(h: TarEntryHeader & { size: number }, fn: (sink: TarEntrySink) => Promise<void>): Promise<void> {
    return this.#exclusive(async () => {
      let entryDone!: Promise<void>;
      const entry = this.#pack.entry({ name: h.name, size: h.size, mtime: new Date(h.mtime * 1000), mode: h.mode ?? 0o644, type: 'file' });
      entryDone = new Promise<void>((resolve, reject) => {
        entry.on('finish', () => resolve());
        entry.on('error', (e: Error) => reject(e));
        entry.on('close', () => resolve());
      });
      const sink: TarEntrySink = {
        write: (chunk) => {
          if (this.#failure) return Promise.reject(this.#failure);
          if (entry.write(chunk)) return Promise.resolve();
          return new Promise<void>((resolve, reject) => {
            const onDrain = () => { entry.off('error', onError); resolve(); };
            const onError = (e: Error) => { entry.off('drain', onDrain); reject(e); };
            entry.once('drain', onDrain);
            entry.once('error', onError);
          });
        },
      };
      try {
        await fn(sink);
      } catch (err) {
        this.#failure ??= err as Error;
        this.#pack.destroy(err as Error);
        throw err;
      }
      (entry as unknown as { end(): void }).end();
      await entryDone;
      this.entries++;
    });
  }

  /** Write the end-of-archive blocks and wait until the destination has everything. */
  async finish(): Promise<void> {
    await this.#lock;
    if (this.#failure) throw this.#failure;
    this.#pack.finalize();
    await this.#done;
  }

  /** Give up: the destination gets a truncated archive. */
  abort(err: Error = new Error('aborted')): void {
    this.#failure ??= err;
    this.#pack.destroy(err);
  }
}
