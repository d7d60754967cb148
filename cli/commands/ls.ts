import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { listGroupFiles, parseSince } from '../../lib/batch/list-files.ts';
import { withClient, withClientOptions, type ClientArgs } from '../common.ts';

// `fdfs ls`: the live files of a group, from a storage's binlog through the FDFS_LIST_FILES
// extension (lib/protocol/list-files.ts). FastDFS itself has no way to list a group.

interface LsArgs extends ClientArgs {
  group: string;
  since?: string;
  storage?: string;
}

/** Awaiting 'drain' keeps a listing piped into a slow reader (| less) from filling memory. */
function write(line: string): Promise<void> | void {
  if (process.stdout.write(line)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

export const lsCommand: CommandModule<any, LsArgs> = {
  command: 'ls <group>',
  describe: 'list the live files of a group (file ID, size, time), from a storage\'s binlog',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('group', { type: 'string', describe: 'group name' })
    .option('since', { type: 'string', describe: 'only files changed since: Unix seconds, an age (12h, 7d) or a date (2024-05-01T12:00:00Z)' })
    .option('storage', { type: 'string', describe: 'ask this storage HOST:PORT (default: an ACTIVE storage of the group)' })
    .example('$0 ls group1 --since 1d', 'files changed in the last day')
    .epilogue('Output: one file per line, "FILE_ID<TAB>SIZE<TAB>TIME" (TIME in ISO 8601, UTC); with --json one JSON object per line: {"fileId","size","timestamp"}.'),
  handler: (argv) => withClient(argv, async (client) => {
    const since = argv.since !== undefined ? parseSince(argv.since) : undefined;
    // stdout closed early (| head): stop quietly.
    process.stdout.on('error', () => process.exit(process.exitCode ?? 0));
    for await (const f of listGroupFiles(client, argv.group, { since, storage: argv.storage })) {
      const line = argv.json
        ? `${JSON.stringify({ fileId: f.fileId, size: f.size, timestamp: f.timestamp })}\n`
        : `${f.fileId}\t${f.size}\t${new Date(f.timestamp * 1000).toISOString().replace('.000Z', 'Z')}\n`;
      const p = write(line);
      if (p) await p;
    }
  }),
};
