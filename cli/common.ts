import process from 'node:process';
import type { Argv } from 'yargs';
import { FdfsClient, type FdfsClientOptions } from '../lib/client/client.ts';
import { FdfsError, toFdfsError } from '../lib/protocol/errno.ts';
import { loadClientConfig } from '../lib/config/client-config.ts';
import { ConfigError } from '../lib/config/errors.ts';
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
  if (!Number.isFinite(v) || v <= 0) throw new FdfsError('EINVAL', `--${name} must be a positive number of seconds`);
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
  const { config } = loadClientConfig({
    file: argv.config,
    overrides: {
      tracker_server: trackers?.length ? trackers : undefined,
      connect_timeout: positiveSeconds('connect-timeout', argv['connect-timeout']),
      network_timeout: positiveSeconds('network-timeout', argv['network-timeout']),
    },
  });
  // One stderr line when a tracker is given up for the next one (several trackers, §1.4).
  const log = Object.assign((level: string, msg: string) => {
    if (level !== 'debug') process.stderr.write(`fdfs: ${level === 'error' ? 'error' : 'warning'}: ${msg}\n`);
  }, { child: () => log }) as Logger;
  return FdfsClient.fromConfig(config, { log, ...extra });
}

/** The one line a failed command prints: `fdfs: ENOENT: no such file … (group1/M00/…)`. */
export function errorLine(err: unknown): string {
  if (err instanceof ConfigError) return `fdfs: ${err.message}`;
  const e = err instanceof FdfsError ? err : toFdfsError(err);
  return `fdfs: ${e.message.replace(/\s*[\r\n]+\s*/g, ' ')}`;
}

export function reportError(err: unknown): void {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exitCode = 1;
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
