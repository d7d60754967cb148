import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';

// The work loop of `fdfs put` / `fdfs get`: N workers pull items from one (possibly endless)
// source, so only N items are in memory at a time, and each item is retried a bounded number of
// times before it is reported as failed.

/** Default parallel transfers: enough to hide per-file round trips, not so many that disks thrash. */
export function defaultConcurrency(): number {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(4, Math.min(16, cpus * 2));
}

/**
 * Run worker over every item with at most `concurrency` in flight. Items are pulled lazily, one per
 * free worker. Stops pulling when the signal aborts (items in flight finish). A worker that throws
 * stops the pool and the error is rethrown once the others finished: workers are expected to catch
 * per-item failures themselves; a throw means the whole run must end (a corrupt tar, a full disk).
 */
export async function runPool<T>(items: AsyncIterable<T> | Iterable<T>, concurrency: number, worker: (item: T) => Promise<void>,
  opts: { signal?: AbortSignal } = {}): Promise<void> {
  const it = (Symbol.asyncIterator in items ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]()) as AsyncIterator<T> | Iterator<T>;
  let failure: { err: unknown } | null = null;
  let exhausted = false;
  const loop = async (): Promise<void> => {
    while (!failure && !exhausted && !opts.signal?.aborted) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (err) {
        failure ??= { err };
        return;
      }
      if (r.done) { exhausted = true; return; }
      try {
        await worker(r.value);
      } catch (err) {
        failure ??= { err };
        return;
      }
    }
  };
  const n = Math.max(1, Math.floor(concurrency) || 1);
  await Promise.all(Array.from({ length: n }, loop));
  if (!exhausted) {
    // Let the source clean up (close a tar stream, a directory handle).
    try { await it.return?.(); } catch { /* already failing */ }
  }
  if (failure) throw (failure as { err: unknown }).err;
}

export interface RetryOptions {
  /** Further attempts after the first (default 2). */
  retries?: number;
  /** Delay before the first retry, doubled each time up to 5 s (default 250 ms). */
  baseDelayMs?: number;
  /** False ⇒ fail at once (a local file that vanished, a refused path). */
  isRetryable?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number) => void;
  signal?: AbortSignal;
}

/** Errors no retry can fix: marked `retryable: false` (the FdfsError field). */
export function permanent<E extends Error>(err: E): E {
  (err as E & { retryable?: boolean }).retryable = false;
  return err;
}

export function isPermanent(err: unknown): boolean {
  return (err as { retryable?: boolean } | null)?.retryable === false;
}

export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const retries = Math.max(0, opts.retries ?? 2);
  const base = opts.baseDelayMs ?? 250;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const retryable = !isPermanent(err) && (opts.isRetryable?.(err) ?? true);
      if (!retryable || attempt >= retries || opts.signal?.aborted) throw err;
      opts.onRetry?.(err, attempt + 1);
      try {
        await sleep(Math.min(5000, base * 2 ** attempt), undefined, { signal: opts.signal });
      } catch {
        throw err;
      }
    }
  }
}
