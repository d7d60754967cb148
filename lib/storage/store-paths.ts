import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { FdfsError } from '../protocol/errno.ts';
import type { PathUsage } from '../protocol/storage-tracker.ts';
import type { ReservedSpace } from '../config/values.ts';
import type { Logger } from '../util/log.ts';
import { silentLogger } from '../util/log.ts';

// Store paths (PROTOCOL.md §7.6, §8.3 storage side): `<store_pathN>/data/HH/HH` directories,
// disk usage, and the choice of a path for an upload.

const MB = 1024 * 1024;

export function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

export interface StorePathSpec {
  path: string;
  /** store_pathN_readonly: never chosen for uploads. */
  readonly: boolean;
}

export interface StorePathsOptions {
  paths: StorePathSpec[];
  /** subdir_count_per_path (1..256). */
  subdirCount: number;
  log?: Logger;
  /** Parallel mkdir calls when creating the sub-directories. */
  mkdirConcurrency?: number;
}

/** store_path of the tracker parameters (§4.2, §8.3): 0 round robin, 2 most free space. */
export type PathSelectMode = 0 | 2;

const USAGE_TTL_MS = 1000;

async function statfsMb(dir: string): Promise<PathUsage> {
  const s = await fs.statfs(dir);
  return {
    totalMb: Math.floor((Number(s.blocks) * Number(s.bsize)) / MB),
    freeMb: Math.floor((Number(s.bavail) * Number(s.bsize)) / MB),
  };
}

