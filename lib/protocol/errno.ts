// Linux errno values used as FastDFS status codes (PROTOCOL.md §0.1). Hard-coded rather than
// taken from os.constants: macOS numbers differ, and the wire always carries Linux numbers.

export const ERRNO = {
  OK: 0,
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EPIPE: 32,
  ENAMETOOLONG: 36,
  ENONET: 64,
  EPROTO: 71,
  EOPNOTSUPP: 95,
  ECONNRESET: 104,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
} as const;

export type ErrnoName = keyof typeof ERRNO;

const NAME_BY_CODE = new Map<number, ErrnoName>(
  Object.entries(ERRNO).map(([name, code]) => [code, name as ErrnoName]),
);

/** What a user reads in a one-line CLI error for each status. */
const MESSAGES: Partial<Record<ErrnoName, string>> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file, group or server',
  EIO: 'input/output error',
  EAGAIN: 'server not ready, try again',
  EACCES: 'permission denied (join first)',
  EFAULT: 'bad storage state',
  EBUSY: 'resource busy',
  EEXIST: 'file already exists',
  EISDIR: 'not a regular file',
  EINVAL: 'invalid argument or malformed request',
  ENOSPC: 'no space left (reserved storage space reached)',
  EROFS: 'read-only store path',
  ENAMETOOLONG: 'name too long',
  ENONET: 'server not active',
  EPROTO: 'protocol error',
  EOPNOTSUPP: 'operation not supported',
  ECONNRESET: 'connection reset by peer',
  ENOTCONN: 'connection closed by peer',
  ETIMEDOUT: 'timed out',
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host unreachable',
  EALREADY: 'already done',
};

export function errnoName(code: number): string {
  return NAME_BY_CODE.get(code) ?? `E${code}`;
}

export function errnoCode(name: string): number {
  return (ERRNO as Record<string, number>)[name] ?? ERRNO.EIO;
}

export function errnoMessage(code: number): string {
  const name = NAME_BY_CODE.get(code);
  return (name && MESSAGES[name]) ?? `error ${code}`;
}

export interface FdfsErrorOptions {
  /** File ID, logic file name or address the error is about. */
  subject?: string;
  cause?: unknown;
}

/**
 * The one error family of fdfs. `errno` is the Linux number that travels as a status byte;
 * `code` is its name (stable, for programs); the message says what happened and to what.
 */
export class FdfsError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly subject?: string;

  constructor(errno: number | ErrnoName, detail?: string, options: FdfsErrorOptions = {}) {
    const num = typeof errno === 'number' ? errno : ERRNO[errno];
    const name = errnoName(num);
    const what = detail ?? errnoMessage(num);
    super(options.subject ? `${name}: ${what} (${options.subject})` : `${name}: ${what}`,
      options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FdfsError';
    this.errno = num;
    this.code = name;
    this.subject = options.subject;
  }
}

/** Map a Node system error (fs, net) to the errno number sent on the wire. */
export function errnoOf(err: unknown): number {
  if (err instanceof FdfsError) return err.errno;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in ERRNO) return ERRNO[code as ErrnoName];
  return ERRNO.EIO;
}

/** Wrap anything thrown into an FdfsError, keeping the errno of system errors. */
export function toFdfsError(err: unknown, subject?: string): FdfsError {
  if (err instanceof FdfsError) return err;
  const num = errnoOf(err);
  // Node's system errors start with their code ("ENOENT: no such file…"); ours adds it again.
  const msg = (err instanceof Error ? err.message : String(err)).replace(/^E[A-Z]+: /, '');
  return new FdfsError(num, msg, { subject, cause: err });
}
