import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BatchStats, createReporter, type BatchEvent, type BatchOp, type BatchSummary, type ReporterMode } from '../../lib/batch/progress.ts';
import { defaultConcurrency } from '../../lib/batch/scheduler.ts';
import { UsageError } from '../../lib/protocol/errno.ts';
import { asList, withClient, withClientOptions, type ClientArgs } from '../common.ts';

// `fdfs put`: upload directories, files and tar archives (lib/batch/put.ts), with the output
// conventions every batch command shares (defined here, used by get and export too).

/**
 * A batch run keeps its connections whatever client.conf's use_connection_pool says (default off,
 * like the C client): a fresh tracker and storage connection per file costs as much as sending a
 * small file.
 */
export const BATCH_CLIENT_OPTIONS = { pool: true } as const;

export interface BatchArgs extends ClientArgs {
  concurrency?: number;
  retries?: number;
  quiet?: boolean;
}

/** --concurrency, --retries, --quiet (and --json from the client options). */
export function withBatchOptions<T>(y: Argv<T>): Argv<T & BatchArgs> {
  return withClientOptions(y)
    .option('concurrency', { alias: 'j', type: 'number', describe: `files transferred at once (default ${defaultConcurrency()} on this machine)` })
    .option('retries', { type: 'number', describe: 'further attempts for a failed file before it is reported (default 2)' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'print only failures and the summary' }) as unknown as Argv<T & BatchArgs>;
}

function checkCount(name: string, v: number | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be an integer ${min}..${max}`);
  return v;
}

/**
 * yargs drops a lone '-' (stdin/stdout): it vanishes from variadic positionals and turns an option
 * value into ''. The raw command line says whether the user typed one.
 */
export function typedDash(argv: readonly string[] = hideBin(process.argv)): boolean {
  return argv.includes('-');
}

export interface BatchRunContext {
  signal: AbortSignal;
  stats: BatchStats;
  onEvent: (e: BatchEvent) => void;
  concurrency?: number;
  retries?: number;
}

/**
 * Run a batch operation with a reporter: a progress bar on a terminal, one line per file
 * otherwise, JSON lines with --json, the summary only with --quiet. Per-file output goes to
 * stdout unless stdout carries data (a tar), then to stderr. The first Ctrl-C lets files in flight
 * finish (and be recorded); a second one stops at once. Any failed file makes the exit status 1.
 */
export async function runBatch(argv: BatchArgs, op: BatchOp, stdoutIsData: boolean,
  fn: (ctx: BatchRunContext) => Promise<BatchSummary>): Promise<void> {
  const concurrency = checkCount('concurrency', argv.concurrency, 1, 1024);
  const retries = checkCount('retries', argv.retries, 0, 100);
  const mode: ReporterMode = argv.json ? 'json' : argv.quiet ? 'quiet' : process.stderr.isTTY ? 'bar' : 'lines';
  const stats = new BatchStats(op);
  const reporter = createReporter({
    mode, stats, out: stdoutIsData ? process.stderr : process.stdout, err: process.stderr,
    columns: process.stderr.columns || 100,
  });
  const abort = new AbortController();
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(130);
    process.stderr.write(`\nfdfs ${op}: stopping after the files in flight (again to quit at once)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `fdfs put … | head`: losing the per-file lines must not kill a run whose manifest is the record.
  const ignore = () => {};
  if (!stdoutIsData) process.stdout.on('error', ignore);
  try {
    const summary = await fn({ signal: abort.signal, stats, onEvent: (e) => reporter.onEvent(e), concurrency, retries });
    reporter.finish(summary);
    if (summary.failed > 0 || summary.interrupted) process.exitCode = 1;
  } catch (err) {
    // Stop the bar; a summary only if something happened before the error.
    if (stats.done > 0) reporter.finish(stats.summary());
    else reporter.finish(stats.summary(), false);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', ignore);
  }
}

interface PutArgs extends BatchArgs {
  sources: string[];
  group?: string;
  manifest: string;
  resume?: boolean;
  exclude?: string[];
}

export const putCommand: CommandModule<any, PutArgs> = {
  command: 'put <sources..>',
  describe: 'upload directories, files and tar archives (- = tar on stdin), recording each file in a manifest',
  builder: (y): Argv<any> => withBatchOptions(y)
    .positional('sources', { type: 'string', array: true, describe: 'directories (walked recursively), files, .tar/.tar.gz archives, or - for a tar on stdin' })
    .option('group', { alias: 'g', type: 'string', describe: 'upload into this group (default: the tracker chooses)' })
    .option('manifest', { alias: 'm', type: 'string', default: 'fdfs-manifest.jsonl', describe: 'JSON Lines manifest, appended as each file is stored' })
    .option('resume', { type: 'boolean', describe: 'continue the manifest, skipping files stored with the same size and mtime' })
    .option('exclude', { alias: 'x', type: 'string', coerce: asList, describe: 'leave out paths matching this glob (repeatable; *, **, ?, [..], {a,b})' })
    .example('$0 put photos/ --manifest photos.jsonl', 'upload a directory tree')
    .example('tar c data | $0 put - -m data.jsonl', 'upload a tar stream')
    .example('$0 put photos/ -m photos.jsonl --resume', 'continue an interrupted run'),
  handler: (argv) => withClient(argv, async (client) => {
    // One tracker query first: an unreachable cluster or an unknown group is one error line,
    // not thousands of failed files.
    await client.queryStore(argv.group);
    const { putFiles } = await import('../../lib/batch/put.ts');
    await runBatch(argv, 'put', false, (ctx) => putFiles({
      client, sources: typedDash() && !argv.sources.includes('-') ? [...argv.sources, '-'] : argv.sources, manifest: argv.manifest, resume: argv.resume, group: argv.group,
      exclude: argv.exclude, concurrency: ctx.concurrency, retries: ctx.retries,
      signal: ctx.signal, stats: ctx.stats, onEvent: ctx.onEvent,
    }));
  }, BATCH_CLIENT_OPTIONS),
};
