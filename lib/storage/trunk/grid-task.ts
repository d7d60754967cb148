import type { TimeOfDay } from '../../config/values.ts';
import type { Logger } from '../../util/log.ts';

// A task run at a local time of day and every `interval` seconds on that grid (PROTOCOL.md §11.9
// pre-creation, §11.10 scheduled compression; C sched_add_entries with a time base).

/** The first grid time (ms) after `nowMs`: base today + k × interval, k any integer. */
export function nextGridTime(base: TimeOfDay, intervalSec: number, nowMs: number): number {
  const d = new Date(nowMs);
  d.setHours(base.hour, base.minute, 0, 0);
  const step = intervalSec * 1000;
  const t0 = d.getTime();
  const k = Math.floor((nowMs - t0) / step) + 1;
  return t0 + k * step;
}

export class GridTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly base: TimeOfDay,
    private readonly intervalSec: number,
    private readonly fn: () => Promise<void>,
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  start(): void {
    if (this.intervalSec <= 0 || this.stopped) return;
    this.arm();
  }

  private arm(): void {
    // setTimeout takes at most 2^31 − 1 ms; a longer wait is re-armed on the way.
    const due = nextGridTime(this.base, this.intervalSec, Date.now());
    const wait = Math.min(due - Date.now(), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      if (Date.now() + 5 < due) { this.arm(); return; }
      this.running = this.fn().catch((err: Error) => this.log('warn', `${this.what}: ${err.message}`)).finally(() => {
        this.running = null;
        if (!this.stopped) this.arm();
      });
    }, Math.max(0, wait));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
