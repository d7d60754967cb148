import { Buffer } from 'node:buffer';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { parseLogicName } from '../../protocol/filename.ts';
import { PATH_BINLOG_UNKNOWN_LENGTH, decodePathBinlogRequest, encodePathBinlogTrailer } from '../../protocol/path-binlog.ts';
import type { Request } from '../../net/packet-server.ts';
import type { BinlogRecord } from '../binlog.ts';
import type { StorageContext } from '../context.ts';
import { BinlogReader } from '../sync/binlog-reader.ts';
import { checkGroup } from './common.ts';

// FETCH_ONE_PATH_BINLOG (26), PROTOCOL.md §5.8: the create/link/rename history of one store path,
// re-typed to what each file is now, for a peer rebuilding that path (disk recovery, §5.11).

/** Lines gathered before one socket write. */
const OUT_CHUNK = 64 * 1024;

const HEADER = (() => {
  const b = Buffer.alloc(10);
  b.writeBigInt64BE(PATH_BINLOG_UNKNOWN_LENGTH, 0);
  b[8] = CMD.RESP;
  return b;
})();

export async function fetchOnePathBinlog(req: Request, ctx: StorageContext): Promise<void> {
  const { group, storePathIndex } = decodePathBinlogRequest(await req.body());
  checkGroup(ctx, group);
  if (storePathIndex >= ctx.storePaths.count) {
    throw new FdfsError('EINVAL', `store path index ${storePathIndex} ≥ store_path_count ${ctx.storePaths.count}`);
  }
  ctx.log('info', `${req.conn.address}: sending the binlog of store path ${storePathIndex} (disk recovery)`);
  const writerIndex = ctx.binlog.position().index;
  const reader = new BinlogReader({ dir: ctx.binlog.dir, currentIndex: () => writerIndex, start: { index: 0, offset: 0 } });
  // The reply is final once the header is out: a failure later can only cut the stream, which
  // the reader notices by the missing trailer (§5.8).
  req.responded = true;
  req.closeAfter = true;
  await req.conn.write(HEADER);
  let pending: string[] = [];
  let pendingBytes = 0;
  let total = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = Buffer.from(pending.join(''), 'latin1');
    pending = [];
    pendingBytes = 0;
    total += chunk.length;
    await req.conn.write(chunk);
  };
  try {
    for (;;) {
      const item = await reader.next();
      if (item.kind === 'eof') break;
      if (item.kind !== 'record') continue;
      const line = await recoveryLine(ctx, item.record, storePathIndex);
      if (line === null) continue;
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= OUT_CHUNK) await flush();
    }
    await flush();
  } catch (err) {
    req.conn.destroy();
    throw err;
  } finally {
    await reader.close();
  }
  await req.conn.write(encodePathBinlogTrailer(total));
  ctx.log('info', `${req.conn.address}: binlog of store path ${storePathIndex} sent (${total} bytes)`);
}

/**
 * §5.8 per record: only C/c, L/l, R/r of the requested path; R/r become C/c of the new name; the
 * op follows what the file is now (symlink ⇒ L/l with its target, else C/c); a record whose file
 * or link target is gone is left out.
 */
async function recoveryLine(ctx: StorageContext, r: BinlogRecord, index: number): Promise<string | null> {
  if (!'CcLlRr'.includes(r.op)) return null;
  const parsed = parseLogicName(r.name);
  if (!parsed || parsed.storePathIndex !== index) return null;
  if (parsed.high >= ctx.storePaths.subdirCount || parsed.low >= ctx.storePaths.subdirCount || parsed.base.startsWith('.')) return null;
  const file = { logicName: r.name, parsed, path: ctx.storePaths.filePath(index, parsed.high, parsed.low, parsed.base) };
  const st = await ctx.engine.stat(file);
  if (!st) return null;
  const upper = r.op === r.op.toUpperCase();
  if (st.type !== 'link') return `${r.timestamp} ${upper ? 'C' : 'c'} ${r.name}\n`;
  // C takes the part after `<store path>/data/` and prefixes it with the requested path index: a
  // target in another store path (or outside them) is left out, as is one that is gone.
  const target = await ctx.engine.readLink(file).catch(() => null);
  if (!target || target.parsed.storePathIndex !== index) return null;
  if (!(await ctx.engine.stat(file, { follow: true }).catch(() => null))) return null;
  return `${r.timestamp} ${upper ? 'L' : 'l'} ${r.name} ${target.logicName}\n`;
}
