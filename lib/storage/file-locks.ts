// Per-file serialisation for the commands that change a stored file in place (APPEND 24, MODIFY 34,
// TRUNCATE 36, REGENERATE 38, and the slave upload's "does it exist yet" check, PROTOCOL.md
// §3.3, §3.9–§3.13). The C server does not serialise them; two appends racing on one file there
// can interleave. Here a second writer waits until the first one has written, logged and answered,
// so no byte is lost or interleaved and binlog records come in the order the bytes were written.

/**
 * An async mutex per key (the file's physical path). Waiters run in arrival order; keys without
 * holders or waiters take no memory. MetadataStore keeps its own instance for `-m` files.
 */
export class FileLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run fn while holding the lock of `key`. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Run fn while holding the locks of every key (taken in sorted order, so two callers never deadlock). */
  async runAll<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const step = (i: number): Promise<T> => (i >= sorted.length ? fn() : this.run(sorted[i]!, () => step(i + 1)));
    return step(0);
  }

  /** Keys currently held or waited for (tests). */
  get size(): number {
    return this.tails.size;
  }
}
