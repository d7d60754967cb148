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
  EADDRINUSE: 98,
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
  EADDRINUSE: 'address already in use',
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

/**
 * What a user reads when a server answers a command with a status: (command, errno) ⇒ words.
 * Keys are command names of codes.ts (kept as strings: this module stays free of imports).
 * A status missing here reads "<verb>: <errno message>" with the verb of COMMAND_VERBS.
 */
const REMOTE_TEXT: Record<string, Partial<Record<ErrnoName, string>>> = {
  SERVICE_QUERY_STORE_WITH_GROUP_ONE: { ENOENT: 'no such group', ENOSPC: 'no storage of the group has space left above its reserve' },
  SERVICE_QUERY_STORE_WITH_GROUP_ALL: { ENOENT: 'no such group' },
  SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE: { ENOENT: 'no group has an active storage', ENOSPC: 'no storage has space left above its reserve' },
  SERVICE_QUERY_STORE_WITHOUT_GROUP_ALL: { ENOENT: 'no group has an active storage' },
  SERVICE_QUERY_FETCH_ONE: { ENOENT: 'no such group, or no storage of it can serve the file' },
  SERVICE_QUERY_FETCH_ALL: { ENOENT: 'no such group, or no storage of it can serve the file' },
  SERVICE_QUERY_UPDATE: { ENOENT: 'no such group, or no storage of it can serve the file', EINVAL: 'invalid file ID' },
  SERVER_LIST_ONE_GROUP: { ENOENT: 'no such group' },
  SERVER_LIST_STORAGE: { ENOENT: 'no such group or storage' },
  SERVER_DELETE_STORAGE: { ENOENT: 'no such group or storage', EBUSY: 'the storage is still online: stop it first' },
  SERVER_DELETE_GROUP: { ENOENT: 'no such group', EBUSY: 'the group still has storages: delete them first' },
  UPLOAD_FILE: { EINVAL: 'upload refused: invalid store path index or file extension', ENOSPC: 'no space left above the reserve on the storage' },
  UPLOAD_APPENDER_FILE: { EINVAL: 'upload refused: invalid store path index or file extension', ENOSPC: 'no space left above the reserve on the storage' },
  UPLOAD_SLAVE_FILE: { ENOENT: 'master file does not exist', EEXIST: 'slave file already exists', EINVAL: 'slave upload refused: invalid master name, prefix or extension' },
  DOWNLOAD_FILE: { ENOENT: 'no such file', EINVAL: 'offset or length beyond the end of the file' },
  DELETE_FILE: { ENOENT: 'no such file' },
  QUERY_FILE_INFO: { ENOENT: 'no such file' },
  GET_METADATA: { ENOENT: 'no such file, or no metadata' },
  SET_METADATA: { ENOENT: 'no such file' },
  APPEND_FILE: { ENOENT: 'no such file' },
  MODIFY_FILE: { ENOENT: 'no such file' },
  TRUNCATE_FILE: { ENOENT: 'no such file' },
  REGENERATE_APPENDER_FILENAME: { ENOENT: 'no such file' },
};

/** What the user was doing when a command failed, for statuses REMOTE_TEXT does not word. */
const COMMAND_VERBS: Record<string, string> = {
  UPLOAD_FILE: 'upload', UPLOAD_APPENDER_FILE: 'upload', UPLOAD_SLAVE_FILE: 'slave upload',
  DOWNLOAD_FILE: 'download', DELETE_FILE: 'delete', QUERY_FILE_INFO: 'file info',
  GET_METADATA: 'read metadata', SET_METADATA: 'set metadata', APPEND_FILE: 'append',
  MODIFY_FILE: 'modify', TRUNCATE_FILE: 'truncate', REGENERATE_APPENDER_FILENAME: 'regenerate',
  SERVICE_QUERY_STORE_WITH_GROUP_ONE: 'choose a storage to upload to',
  SERVICE_QUERY_STORE_WITH_GROUP_ALL: 'choose a storage to upload to',
  SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE: 'choose a storage to upload to',
  SERVICE_QUERY_STORE_WITHOUT_GROUP_ALL: 'choose a storage to upload to',
  SERVICE_QUERY_FETCH_ONE: 'find a storage holding the file', SERVICE_QUERY_FETCH_ALL: 'find a storage holding the file',
  SERVICE_QUERY_UPDATE: 'find the storage holding the file',
  SERVER_LIST_ONE_GROUP: 'list the group', SERVER_LIST_ALL_GROUPS: 'list the groups', SERVER_LIST_STORAGE: 'list the storages',
  SERVER_DELETE_STORAGE: 'delete the storage', SERVER_DELETE_GROUP: 'delete the group',
  FDFS_LIST_FILES: 'list files', FDFS_SYNC_STATUS: 'read the replication state',
};

