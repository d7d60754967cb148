import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../../lib/protocol/errno.ts';
import { withClient } from '../common.ts';
import { BATCH_CLIENT_OPTIONS, runBatch, typedDash, withBatchOptions, type BatchArgs } from './put.ts';

// `fdfs get`: download the files of manifests or file IDs into a directory or a tar
// (lib/batch/get.ts), each checked against its size and CRC-32.

interface GetArgs extends BatchArgs {
  sources: string[];
  out?: string;
  tar?: string;
  resume?: boolean;
}

export const getCommand: CommandModule<any, GetArgs> = {
  command: 'get <sources..>',
  describe: 'download the files of manifests (or file IDs) into a directory or a tar archive, verified',
  builder: (y): Argv<any> => withBatchOptions(y)
    .positional('sources', { type: 'string', array: true, describe: 'manifest files written by fdfs put, or file IDs' })
    .option('out', { alias: 'o', type: 'string', describe: 'directory to write the files under, at their manifest paths (default .)' })
    .option('tar', { type: 'string', describe: 'write a tar archive to this file instead (- = stdout)' })
    .option('resume', { type: 'boolean', describe: 'skip files already present under --out with the right size and CRC-32' })
    .conflicts('out', 'tar')
    .example('$0 get photos.jsonl --out restore/', 'restore a tree')
    .example('$0 get photos.jsonl --tar - | ssh host tar x', 'stream the files as a tar'),
  handler: (argv) => withClient(argv, async (client) => {
    const toStdout = argv.tar === '-' || (argv.tar === '' && typedDash());
    if (argv.tar === '' && !toStdout) throw new UsageError('--tar needs a file name or -');
    // The tracker answers first: an unreachable cluster is one error line, not one per file.
    await client.listGroups();
    const { getFiles } = await import('../../lib/batch/get.ts');
    try {
      await runBatch(argv, 'get', toStdout, (ctx) => getFiles({
        client, sources: argv.sources, out: argv.out, tar: toStdout ? process.stdout : argv.tar,
        resume: argv.resume, concurrency: ctx.concurrency, retries: ctx.retries,
        signal: ctx.signal, stats: ctx.stats, onEvent: ctx.onEvent,
      }));
    } catch (err) {
      // The reader of stdout went away (| head): stop quietly, like any Unix filter.
      if (toStdout && (err as { code?: string }).code === 'EPIPE') { process.exitCode = 1; return; }
      throw err;
    }
  }, BATCH_CLIENT_OPTIONS),
};
