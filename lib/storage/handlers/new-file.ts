import { FdfsError } from '../../protocol/errno.ts';
import type { FileRef } from '../engine/engine.ts';
import type { StorageContext } from '../context.ts';

// What the commands that store content under a new name share (UPLOAD 11/23, UPLOAD_SLAVE 21;
// PROTOCOL.md §3.1–§3.3, §6.5). Receiving and naming are the engine's (engine.ts receive/commit).

/**
 * §7.2 `C <name>`, timestamp = the one the name carries. A file whose creation cannot be logged
 * would never reach the replicas, and its client gets an error: it is removed again.
 */
export async function logCreated(ctx: StorageContext, file: FileRef, timestamp: number): Promise<void> {
  try {
    await ctx.binlog.append({ timestamp, op: 'C', name: file.logicName });
  } catch (err) {
    await ctx.engine.remove(file, { origin: 'client' }).catch(() => {});
    throw err instanceof FdfsError ? err : new FdfsError('EIO', `cannot store ${file.logicName}: ${(err as Error).message}`, { subject: file.logicName, cause: err });
  }
}
