import { ERRNO, FdfsError, type ErrnoName } from '../../protocol/errno.ts';

// How a file-system error on a stored file reaches the client: the status FastDFS sends.

/** Map a file-system error on the file named `logicName` to the status FastDFS sends. */
export function fsError(err: unknown, logicName: string): FdfsError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (err instanceof FdfsError) return err;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FdfsError('ENOENT', 'no such file', { subject: logicName, cause: err });
  if (code === 'EISDIR') return new FdfsError('EINVAL', 'not a regular file', { subject: logicName, cause: err });
  const msg = err instanceof Error ? err.message : String(err);
  const known = code !== undefined && Object.hasOwn(ERRNO, code);
  return new FdfsError(known ? (code as ErrnoName) : 'EIO', msg, { subject: logicName, cause: err });
}

/** A missing file (or a missing directory on its way), which some contracts answer as a value. */
export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
