import type { Buffer } from 'node:buffer';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { decodeFetchIdsResponse } from '../protocol/storage-tracker.ts';

/**
 * What the client and the storage share when they talk to "the trackers" (PROTOCOL.md §1.4):
 * trying a list of trackers in order until one answers, and paging FETCH_STORAGE_IDS (§4.13).
 * Connections themselves stay with the callers (the client pools them, the storage does not).
 */

/** One `tracker_server` entry: one or two addresses (inner, outer) sharing a port. */
export interface TrackerEndpoint {
  hosts: readonly string[];
  port: number;
}

/** `host[,host2]:port` as the JOIN body and the logs write a tracker (§4.3, IPv6 in brackets). */
export function trackerLine(t: TrackerEndpoint): string {
  const list = t.hosts.join(',');
  return t.hosts.some((h) => h.includes(':')) ? `[${list}]:${t.port}` : `${list}:${t.port}`;
}

/** Errors of a connect attempt or of a connection that died under a request: worth the next tracker. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ENOTCONN']);

export function isUnreachable(err: unknown): boolean {
  return UNREACHABLE.has(toFdfsError(err).code);
}

export interface TryTrackersOptions<E> {
  /** Index of the first entry to try; the later ones follow, then the earlier ones (§1.4 rule 2). */
  start?: number;
  /** Whether an error moves on to the next tracker (default: unreachable / timed out only, §1.4 rule 4). */
  moveOn?: (err: FdfsError) => boolean;
  /** One line when moving on, naming the tracker given up and the next one. */
  onMoveOn?: (failed: E, err: FdfsError, next: E) => void;
  /** Called before each attempt; throwing stops the loop (e.g. a stopped reporter). */
  check?: () => void;
}

/**
 * Run `attempt` on each tracker in turn until one succeeds. Errors `moveOn` rejects end the loop
 * at once; when every tracker failed, the error names them all.
 */
export async function tryTrackers<E extends TrackerEndpoint, T>(entries: readonly E[],
  attempt: (entry: E, index: number) => Promise<T>, opts: TryTrackersOptions<E> = {}): Promise<{ value: T; index: number }> {
  const n = entries.length;
  if (n === 0) throw new FdfsError('EINVAL', 'no tracker server configured');
  const moveOn = opts.moveOn ?? isUnreachable;
  const failures: FdfsError[] = [];
  for (let i = 0; i < n; i++) {
    opts.check?.();
    const index = ((opts.start ?? 0) + i) % n;
    const entry = entries[index]!;
    try {
      return { value: await attempt(entry, index), index };
    } catch (err) {
      const e = toFdfsError(err, trackerLine(entry));
      if (!moveOn(e)) throw e;
      failures.push(e);
      if (i + 1 < n) opts.onMoveOn?.(entry, e, entries[(index + 1) % n]!);
    }
  }
  if (failures.length === 1) throw failures[0]!;
  // A tracker that answered (e.g. ENOENT) says more than the ones that could not be reached.
  const answer = failures.find((f) => !isUnreachable(f));
  if (answer) throw answer;
  const last = failures[failures.length - 1]!;
  const codes = [...new Set(failures.map((f) => f.code))].join(', ');
  throw new FdfsError(last.errno, `no tracker answered (${codes})`, { subject: entries.map(trackerLine).join(', '), cause: last });
}

/** Most round trips for one id list (§4.13: the C code pages at most 32 times). */
export const FETCH_IDS_MAX_ROUNDS = 32;

/**
 * FETCH_STORAGE_IDS (69) paged until every line arrived: `request(start)` sends one page request.
 * An empty page ends early (the tracker has nothing more to give); fewer lines than announced
 * after FETCH_IDS_MAX_ROUNDS pages is an error.
 */
export async function fetchStorageIdPages(request: (startIndex: number) => Promise<Buffer>, subject: string): Promise<string[]> {
  const lines: string[] = [];
  let total = 0;
  for (let round = 0; round < FETCH_IDS_MAX_ROUNDS; round++) {
    const reply = await request(lines.length);
    let page: { total: number; lines: string[] };
    try {
      page = decodeFetchIdsResponse(reply);
    } catch (err) {
      throw new FdfsError('EPROTO', `FETCH_STORAGE_IDS reply: ${(err as Error).message}`, { subject });
    }
    total = page.total;
    lines.push(...page.lines);
    if (lines.length >= total || page.lines.length === 0) break;
  }
  if (lines.length < total) {
    throw new FdfsError('EPROTO', `FETCH_STORAGE_IDS: ${lines.length} of ${total} ids after ${FETCH_IDS_MAX_ROUNDS} pages`, { subject });
  }
  return lines;
}
