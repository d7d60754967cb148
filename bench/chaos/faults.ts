import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosLoad } from './load.ts';
import type { Rng } from './rng.ts';
import { RESERVE_MB, type ChaosCluster, type ChaosNode } from './topology.ts';
import { verify } from './verify.ts';

// The fault controller of a chaos run: one fault at a time, chosen and timed by the seeded
// generator, each injected, held, then healed before the next.

export type FaultKind = 'kill9-storage' | 'kill9-tracker' | 'sigstop-storage' | 'sigstop-tracker' | 'disk-full' | 'proxy-drop' | 'proxy-stall' | 'wipe-store-path';

export interface FaultOptions {
  cluster: ChaosCluster;
  load: ChaosLoad;
  rng: Rng;
  /** check_active_interval of the trackers (s): SIGSTOPs last longer than it. */
  checkActive: number;
  /** Pause between faults, s. */
  gapSec: [number, number];
  weights: Partial<Record<FaultKind, number>>;
  log: (s: string) => void;
}

export class FaultController {
  readonly counts = new Map<FaultKind, number>();
  readonly skipped = new Map<FaultKind, string>();
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: FaultOptions) {}

  start(untilMs: number): void {
    this.running = true;
    this.loop = this.run(untilMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(untilMs: number): Promise<void> {
    const { rng } = this.o;
    const weights = { ...this.o.weights };
    if (!this.o.cluster.fullDiskNode && weights['disk-full']) {
      delete weights['disk-full'];
      this.skipped.set('disk-full', 'no tmpfs could be mounted (needs root on Linux)');
    }
    while (this.running) {
      const gap = rng.int(this.o.gapSec[0] * 1000, this.o.gapSec[1] * 1000);
      const until = Date.now() + gap;
      while (this.running && Date.now() < until) await sleep(100);
      if (!this.running || Date.now() > untilMs) return;
      const kind = rng.weighted(weights as Record<FaultKind, number>);
      const t0 = Date.now();
      const did = await this.inject(kind, rng);
      if (did) {
        this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
        this.o.log(`fault ${kind}: ${did} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
  }

  /** One fault, healed before it returns; a description, or null when it could not be applied. */
  private async inject(kind: FaultKind, rng: Rng): Promise<string | null> {
    const c = this.o.cluster;
    switch (kind) {
      case 'kill9-storage': {
        const s = rng.pick(c.storages);
        await c.kill9(s);
        await sleep(rng.int(300, 3000));
        await c.startNode(s);
        return `${s.label} killed and restarted`;
      }
      case 'kill9-tracker': {
        const t = rng.pick(c.trackers);
        await c.kill9(t);
        await sleep(rng.int(300, 4000));
        await c.startNode(t);
        return `${t.label} killed and restarted`;
      }
      case 'sigstop-storage':
      case 'sigstop-tracker': {
        const n = rng.pick(kind === 'sigstop-storage' ? c.storages : c.trackers);
        const ms = (this.o.checkActive + rng.int(2, 5)) * 1000;
        c.stop9(n);
        await sleep(ms);
        c.cont(n);
        return `${n.label} stopped for ${ms / 1000} s`;
      }
      case 'disk-full': {
        const s = c.fullDiskNode!;
        const st = fs.statfsSync(s.storePath);
        const free = Number(st.bavail) * Number(st.bsize);
        // Down to a little under the per-path reserve: uploads there must be refused.
        const fill = free - (RESERVE_MB - 8) * 1024 * 1024;
        if (fill <= 0) return null;
        const filler = path.join(s.storePath, 'chaos-filler');
        try {
          // fallocate takes the space at once; writing it is the fallback.
          execFileSync('fallocate', ['-l', String(fill), filler], { stdio: 'ignore' });
        } catch {
          const fd = fs.openSync(filler, 'w');
          try {
            const chunk = Buffer.alloc(8 << 20);
            for (let left = fill; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, left));
          } catch { /* the tmpfs is full: that is the point */ } finally {
            fs.closeSync(fd);
          }
        }
        const ms = rng.int(6000, 15000);
        await sleep(ms);
        fs.rmSync(filler, { force: true });
        return `${s.label} store path filled to ${RESERVE_MB - 8} MB free for ${ms / 1000} s`;
      }
      case 'proxy-drop':
      case 'proxy-stall': {
        const mode = kind === 'proxy-drop' ? 'drop' : 'stall';
        const ms = rng.int(3000, 15000);
        c.proxy.inject(mode, c.proxyPeer.host);
        await sleep(ms);
        c.proxy.heal();
        return `link ${c.proxyPeer.label} → ${c.proxied.label} ${mode === 'drop' ? 'dropped' : 'stalled'} for ${ms / 1000} s`;
      }
      case 'wipe-store-path':
        return this.wipe(rng.pick(c.storages));
    }
  }

  /**
   * A replaced disk: only once everything acknowledged so far is on every member (a real disk
   * dies whenever, but then files that had no replica yet are lost by definition and the run could
   * not tell them from a bug). The load pauses for that check and resumes while the storage
   * recovers from its peers.
   */
  private async wipe(s: ChaosNode): Promise<string | null> {
    const c = this.o.cluster;
    await this.o.load.pause();
    try {
      const v = await verify(c, this.o.load.ledger, 60_000, () => {}, { group: s.group, except: s.id });
      if (v.convergedMs === null || !v.trackersAgree) {
        this.skipped.set('wipe-store-path', 'the cluster had not converged when a wipe was due');
        return null;
      }
      await c.kill9(s);
      for (const e of fs.readdirSync(s.storePath)) fs.rmSync(path.join(s.storePath, e), { recursive: true, force: true });
    } finally {
      this.o.load.resume();
    }
    await c.startNode(s, 600_000);
    return `${s.label} store path wiped; recovered from its peers`;
  }
}
