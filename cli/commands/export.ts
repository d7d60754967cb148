import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { parseSince } from '../../lib/batch/list-files.ts';
import { UsageError } from '../../lib/protocol/errno.ts';
import { withClient } from '../common.ts';
import { BATCH_CLIENT_OPTIONS, runBatch, typedDash, withBatchOptions, type BatchArgs } from './put.ts';

// `fdfs export`: a group's live files (or those changed since a time) as a tar archive with a
// manifest, which `fdfs put` loads into another cluster (lib/batch/export.ts).

interface ExportArgs extends BatchArgs {
  group: string;
  tar: string;
  since?: string;
  storage?: string;
}

export const exportCommand: CommandModule<any, ExportArgs> = {
  command: 'export <group>',
  describe: 'stream the live files of a group (or those changed since a time) into a tar archive with a manifest',
  builder: (y): Argv<any> => withBatchOptions(y)
    .positional('group', { type: 'string', describe: 'group name' })
    .option('tar', { type: 'string', demandOption: true, describe: 'archive file to write (- = stdout)' })
    .option('since', { type: 'string', describe: 'only files changed since: Unix seconds, an age (12h, 7d) or a date (2024-05-01T12:00:00Z)' })
    .option('storage', { type: 'string', describe: 'list the files on this storage HOST:PORT (default: an ACTIVE storage of the group)' })
    .example('$0 export group1 --tar group1.tar', 'back up a group')
    .example('$0 export group1 --tar - | $0 put - -m moved.jsonl --tracker other:22122', 'copy a group to another cluster'),
  handler: (argv) => withClient(argv, async (client) => {
    const since = argv.since !== undefined ? parseSince(argv.since) : undefined;
    const toStdout = argv.tar === '-' || (argv.tar === '' && typedDash());
    if (argv.tar === '' && !toStdout) throw new UsageError('--tar needs a file name or -');
    const { exportGroup } = await import('../../lib/batch/export.ts');
    try {
      await runBatch(argv, 'export', toStdout, (ctx) => exportGroup({
        client, group: argv.group, tar: toStdout ? process.stdout : argv.tar, since, storage: argv.storage,
        concurrency: ctx.concurrency, retries: ctx.retries, signal: ctx.signal, stats: ctx.stats, onEvent: ctx.onEvent,
      }));
    } catch (err) {
      // The reader of stdout went away (| head): stop quietly, like any Unix filter.
      if (toStdout && (err as { code?: string }).code === 'EPIPE') { process.exitCode = 1; return; }
      throw err;
    }
  }, BATCH_CLIENT_OPTIONS),
};
