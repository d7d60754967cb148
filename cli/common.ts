import process from 'node:process';
import type { Argv } from 'yargs';
import { FdfsClient, type FdfsClientOptions } from '../lib/client/client.ts';
import { exitCodeOf, FdfsError, toFdfsError, UsageError } from '../lib/protocol/errno.ts';
import { loadClientConfig } from '../lib/config/client-config.ts';
import type { Logger } from '../lib/util/log.ts';

// Shared by the client commands: the options that say which cluster to talk to, how output is
// printed, and how errors end a command (one line on stderr, non-zero exit, no stack trace).

export const DEFAULT_TRACKER = '127.0.0.1:22122';

export interface ClientArgs {
  tracker?: string[];
  config?: string;
  json?: boolean;
  'connect-timeout'?: number;
  'network-timeout'?: number;
}

/** A repeatable option: yargs gives a string for one occurrence, an array for several. */
export function asList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

/**
 * The options of every client command. Not `array: true` for --tracker: an array option would
 * swallow the command name in `fdfs --tracker HOST:PORT list`; repeating the option collects.
 */
export function withClientOptions<T>(y: Argv<T>): Argv<T & ClientArgs> {
  return y
    .option('tracker', {
      type: 'string',
      describe: `tracker address HOST:PORT (repeatable; env FDFS_TRACKER, comma-separated; default ${DEFAULT_TRACKER})`,
      coerce: asList,
      group: 'Cluster:',
    })
    .option('config', {
      alias: 'c',
      type: 'string',
      describe: 'client.conf to read (tracker_server, timeouts, connection pool, storage ids)',
      group: 'Cluster:',
    })
    .option('connect-timeout', {
      type: 'number',
      describe: 'seconds allowed for each connect (default 10, or client.conf)',
      group: 'Cluster:',
    })
    .option('network-timeout', {
      type: 'number',
      describe: 'seconds without network progress before giving up (default 30, or client.conf)',
      group: 'Cluster:',
    })
    .option('json', {
      type: 'boolean',
      describe: 'machine-readable output (JSON on stdout)',
    }) as unknown as Argv<T & ClientArgs>;
}

function positiveSeconds(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`--${name} must be a positive number of seconds`);
  return Math.ceil(v);
}

/**
 * The client for the given options. Trackers: --tracker, else FDFS_TRACKER, else client.conf's
 * tracker_server, else 127.0.0.1:22122. Timeouts: option, else client.conf, else defaults.
 */
export function createClient(argv: ClientArgs, env: NodeJS.ProcessEnv = process.env, extra: Partial<FdfsClientOptions> = {}): FdfsClient {
  // In --tracker a comma keeps FastDFS's meaning (two addresses of one tracker); in the
  // environment variable it separates trackers.
  let trackers = argv.tracker;
  if (!trackers?.length && env.FDFS_TRACKER) {
    trackers = env.FDFS_TRACKER.split(',').map((t) => t.trim()).filter(Boolean);
  }
  if (!trackers?.length && argv.config === undefined) trackers = [DEFAULT_TRACKER];
  const { config, warnings } = loadClientConfig({
    file: argv.config,
    overrides: {
      tracker_server: trackers?.length ? trackers : undefined,
      connect_timeout: positiveSeconds('connect-timeout', argv['connect-timeout']),
      network_timeout: positiveSeconds('network-timeout', argv['network-timeout']),
    },
  });
  // Unknown keys and adjusted values: the README promises a warning, so a typo is not silent.
  for (const w of warnings) process.stderr.write(`fdfs: warning: ${w}\n`);
  // One stderr line when a tracker is given up for the next one (several trackers, §1.4).
  const log = Object.assign((level: string, msg: string) => {
    if (level !== 'debug') process.stderr.write(`fdfs: ${level === 'error' ? 'error' : 'warning'}: ${msg}\n`);
  }, { child: () => log }) as Logger;
  return FdfsClient.fromConfig(config, { log, ...extra });
}

/** The one line a failed command prints: `fdfs: ENOENT: no such file … (group1/M00/…)`. */
export function errorLine(err: unknown): string {
  const e = err instanceof FdfsError ? err : toFdfsError(err);
  const line = `fdfs: ${e.message.replace(/\s*[\r\n]+\s*/g, ' ')}`;
  return line;
}

