import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClientConnection, type ConnectOptions } from '../../net/client-connection.ts';
import { CMD } from '../../protocol/codes.ts';
import { formatAddress } from '../../protocol/ip.ts';
import type { Logger } from '../../util/log.ts';
import { writeFileAtomic } from '../binlog.ts';
import { Sleeper } from '../reporter/core.ts';
import type { TrunkBinlog } from './binlog-writer.ts';

// One trunk-sync thread of the trunk server (PROTOCOL.md §11.7 "Sync to the other members",
// C trunk_sync.c): sends the trunk binlog to one member with 33 (from offset 0) and 30 (whole
// lines), remembering the offset in `data/trunk/<peer>.mark`.
// Deviations from 6.16 (§11.7, §13): we connect to the member's own port, not ours, and members on
// one of our own IPs get a sender too; the mark of a member without storage ids is named
// `<its ip>_<its port>` so two members on one IP keep separate marks.

/** A body of whole lines that fits a 64 KiB network buffer with its 10-byte header (§11.6). */
export const MAX_SYNC_BODY = 64 * 1024 - 10;

export interface TrunkSyncPeer {
  id: string;
  ip: string;
  port: number;
}

export interface TrunkSyncSenderOptions {
  peer: TrunkSyncPeer;
  binlog: TrunkBinlog;
  markFile: string;
  dial: ConnectOptions;
  heartBeatMs: number;
  /** sync_wait_msec: pause when there is nothing new. */
  syncWaitMs: number;
  /** sync_interval: pause after each 30, ms. */
  syncIntervalMs: number;
  log: Logger;
}

export function trunkMarkName(peer: TrunkSyncPeer, useStorageId: boolean): string {
  return useStorageId ? `${peer.id}.mark` : `${peer.ip}_${peer.port}.mark`;
}

export async function readTrunkMark(file: string): Promise<number> {
  try {
    const m = /binlog_offset=(\d+)/.exec(await fs.readFile(file, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function writeTrunkMark(file: string, offset: number): Promise<void> {
  return writeFileAtomic(file, `binlog_offset=${offset}\n`);
}

export class TrunkSyncSender {
  private stopping = false;
  private readonly sleeper = new Sleeper();
  private loop: Promise<void> | null = null;
  private conn: ClientConnection | null = null;
  private restartAtZero = false;
  /** Bytes of the binlog the member has (tests, monitoring). */
  offset = 0;
  /** Whether a session is up (33 done or not needed): only then does reached() wait. */
  private live = false;
  private waiters: Array<{ offset: number; resolve: () => void }> = [];

  constructor(private readonly o: TrunkSyncSenderOptions) {}

  get peer(): TrunkSyncPeer { return this.o.peer; }

  start(): void {
    this.loop ??= this.run().catch((err: Error) => this.o.log('error', `trunk sync to ${this.address}: ${err.stack ?? err}`));
  }

  /** §11.10: after a compression the member gets 33 and the whole new binlog. */
  restart(): void {
    this.restartAtZero = true;
    this.conn?.destroy();
    this.sleeper.wake();
  }

  /** Wake up for new binlog bytes now. */
  poke(): void { this.sleeper.wake(); }

  /**
   * Resolves once the member holds the binlog up to `offset` (30 answered), or at once when no
   * session is up; a session that fails (network timeout included) resolves its waiters too.
   */
  reached(offset: number): Promise<void> {
    if (!this.live || this.offset >= offset) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ offset, resolve });
      this.poke();
    });
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (this.live && this.offset < w.offset) return true;
      w.resolve();
      return false;
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.live = false;
    this.settle();
    this.sleeper.wake();
    // §11.5: wait up to 3 s, then cut the connection.
    const timer = setTimeout(() => this.conn?.destroy(), 3000);
    await this.loop;
    clearTimeout(timer);
  }

  private get address(): string { return formatAddress(this.o.peer.ip, this.o.peer.port); }

  private async run(): Promise<void> {
    const o = this.o;
    while (!this.stopping) {
      let conn: ClientConnection;
      try {
        conn = await ClientConnection.connect(o.peer.ip, o.peer.port, o.dial);
      } catch {
        await this.sleeper.sleep(1000);
        continue;
      }
      this.conn = conn;
      let pause = 1000;
      try {
        pause = await this.session(conn);
      } catch (err) {
        if (!this.stopping) o.log('debug', `trunk sync to ${this.address}: ${(err as Error).message}`);
        const code = (err as { code?: string }).code;
        pause = code === 'ENOTCONN' || code === 'EIO' ? 0 : 1000;
      } finally {
        this.live = false;
        this.settle();
        this.conn = null;
        await writeTrunkMark(o.markFile, this.offset).catch(() => {});
        conn.close();
      }
      if (pause > 0 && !this.stopping) await this.sleeper.sleep(pause);
    }
  }

  /** Returns the pause before reconnecting; throws on a failed exchange. */
  private async session(conn: ClientConnection): Promise<number> {
    const o = this.o;
    this.offset = this.restartAtZero ? 0 : await readTrunkMark(o.markFile);
    this.restartAtZero = false;
    if (this.offset > o.binlog.size) this.offset = 0;
    if (this.offset === 0) {
      try {
        await conn.request(CMD.TRUNK_TRUNCATE_BINLOG_FILE, [], { maxResponse: 0 });
      } catch (err) {
        o.log('debug', `TRUNK_TRUNCATE_BINLOG_FILE to ${this.address}: ${(err as Error).message}`);
        return 5000;
      }
      await writeTrunkMark(o.markFile, 0);
    }
    this.live = !this.stopping;
    let lastActive = Date.now();
    let markSaved = this.offset;
    while (!this.stopping && !this.restartAtZero) {
      const end = o.binlog.flushedSize;
      if (end < this.offset) {
        // The binlog was replaced (compression): the member starts over from 0 with 33.
        this.restartAtZero = true;
        return 0;
      }
      if (end > this.offset) {
        const body = await readLines(o.binlog.file, this.offset, Math.min(end - this.offset, MAX_SYNC_BODY));
        if (body.length === 0) return 1000; // a line longer than a package: cannot happen with our writer
        await conn.request(CMD.TRUNK_SYNC_BINLOG, body, { maxResponse: 0 });
        this.offset += body.length;
        this.settle();
        lastActive = Date.now();
        if (o.syncIntervalMs > 0) await this.sleeper.sleep(o.syncIntervalMs);
        continue;
      }
      if (markSaved !== this.offset) {
        await writeTrunkMark(o.markFile, this.offset);
        markSaved = this.offset;
      }
      if (Date.now() - lastActive >= o.heartBeatMs) {
        await conn.request(CMD.ACTIVE_TEST, [], { maxResponse: 0 });
        lastActive = Date.now();
      }
      await this.sleeper.sleep(Math.max(10, o.syncWaitMs));
    }
    return 0;
  }
}

/** Up to `max` bytes from `offset`, cut after the last `\n`. */
async function readLines(file: string, offset: number, max: number): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const b = Buffer.alloc(max);
    const { bytesRead } = await fh.read(b, 0, max, offset);
    const nl = b.lastIndexOf(0x0a, bytesRead - 1);
    return nl < 0 ? Buffer.alloc(0) : b.subarray(0, nl + 1);
  } finally {
    await fh.close();
  }
}

export function markPath(trunkDir: string, name: string): string {
  return path.join(trunkDir, name);
}