/** Run fn over items with at most `limit` promises in flight. */
async function parallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class StorePaths {
  readonly specs: readonly StorePathSpec[];
  readonly subdirCount: number;
  private readonly log: Logger;
  private readonly concurrency: number;
  private rrCursor = 0;

  constructor(opts: StorePathsOptions) {
    if (opts.paths.length === 0) throw new FdfsError('EINVAL', 'no store path configured');
    if (!Number.isInteger(opts.subdirCount) || opts.subdirCount < 1 || opts.subdirCount > 256) {
      throw new FdfsError('EINVAL', `subdir_count_per_path must be 1..256, not ${opts.subdirCount}`);
    }
    this.specs = opts.paths;
    this.subdirCount = opts.subdirCount;
    this.log = opts.log ?? silentLogger;
    this.concurrency = opts.mkdirConcurrency ?? 64;
  }

  get count(): number { return this.specs.length; }

  dataDir(index: number): string {
    return path.join(this.specs[index]!.path, 'data');
  }

  subdir(index: number, high: number, low: number): string {
    return path.join(this.specs[index]!.path, 'data', hex2(high), hex2(low));
  }

  /** Physical path of `Mxx/HH/HH/<base>` (the caller validated the logic name). */
  filePath(index: number, high: number, low: number, base: string): string {
    return path.join(this.subdir(index, high, low), base);
  }

  /**
   * Check every store path and create its `data/HH/HH` tree. A missing store path, or one we
   * cannot write (a read-only path must still be writable: deletes and metadata go there), is a
   * start-up error naming the path.
   */
  async init(): Promise<void> {
    // Every path is checked before any is filled: a bad store_path1 must not cost a
    // subdir_count² mkdir run on store_path0 first.
    for (let i = 0; i < this.specs.length; i++) {
      const p = this.specs[i]!.path;
      let st;
      try {
        st = await fs.stat(p);
      } catch (err) {
        throw new FdfsError('ENOENT', `store_path${i} ${p} does not exist`, { subject: p, cause: err });
      }
      if (!st.isDirectory()) throw new FdfsError('ENOTDIR', `store_path${i} ${p} is not a directory`, { subject: p });
      try {
        await fs.access(p, fsConstants.W_OK | fsConstants.X_OK);
      } catch (err) {
        throw new FdfsError('EROFS', `store_path${i} ${p} is not writable`, { subject: p, cause: err });
      }
    }
    for (let i = 0; i < this.specs.length; i++) await this.makeSubdirs(i);
  }

  /** Store paths whose sub-directories this process created (nothing a crash could have left in them). */
  private readonly createdData = new Set<number>();

  /** True when the sub-directories of store path `index` did not exist before this start. */
  createdByThisStart(index: number): boolean {
    return this.createdData.has(index);
  }

  private async makeSubdirs(index: number): Promise<void> {
    const data = this.dataDir(index);
    // data/00 rather than data itself: with store_path0 = base_path, data/ also holds the state
    // files and exists before the sub-directories do.
    if (!await fs.stat(path.join(data, hex2(0))).then(() => true, () => false)) this.createdData.add(index);
    try {
      await fs.mkdir(data, { recursive: true });
    } catch (err) {
      throw new FdfsError('EROFS', `cannot create ${data}: ${(err as Error).message}`, { subject: data, cause: err });
    }
    // Cheap completeness check on later starts: one readdir per high directory instead of
    // subdir_count² mkdir calls.
    const highs: number[] = [];
    for (let h = 0; h < this.subdirCount; h++) {
      try {
        const names = new Set(await fs.readdir(path.join(data, hex2(h))));
        let complete = true;
        for (let l = 0; l < this.subdirCount && complete; l++) complete = names.has(hex2(l));
        if (complete) continue;
      } catch { /* missing: create */ }
      highs.push(h);
    }
    if (highs.length === 0) return;
    const started = Date.now();
    // One high directory at a time: memory stays at one directory's worth of paths and promises
    // (a fresh 256 × 256 layout built in one go grew the daemon's RSS by ~40 MB for good).
    let created = 0;
    for (const h of highs) {
      const high = path.join(data, hex2(h));
      await fs.mkdir(high, { recursive: true });
      const leaves: string[] = [];
      for (let l = 0; l < this.subdirCount; l++) leaves.push(path.join(high, hex2(l)));
      await parallel(leaves, this.concurrency, async (dir) => {
        try {
          await fs.mkdir(dir);
          created++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      });
    }
    this.log('info', `created ${created} sub-directories under ${data} in ${Date.now() - started} ms`);
  }

  private usageCache: { at: number; usage: Promise<PathUsage[]> } | null = null;

  /**
   * Per store path total/free MB (free = blocks available to us). statfs costs a thread-pool
   * round trip, so one answer serves every upload for USAGE_TTL_MS; the reserve check stays
   * conservative because it subtracts each upload's own size.
   */
  diskUsage(): Promise<PathUsage[]> {
    const now = Date.now();
    if (this.usageCache && now - this.usageCache.at < USAGE_TTL_MS) return this.usageCache.usage;
    const usage = Promise.all(this.specs.map((s) => statfsMb(s.path)));
    this.usageCache = { at: now, usage };
    usage.catch(() => { this.usageCache = null; });
    return usage;
  }

  /**
   * §3.3: whether store path `index` keeps its reserve after `size` more bytes (a slave upload
   * goes to its master's path, whatever the others have). Same check as choose().
   */
  async hasRoom(index: number, size: number, reserve: ReservedSpace): Promise<boolean> {
    const u = (await this.diskUsage())[index]!;
    const free = u.freeMb - size / MB;
    if (free <= 0) return false;
    if (reserve.kind === 'mb') return free > reserve.mb / this.specs.length;
    return u.totalMb > 0 && free / u.totalMb > reserve.ratio;
  }

  /**
   * §8.3 storage side + §3.1: the store path an upload of `size` bytes goes to. `requested` is the
   * client's index (−1: we choose). A read-only requested path is replaced by another one. The
   * reserve (per path: reserved MB / path count, or the ratio) is checked including the upload
   * size; no path passing it ⇒ ENOSPC.
   */
  async choose(requested: number, size: number, reserve: ReservedSpace, mode: PathSelectMode): Promise<number> {
    const n = this.specs.length;
    if (!Number.isInteger(requested) || requested < -1 || requested >= n) {
      throw new FdfsError('EINVAL', `store path index ${requested} out of range 0..${n - 1}`);
    }
    const usage = await this.diskUsage();
    const sizeMb = size / MB;
    const fits = (i: number): boolean => {
      if (this.specs[i]!.readonly) return false;
      const u = usage[i]!;
      const free = u.freeMb - sizeMb;
      if (free <= 0) return false;
      if (reserve.kind === 'mb') return free > reserve.mb / n;
      return u.totalMb > 0 && free / u.totalMb > reserve.ratio;
    };
    if (requested >= 0 && fits(requested)) return requested;
    if (requested < 0 && mode === 2) {
      let best = -1;
      for (let i = 0; i < n; i++) if (fits(i) && (best < 0 || usage[i]!.freeMb > usage[best]!.freeMb)) best = i;
      if (best >= 0) return best;
    } else {
      // Round robin from the cursor (requested -1), or "another path" after a read-only/full one.
      const start = requested >= 0 ? requested + 1 : this.rrCursor;
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        if (fits(i)) {
          if (requested < 0) this.rrCursor = (i + 1) % n;
          return i;
        }
      }
    }
    const what = reserve.kind === 'mb' ? `${reserve.mb} MB` : `${(reserve.ratio * 100).toFixed(2)}%`;
    this.log('warn', `no store path can take ${size} bytes (reserved_storage_space ${what})`);
    throw new FdfsError('ENOSPC', `no store path has room for ${size} bytes above the reserved space (${what})`);
  }
}
