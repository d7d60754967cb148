import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FdfsClient } from '../../lib/client/client.ts';
import { FdfsError } from '../../lib/protocol/errno.ts';
import { crc32 } from '../../lib/protocol/crc32.ts';
import { Ledger, type FileRecord, type OpKind } from './ledger.ts';
import type { Rng } from './rng.ts';

// The client load of a chaos run: uploads (4 KiB – maxSize, log-uniform), appender uploads,
// appends, modifies, metadata changes, deletes and verified downloads, from `workers` concurrent
// loops, each decision drawn from the seeded generator. Upload bytes are rate-limited so a long
// run stays within the machine's disk and memory.

export interface LoadOptions {
  trackers: string[];
  workers: number;
  maxSize: number;
  /** Upload budget, bytes per second over the whole run. */
  bytesPerSec: number;
  rng: Rng;
  networkTimeout: number;
}

const WEIGHTS: Record<OpKind, number> = {
  'upload': 30, 'upload-appender': 6, 'append': 10, 'modify': 6, 'set-metadata': 8, 'delete': 10, 'download': 30,
};

/** Failures that prove the operation did not happen: the request was refused before any change. */
function refused(err: unknown): boolean {
  const code = (err as FdfsError).code;
  return ['ENOSPC', 'ENOENT', 'EINVAL', 'ECONNREFUSED', 'EACCES', 'EOPNOTSUPP'].includes(code);
}

export class ChaosLoad {
  readonly ledger = new Ledger();
  private readonly client: FdfsClient;
  private running = false;
  private paused = false;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private workers: Promise<void>[] = [];
  private readonly started = Date.now();

  constructor(private readonly o: LoadOptions) {
    this.client = new FdfsClient({ trackers: o.trackers, networkTimeout: o.networkTimeout, connectTimeout: 3 });
  }

  start(): void {
    this.running = true;
    for (let w = 0; w < this.o.workers; w++) this.workers.push(this.loop(this.o.rng.fork(w + 1)));
  }

  /** No new operations; resolves once those in flight have ended. */
  async pause(): Promise<void> {
    this.paused = true;
    if (this.inflight > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  resume(): void { this.paused = false; }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    await this.client.close();
  }

  private async loop(rng: Rng): Promise<void> {
    while (this.running) {
      if (this.paused) { await sleep(50); continue; }
      this.inflight++;
      try {
        // A failed operation waits a little: a dead tracker must not turn the load into a busy loop.
        const failed = this.ledger.failures;
        await this.one(rng);
        if (this.ledger.failures > failed) await sleep(rng.int(100, 400));
      } finally {
        if (--this.inflight === 0 && this.paused) for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  private async one(rng: Rng): Promise<void> {
    const L = this.ledger;
    const pick = (n: number) => rng.int(0, n - 1);
    let kind = rng.weighted(WEIGHTS);
    if (L.liveCount < 5 && kind !== 'upload-appender') kind = 'upload';
    switch (kind) {
      case 'upload':
      case 'upload-appender': {
        // Rate limit: wait while the run is ahead of its byte budget.
        while (this.running && L.uploadedBytes > (Date.now() - this.started) / 1000 * this.o.bytesPerSec) await sleep(50);
        const appender = kind === 'upload-appender';
        const size = rng.logUniform(4096, appender ? Math.min(this.o.maxSize, 1 << 20) : this.o.maxSize);
        const data = crypto.randomBytes(size);
        try {
          const id = await this.client.upload(data, { ext: 'bin', appender, group: rng.chance(0.5) ? 'group1' : 'group2' });
          L.added(id, data, appender);
          L.count(kind);
        } catch (err) {
          L.count(kind, err);
        }
        return;
      }
      case 'append':
      case 'modify': {
        const r = L.take(pick, (f) => f.appender && f.size < 4 << 20);
        if (!r) return;
        const old = r.content!;
        const data = crypto.randomBytes(rng.int(1, 64 * 1024));
        const offset = kind === 'modify' ? rng.int(0, Math.max(0, old.length - data.length)) : old.length;
        await this.onFile(kind, r, async () => {
          if (kind === 'append') await this.client.append(r.id, data);
          else await this.client.modify(r.id, offset, data);
          const next = Buffer.alloc(Math.max(old.length, offset + data.length));
          old.copy(next);
          data.copy(next, offset);
          this.setContent(r, next);
        }, () => { r.state = 'uncertain'; });
        return;
      }
      case 'set-metadata': {
        const r = L.take(pick);
        if (!r) return;
        const meta = { chaos: String(rng.int(0, 1e9)), size: String(r.size) };
        await this.onFile(kind, r, async () => {
          await this.client.setMetadata(r.id, meta, 'overwrite');
          r.meta = meta;
        }, () => { r.meta = 'uncertain'; });
        return;
      }
      case 'delete': {
        const r = L.take(pick);
        if (!r) return;
        await this.onFile(kind, r, async () => {
          await this.client.delete(r.id);
          r.state = 'deleted';
          r.content = undefined;
        }, () => { r.state = 'uncertain'; });
        return;
      }
      case 'download': {
        // Appender files may lag on a replica (their changes are replicated after the fact).
        const r = L.take(pick, (f) => !f.appender);
        if (!r) return;
        await this.onFile(kind, r, async () => {
          const b = await this.client.downloadToBuffer(r.id);
          if (b.length !== r.size || crc32(b) !== r.crc) {
            L.corruptReads.push(`${r.id}: read ${b.length} bytes CRC32 ${crc32(b).toString(16)}, acknowledged ${r.size} bytes CRC32 ${r.crc.toString(16)}`);
          }
        }, (err) => { if ((err as FdfsError).code === 'ENOENT') L.readMisses++; }, false);
        return;
      }
    }
  }

  /**
   * One operation on a busy file: counted as acknowledged when `op` resolves; when it fails
   * without a refusal that proves nothing happened, `unanswered` records the doubt.
   */
  private async onFile(kind: OpKind, r: FileRecord, op: () => Promise<void>, unanswered: (err: unknown) => void, onlyUnanswered = true): Promise<void> {
    try {
      await op();
      this.ledger.count(kind);
    } catch (err) {
      if (!onlyUnanswered || !refused(err)) unanswered(err);
      this.ledger.count(kind, err);
    } finally {
      r.busy = false;
    }
  }

  private setContent(r: FileRecord, content: Buffer): void {
    r.content = content;
    r.size = content.length;
    r.crc = crc32(content);
  }
}
