// Repeated log lines are rate-limited (issue 15: 100,000 bad packets must not write 7 MB of log):
// lines that differ only in their numbers (addresses, ports, sizes) count as one kind; each kind
// gets `burst` lines per window, and what was dropped is reported once the window ends.

export interface LogLimiterOptions {
  /** Lines of one kind written per window (default 20). */
  burst?: number;
  /** Window length in ms (default 10 s). */
  windowMs?: number;
  /** Kinds tracked at once; past it, new kinds share one budget (default 1000). */
  maxKinds?: number;
  now?: () => number;
}

interface Kind {
  start: number;
  written: number;
  suppressed: number;
  level: string;
  last: string;
}

const OVERFLOW = '\0overflow';

export class LogLimiter {
  private readonly burst: number;
  private readonly windowMs: number;
  private readonly maxKinds: number;
  private readonly now: () => number;
  private readonly kinds = new Map<string, Kind>();
  private timer: NodeJS.Timeout | null = null;
  private emit: ((level: string, msg: string) => void) | null = null;

  constructor(opts: LogLimiterOptions = {}) {
    this.burst = opts.burst ?? 20;
    this.windowMs = opts.windowMs ?? 10_000;
    this.maxKinds = opts.maxKinds ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Where summaries go (the logger's own output). */
  attach(emit: (level: string, msg: string) => void): void {
    this.emit = emit;
  }

  /** True when this line may be written now; false when it is counted instead. */
  admit(level: string, msg: string): boolean {
    const t = this.now();
    let key = `${level} ${msg.replace(/\d+/g, '#')}`;
    if (!this.kinds.has(key) && this.kinds.size >= this.maxKinds) key = OVERFLOW;
    let k = this.kinds.get(key);
    if (k && t - k.start >= this.windowMs) {
      this.report(k);
      k = undefined;
    }
    if (!k) {
      k = { start: t, written: 0, suppressed: 0, level, last: '' };
      this.kinds.set(key, k);
    }
    if (k.written < this.burst) {
      k.written++;
      return true;
    }
    k.suppressed++;
    k.last = msg;
    this.schedule();
    return false;
  }

  /** Report every window that has ended, forget kinds that went quiet. */
  flush(all = false): void {
    const t = this.now();
    for (const [key, k] of this.kinds) {
      if (!all && t - k.start < this.windowMs) continue;
      this.report(k);
      this.kinds.delete(key);
    }
    if (this.timer && this.kinds.size === 0) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private report(k: Kind): void {
    if (k.suppressed === 0) return;
    const secs = Math.max(1, Math.round((this.now() - k.start) / 1000));
    this.emit?.(k.level, `${k.suppressed} more similar line(s) suppressed in ${secs} s; the last: ${k.last}`);
    k.suppressed = 0;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
      if ([...this.kinds.values()].some((k) => k.suppressed > 0)) this.schedule();
    }, this.windowMs);
    this.timer.unref?.();
  }
}
