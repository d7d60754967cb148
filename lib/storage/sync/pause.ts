/** A wakeable pause. A wake while nobody sleeps is kept, so the next sleep returns at once. */
export class Pause {
  private wakeFn: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending = false;

  sleep(ms: number): Promise<void> {
    this.release();
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeFn = resolve;
      this.timer = setTimeout(() => this.release(), Math.max(0, ms));
    });
  }

  wake(): void {
    if (this.wakeFn) this.release();
    else this.pending = true;
  }

  private release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.wakeFn;
    this.wakeFn = null;
    w?.();
  }
}
