import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { silentLogger, type Logger } from '../../util/log.ts';

// `<base_path>/data/trunk/binlog` (PROTOCOL.md §11.7): the trunk server appends allocator records,
// a member appends the bytes 30 brings. Writes are buffered (64 KiB) and written + fsync'ed every
// second and whenever the buffer is nearly full.

const BUFFER_LIMIT = 64 * 1024;
const FLUSH_MS = 1000;

export class TrunkBinlog {
  readonly file: string;
  private fh: fs.FileHandle | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes in the file (written to the OS). */
  private written = 0;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(dataDir: string, private readonly log: Logger = silentLogger) {
    this.file = path.join(dataDir, 'trunk', 'binlog');
  }

  get dir(): string { return path.dirname(this.file); }

  /** Create `data/trunk/` and the binlog when missing (§11.7: when 75 says use_trunk_file). */
  async open(): Promise<void> {
    if (this.fh) return;
    await fs.mkdir(this.dir, { recursive: true });
    this.fh = await fs.open(this.file, 'a', 0o644);
    this.written = (await this.fh.stat()).size;
    this.timer = setInterval(() => { void this.flush().catch((e: Error) => this.log('warn', `trunk binlog: ${e.message}`)); }, FLUSH_MS);
    this.timer.unref();
  }

  /** Logical size: what is in the file plus what waits in the buffer. */
  get size(): number { return this.written + this.pendingBytes; }

  /** Bytes already in the file: what a trunk-sync sender may read. */
  get flushedSize(): number { return this.written; }

  append(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.pendingBytes >= BUFFER_LIMIT - 128) void this.flush().catch((e: Error) => this.log('warn', `trunk binlog: ${e.message}`));
  }

  /** Write and fsync what is buffered. Calls are serialised. */
  flush(): Promise<void> {
    return this.serial(async () => {
      if (!this.fh || this.pendingBytes === 0) return;
      const count = this.pending.length;
      const data = Buffer.concat(this.pending, this.pendingBytes);
      // Appending (no position) keeps a partial write from a full disk at the end; what failed to
      // go out stays buffered for the next attempt.
      const { bytesWritten } = await this.fh.write(data, 0, data.length, null);
      this.pending.splice(0, count);
      this.pendingBytes -= data.length;
      this.written += bytesWritten;
      if (bytesWritten < data.length) {
        this.pending.unshift(data.subarray(bytesWritten));
        this.pendingBytes += data.length - bytesWritten;
      }
      await this.fh.sync();
    });
  }

  /**
   * Run `fn` with the binlog closed and flushed (rename, truncate, replace), then reopen it.
   * Records appended meanwhile wait in the buffer and land in the reopened file.
   */
  async whileClosed<T>(fn: () => Promise<T>): Promise<T> {
    let out!: T;
    await this.flush();
    await this.serial(async () => {
      if (this.fh) await this.fh.close();
      this.fh = null;
      try {
        out = await fn();
      } finally {
        await fs.mkdir(this.dir, { recursive: true });
        this.fh = await fs.open(this.file, 'a', 0o644);
        this.written = (await this.fh.stat()).size;
      }
    });
    return out;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch((e: Error) => this.log('warn', `trunk binlog: ${e.message}`));
    await this.serial(async () => {
      await this.fh?.close();
      this.fh = null;
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }
}
