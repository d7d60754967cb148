import type { Buffer } from 'node:buffer';
import type { Request } from '../../net/packet-server.ts';
import { decodeSyncStatusRequest, encodeSyncStatusResponse, type PeerSyncStatus } from '../../protocol/sync-status.ts';
import type { StorageContext } from '../context.ts';
import { checkGroup } from './common.ts';

// FDFS_SYNC_STATUS (122), an fdfs extension (codec and layout: lib/protocol/sync-status.ts): how
// far each peer is behind this storage's binlog. A group other than ours is EINVAL.

/**
 * How long one answer serves every asker while the binlog does not grow. Counting a peer's backlog
 * reads up to 64 MiB of binlog (BEHIND_SCAN_LIMIT); issue 15: without sharing, every `fdfs list`
 * of every client paid that per peer. At most one count runs at a time, whatever many ask.
 */
const FRESH_MS = 2000;

interface Answer {
  /** When the count finished (or started, while it runs). */
  at: number;
  /** The binlog end it was counted against: a new record makes it stale at once. */
  binlogEnd: string;
  settled: boolean;
  peers: Promise<PeerSyncStatus[]>;
}

const answers = new WeakMap<StorageContext, Answer>();

function currentStatus(ctx: StorageContext): Promise<PeerSyncStatus[]> {
  const now = Date.now();
  const end = ctx.binlog ? `${ctx.binlog.position().index}:${ctx.binlog.position().offset}` : '';
  const a = answers.get(ctx);
  // A count in progress is shared too (single flight), however long it takes.
  if (a && (!a.settled || (now - a.at < FRESH_MS && a.binlogEnd === end))) return a.peers;
  const next: Answer = { at: now, binlogEnd: end, settled: false, peers: ctx.syncStatus ? ctx.syncStatus() : Promise.resolve([]) };
  next.peers.then(() => { next.settled = true; next.at = Date.now(); }, () => { answers.delete(ctx); });
  answers.set(ctx, next);
  return next.peers;
}

export async function syncStatus(req: Request, ctx: StorageContext): Promise<Buffer> {
  const group = decodeSyncStatusRequest(await req.body());
  checkGroup(ctx, group);
  return encodeSyncStatusResponse(await currentStatus(ctx));
}
