import { FdfsError } from '../protocol/errno.ts';

/**
 * Errors of the configuration layer, members of the FdfsError family (errno EINVAL, never
 * retryable, exit code 2 like a usage error).
 *
 * A bad conf file must be fixable from the message alone, so a ConfigError message is always ONE
 * line naming where the value came from, the key, the bad value and what is allowed:
 *
 *     storage.conf:12: heart_beat_interval = abc: expected an integer ≥ 1
 *     command line: port = 0: expected an integer between 1 and 65535
 *     tracker.conf: missing required key base_path (directory for data and log files)
 */
export class ConfigError extends FdfsError {
  /** Stable code, in the style of the other fdfs errors. */
  override readonly code: string = 'FDFS_ERR_CONFIG';
  /** Conf file the bad value came from (undefined for command-line overrides and defaults). */
  readonly file: string | undefined;
  /** 1-based line in `file`. */
  readonly line: number | undefined;
  /** FastDFS key name, when the error is about one key. */
  readonly key: string | undefined;
  /** The offending value as written. */
  readonly value: string | undefined;

  constructor(
    message: string,
    where: { file?: string | undefined; line?: number | undefined; key?: string | undefined; value?: string | undefined } = {},
  ) {
    super('EINVAL', message, { subject: where.file, retryable: false });
    this.name = 'ConfigError';
    // The message is the sentence as given (one line, whatever the caller passed in): it already
    // names file, line and key, so no errno prefix.
    this.message = message.replace(/\s*[\r\n]+\s*/g, ' ');
    this.file = where.file;
    this.line = where.line;
    this.key = where.key;
    this.value = where.value;
  }

  override get exitCode(): number { return 2; }
}

/**
 * Thrown by the value parsers of values.ts. The message says what is wrong/allowed, phrased to
 * follow "key = value: " (e.g. "expected an integer ≥ 1"); the loader turns it into a ConfigError
 * that adds file, line and key.
 */
export class ValueError extends FdfsError {
  override readonly code: string = 'FDFS_ERR_VALUE';
  constructor(message: string) {
    super('EINVAL', message, { retryable: false });
    this.name = 'ValueError';
    this.message = message;
  }

  override get exitCode(): number { return 2; }
}
