import { MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import type { WriteOptions } from '../engine/engine.ts';
import { locate, statFile, type LocatedFile } from './common.ts';
import { contentOf } from './io.ts';

// What the commands that change an appender file in place share (APPEND 24, MODIFY 34,
// TRUNCATE 36, REGENERATE 38; PROTOCOL.md §3.9–§3.13).

/** `Mxx/HH/HH/` + 27 + 6 + 1: the C check `FDFS_LOGIC_FILE_PATH_LEN + BASE64 + EXT_MAX + 1`. */
export const MIN_APPENDER_NAME_LEN = 44;

/** §3.9: appender name length 44..127, else EINVAL. */
export function checkAppenderNameLength(len: number): void {
  if (!Number.isSafeInteger(len) || len < MIN_APPENDER_NAME_LEN || len > MAX_FILENAME_LEN) {
    throw new FdfsError('EINVAL', `appender file name length ${len} outside ${MIN_APPENDER_NAME_LEN}..${MAX_FILENAME_LEN}`);
  }
}

export interface AppenderFile extends LocatedFile {
  size: number;
}

/**
 * Run fn with the lock of appender file `logicName` held (so its size stays current) and the file
 * checked: §3.9 "the file must exist (ENOENT) and be a regular file whose name carries the
 * appender flag (EINVAL otherwise)". lstat, as the C server: a symlinked slave is not a regular file.
 */
export async function withAppender<T>(ctx: StorageContext, logicName: string, fn: (f: AppenderFile) => Promise<T>): Promise<T> {
  const f = locate(ctx, logicName);
  return ctx.fileLocks.run(f.path, async () => {
    const st = await statFile(ctx, f);
    if (st.type !== 'file') throw new FdfsError('EINVAL', 'not a regular file', { subject: logicName });
    if (!decodeFileName(logicName)?.isAppender) {
      throw new FdfsError('EINVAL', 'not an appender file (only files uploaded as appender can be changed)', { subject: logicName });
    }
    return fn({ ...f, size: st.size });
  });
}

/**
 * Stream the rest of the request into appender file `f` from `pos` (APPEND, MODIFY), counting the
 * bytes written as request body bytes once it is over (0 when it failed). `restoreSize`: a write
 * that fails part-way cuts the file back to that size if it grew (WriteOptions). Returns the bytes
 * written and the file's new mtime (unix s), which the binlog record carries (§7.2).
 */
export async function writeIntoAppender(req: Request, ctx: StorageContext, f: AppenderFile, pos: number,
  restoreSize: WriteOptions['restoreSize']): Promise<{ received: number; mtime: number }> {
  let received = 0;
  try {
    const r = await ctx.engine.writeAt(f, contentOf(req), pos, req.remaining, { restoreSize });
    received = r.written;
    return { received, mtime: r.mtime };
  } finally {
    ioEvent(ctx, 'body', 'start', received, req.cmd);
  }
}