/** The user's words for `errno` answered to `command` (a command name of codes.ts). */
export function remoteText(command: string | undefined, errno: number): string {
  const name = NAME_BY_CODE.get(errno);
  const special = command && name ? REMOTE_TEXT[command]?.[name] : undefined;
  if (special) return special;
  const verb = command ? COMMAND_VERBS[command] ?? command : undefined;
  return verb ? `${verb}: ${errnoMessage(errno)}` : errnoMessage(errno);
}

/** Local failures worth another attempt: the network, a busy server, an I/O hiccup. */
const RETRYABLE_LOCAL = new Set<string>(['EAGAIN', 'EBUSY', 'ECONNREFUSED', 'ECONNRESET', 'ENOTCONN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', 'EIO']);
/**
 * Server statuses no retry changes: the request itself is wrong. Others (ENOENT of a file not yet
 * replicated, ENOSPC, EAGAIN, EBUSY) may clear, perhaps on another server.
 */
const FINAL_REMOTE = new Set<string>(['EINVAL', 'EEXIST', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'EOPNOTSUPP', 'EPERM', 'EACCES', 'EFBIG']);

export interface FdfsErrorOptions {
  /** File ID, logic file name or address the error is about. */
  subject?: string;
  cause?: unknown;
  /**
   * Address of the server whose response carried this status: the error is `remote` (the server
   * decided) rather than local (a socket, a file, an argument).
   */
  server?: string;
  /** The command the server answered (a command name of codes.ts), for remote errors. */
  command?: string;
  /** Whether another attempt may succeed. Default by errno: RETRYABLE_LOCAL, or not FINAL_REMOTE. */
  retryable?: boolean;
  /** The failure leaves the output unusable (a tar entry cut short): a batch run stops. */
  fatal?: boolean;
}

/**
 * The one error family of fdfs (as undici's UndiciError). `errno` is the Linux number that
 * travels as a status byte; `code` is its name (stable, for programs); the message says what
 * happened and to what. `remote` tells a server's status from a local failure (a socket, a file,
 * an argument) without reading the message. Subclasses: UsageError (exit 2), ConfigError and
 * ValueError (lib/config/errors.ts, exit 2).
 */
export class FdfsError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly subject?: string;
  /** Address of the server that answered with this status; undefined for local errors. */
  readonly server?: string;
  /** Command name the server answered (remote errors). */
  readonly command?: string;
  retryable: boolean;
  fatal: boolean;

  constructor(errno: number | ErrnoName, detail?: string, options: FdfsErrorOptions = {}) {
    const num = typeof errno === 'number' ? errno : ERRNO[errno];
    const name = errnoName(num);
    let what = detail ?? (options.server !== undefined ? remoteText(options.command, num) : errnoMessage(num));
    const where = [options.subject, options.server !== undefined && detail === undefined ? `from ${options.server}` : undefined]
      .filter(Boolean).join(', ');
    if (where) what = `${what} (${where})`;
    super(`${name}: ${what}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FdfsError';
    this.errno = num;
    this.code = name;
    this.subject = options.subject;
    this.server = options.server;
    this.command = options.command;
    this.retryable = options.retryable ?? (options.server === undefined ? RETRYABLE_LOCAL.has(name) : !FINAL_REMOTE.has(name));
    this.fatal = options.fatal ?? false;
  }

  /** A server's status (as opposed to a local failure). */
  get remote(): boolean { return this.server !== undefined; }

  /** Process exit code for a command that ends with this error: 1 runtime, 2 usage and config. */
  get exitCode(): number { return 1; }
}

/** A command line that cannot work (a missing or contradictory option): exit code 2. */
export class UsageError extends FdfsError {
  override readonly code: string = 'FDFS_ERR_USAGE';
  constructor(message: string, options: FdfsErrorOptions = {}) {
    super('EINVAL', message, options);
    this.name = 'UsageError';
    // The message is the user's sentence as given, without the errno prefix.
    this.message = message.replace(/\s*[\r\n]+\s*/g, ' ');
    this.retryable = false;
  }
  override get exitCode(): number { return 2; }
}

/** Exit code for anything a command throws: FdfsError knows its own, the rest are runtime errors. */
export function exitCodeOf(err: unknown): number {
  return err instanceof FdfsError ? err.exitCode : 1;
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
  const sys = (err as { code?: unknown; hostname?: unknown } | null);
  // A host name that does not resolve is not a refused connection: say so (getaddrinfo has no errno).
  if (sys?.code === 'ENOTFOUND' || sys?.code === 'EAI_AGAIN') {
    return new FdfsError('EHOSTUNREACH', `host name ${typeof sys.hostname === 'string' ? sys.hostname : ''} does not resolve`.replace('  ', ' '),
      { subject, cause: err, retryable: sys.code === 'EAI_AGAIN' });
  }
  const num = errnoOf(err);
  // Node's system errors start with their code ("ENOENT: no such file…"); ours adds it again.
  const msg = (err instanceof Error ? err.message : String(err)).replace(/^E[A-Z]+: /, '');
  return new FdfsError(num, msg, { subject, cause: err });
}
