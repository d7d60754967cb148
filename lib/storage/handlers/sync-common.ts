import { MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { BinlogOp } from '../binlog.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import { nowSec } from './common.ts';

// What the receiving side of storage ↔ storage sync shares (PROTOCOL.md §5): who sent the
// records on this connection, counters, and the lower-case binlog records.

/** Bytes read per call when dropping content. */
const DISCARD_CHUNK = 256 * 1024;

/** The peer id a connection reported with REPORT_SERVER_ID (9), if it did (§5.1, §4.7). */
export function syncSourceOf(req: Request): string | undefined {
  const id = req.conn.data.syncSourceId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export function setSyncSource(req: Request, id: string): void {
  req.conn.data.syncSourceId = id;
}

/** A file name length field of a sync request (C: 1 … 127, else EINVAL). */
export function checkNameLength(n: number, what = 'filename_len'): void {
  if (!Number.isSafeInteger(n) || n <= 0 || n > MAX_FILENAME_LEN) {
    throw new FdfsError('EINVAL', `${what} ${n} is invalid`);
  }
}

/** Read and drop `n` content bytes the request carries but we do not need (EEXIST paths). */
export async function discard(req: Request, n = req.remaining): Promise<void> {
  let left = Math.min(n, req.remaining);
  while (left > 0) left -= (await req.readSome(Math.min(left, DISCARD_CHUNK))).length;
}

/**
 * A replica change is done: lower-case binlog record with the source's timestamp (§5.2, §7.2),
 * counters, and the source's sync progress (§7.3).
 */
export async function logApplied(req: Request, ctx: StorageContext, op: BinlogOp, name: string, timestamp: number,
  extra?: string, bytes = 0): Promise<void> {
  await ctx.binlog.append(extra === undefined ? { timestamp, op, name } : { timestamp, op, name, extra });
  noteApplied(req, ctx, timestamp, bytes);
}

/** Progress and counters only (EEXIST answers count as applied, §7.3). */
export function noteApplied(req: Request, ctx: StorageContext, timestamp: number, bytes = 0): void {
  const s = ctx.counters.stat;
  s.last_sync_update = nowSec();
  if (bytes > 0) ioEvent(ctx, 'sync-in', 'ok', bytes);
  ctx.counters.dirty = true;
  ctx.sync?.applied(syncSourceOf(req), timestamp);
}

/** Serialise changes of one stored file with the client commands that change it in place. */
export function withFileLock<T>(ctx: StorageContext, keys: string | string[], fn: () => Promise<T>): Promise<T> {
  const locks = ctx.fileLocks;
  if (!locks) return fn();
  return Array.isArray(keys) ? locks.runAll(keys, fn) : locks.run(keys, fn);
}
