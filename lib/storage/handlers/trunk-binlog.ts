import { Buffer } from 'node:buffer';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Handler, Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import type { TrunkService } from '../trunk/types.ts';
import { trunkAllocConfirm, trunkAllocSpace, trunkFreeSpace } from './trunk-alloc.ts';

// 30 TRUNK_SYNC_BINLOG, 31 TRUNK_GET_BINLOG_SIZE, 32 TRUNK_DELETE_BINLOG_MARKS,
// 33 TRUNK_TRUNCATE_BINLOG_FILE (PROTOCOL.md §11.6, §11.7), and the table of every trunk command.

function service(ctx: StorageContext): TrunkService {
  if (!ctx.trunk?.params) throw new FdfsError('EINVAL', 'use_trunk_file is off');
  return ctx.trunk;
}

function noBody(req: Request, what: string): void {
  if (req.length !== 0) throw new FdfsError('EINVAL', `${what} with a ${req.length}-byte body`);
}

/** The member appends the bytes unparsed; the package must fit its buff_size (§11.6). */
export async function trunkSyncBinlog(req: Request, ctx: StorageContext): Promise<void> {
  if (req.length === 0) throw new FdfsError('EINVAL', 'TRUNK_SYNC_BINLOG with an empty body');
  const trunk = service(ctx);
  trunk.appendSynced(await req.body());
}

export function trunkGetBinlogSize(req: Request, ctx: StorageContext): Buffer {
  noBody(req, 'TRUNK_GET_BINLOG_SIZE');
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(service(ctx).binlogSize()));
  return b;
}

export async function trunkDeleteBinlogMarks(req: Request, ctx: StorageContext): Promise<void> {
  noBody(req, 'TRUNK_DELETE_BINLOG_MARKS');
  await service(ctx).deleteBinlogMarks();
}

export async function trunkTruncateBinlogFile(req: Request, ctx: StorageContext): Promise<void> {
  noBody(req, 'TRUNK_TRUNCATE_BINLOG_FILE');
  await service(ctx).truncateBinlog();
}

/** Commands 27–33 for the storage's command table (handlers/index.ts). */
export const TRUNK_HANDLERS: ReadonlyArray<[number, Handler<StorageContext>]> = [
  [CMD.TRUNK_ALLOC_SPACE, trunkAllocSpace],
  [CMD.TRUNK_ALLOC_CONFIRM, trunkAllocConfirm],
  [CMD.TRUNK_FREE_SPACE, trunkFreeSpace],
  [CMD.TRUNK_SYNC_BINLOG, trunkSyncBinlog],
  [CMD.TRUNK_GET_BINLOG_SIZE, trunkGetBinlogSize],
  [CMD.TRUNK_DELETE_BINLOG_MARKS, trunkDeleteBinlogMarks],
  [CMD.TRUNK_TRUNCATE_BINLOG_FILE, trunkTruncateBinlogFile],
];