/** Print the error line; the exit code says runtime (1) or usage/config (2). */
export function reportError(err: unknown): void {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exitCode = exitCodeOf(err);
}

/**
 * A usage error of yargs as one line naming the help to read:
 * `fdfs upload: --master needs --prefix (see fdfs upload --help)`.
 */
export function usageLine(msg: string | null | undefined, argv: readonly string[], commandNames: readonly string[]): string {
  const names = new Set(commandNames);
  const words: string[] = [];
  // The command path the user typed (`storage delete`), to point at its own help.
  for (const a of argv) {
    if (a.startsWith('-')) break;
    if (words.length === 0 ? names.has(a) : SUBCOMMANDS.has(`${words.join(' ')} ${a}`)) words.push(a);
    else break;
  }
  const cmd = ['fdfs', ...words].join(' ');
  return `${cmd}: ${reword(msg ?? 'invalid command line', argv)} (see ${cmd} --help)`;
}

/** Sub-commands of the command groups, so `fdfs storage delete --help` is the help named. */
const SUBCOMMANDS = new Set(['meta get', 'meta set']);

/** yargs' wording, said as a user would: "Implications failed: master -> prefix" ⇒ "--master needs --prefix". */
function reword(msg: string, argv: readonly string[]): string {
  const one = msg.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  const impl = /^Implications failed:\s*(\S+) -> (\S+)/.exec(one);
  if (impl) return `--${impl[1]} needs --${impl[2]}`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(one);
  if (unknown) {
    // yargs drops the dashes: give back what the user typed.
    const typed = (a: string) => argv.find((t) => t === a || t.replace(/^-+/, '').split('=')[0] === a) ?? a;
    return `unknown argument ${unknown[1]!.split(', ').map(typed).join(', ')}`;
  }
  if (/^Not enough non-option arguments/.test(one)) return 'missing argument';
  if (/^Too many non-option arguments/.test(one)) return 'too many arguments';
  const missing = /^Missing required arguments?: (.*)$/.exec(one);
  if (missing) return `missing ${missing[1]!.split(', ').map((a) => `<${a}> or --${a}`).join(', ')}`;
  return one.replace(/^./, (c) => c.toLowerCase());
}

/**
 * `--tar -`: yargs reads a lone `-` as a positional and leaves the option empty, so a command
 * without positionals refuses it as unknown. Give the `-` back to the option that is empty.
 */
export function stdinDashMiddleware(argv: { _: Array<string | number>; [k: string]: unknown }): void {
  const i = argv._.indexOf('-');
  if (i < 1) return;
  const empty = Object.keys(argv).filter((k) => k !== '_' && k !== '$0' && argv[k] === '');
  if (empty.length === 0) return;
  argv._.splice(i, 1);
  for (const k of empty) argv[k] = '-';
}

/**
 * A closed stdout (`fdfs list | head -1`) ends the command quietly, as a Unix filter ends on
 * SIGPIPE, rather than with an unhandled EPIPE stack trace.
 */
export function exitOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

/** Run a command body with a client; errors end it with one line and exit code 1. */
/** `extra` overrides client.conf (the batch commands force a connection pool). */
export async function withClient(argv: ClientArgs, fn: (client: FdfsClient) => Promise<void>, extra: Partial<FdfsClientOptions> = {}): Promise<void> {
  let client: FdfsClient | undefined;
  try {
    client = createClient(argv, process.env, extra);
    await fn(client);
  } catch (err) {
    reportError(err);
  } finally {
    await client?.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** An offset or size argument: a non-negative integer, else EINVAL naming the argument. */
export function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new FdfsError('EINVAL', `${name} must be a non-negative integer`, { subject: String(value) });
  return value;
}

/** `k=v` arguments (metadata): the first '=' splits, the value may contain more. */
export function parseKeyValues(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new FdfsError('EINVAL', 'metadata must be given as name=value', { subject: item });
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** 1536 → "1.5 GiB" for sizes given in MB by the tracker. */
export function formatMb(mb: number): string {
  if (mb < 1024) return `${mb} MiB`;
  if (mb < 1024 * 1024) return `${(mb / 1024).toFixed(1)} GiB`;
  return `${(mb / 1024 / 1024).toFixed(1)} TiB`;
}

/** Seconds → "3s", "5m", "2h", "4d". */
export function formatAge(seconds: number): string {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}
