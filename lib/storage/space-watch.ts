import { parseReservedSpace, type ReservedSpace } from '../config/values.ts';
import type { PathUsage } from '../protocol/storage-tracker.ts';

// Issue 15 defect 7: the trackers route uploads by the disk space storages report (84, §4.6),
// every stat_report_interval (300 s by default). A storage that filled up kept receiving uploads
// it refused, and one freed again was refused for minutes. This watch notices when a store path
// crosses the reserve, either way, and asks for a disk report at once.

/** How often the store paths are looked at (statfs; StorePaths caches it for 1 s anyway). */
const WATCH_MS = 1000;

/** The reserve the trackers apply (§8.1, §8.3): per path, and for the storage as a whole. */
function sideOf(paths: readonly PathUsage[], reserve: ReservedSpace): string {
  const n = Math.max(1, paths.length);
  const ok = (free: number, total: number, mb: number) => reserve.kind === 'mb' ? free > mb : total > 0 && free / total > reserve.ratio;
  let free = 0;
  let total = 0;
  let side = '';
  for (const p of paths) {
    free += p.freeMb;
    total += p.totalMb;
    side += ok(p.freeMb, p.totalMb, reserve.kind === 'mb' ? Math.floor(reserve.mb / n) : 0) ? '+' : '-';
  }
  return `${ok(free, total, reserve.kind === 'mb' ? reserve.mb : 0) ? '+' : '-'}${side}`;
}

export interface SpaceWatchOptions {
  diskUsage(): Promise<PathUsage[]>;
  /** reserved_storage_space as the trackers sent it (§4.2); undefined = not known yet. */
  reserve(): string | undefined;
  /** Called when a crossing is noticed: wake the report loops. */
  onCross(): void;
  everyMs?: number;
}

export class SpaceWatch {
  private side: string | null = null;
  private crossedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly opts: SpaceWatchOptions) {}

  start(): void {
    if (this.timer) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), this.opts.everyMs ?? WATCH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** True when the reserve was crossed after `lastReportMs` (a disk report is due now). */
  crossedSince(lastReportMs: number): boolean {
    return this.crossedAt > lastReportMs;
  }

  /** One look at the store paths (public for tests). */
  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const text = this.opts.reserve();
      if (text === undefined) return;
      const side = sideOf(await this.opts.diskUsage(), parseReservedSpace(text));
      if (this.side !== null && side !== this.side) {
        this.crossedAt = Date.now();
        this.opts.onCross();
      }
      this.side = side;
    } catch {
      // An unreadable reserve or a failed statfs: the periodic report still goes out.
    } finally {
      this.busy = false;
    }
  }
}
