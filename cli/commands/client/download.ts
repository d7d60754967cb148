import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { pipeline } from 'node:stream/promises';
import type { Argv, CommandModule } from 'yargs';
import { parseFileId } from '../../../lib/client/client.ts';
import { printJson, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface DownloadArgs extends ClientArgs {
  file_id: string;
  dest?: string;
  offset?: number;
  length?: number;
}

export const downloadCommand: CommandModule<any, DownloadArgs> = {
  command: 'download <file_id> [dest]',
  describe: 'download a file to DEST (default: the name part of the file ID; - = stdout)',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'group/M00/…' })
    .positional('dest', { type: 'string', describe: 'local file or directory, or - for stdout' })
    // nargs 1 lets yargs take a lone "-" as the value instead of dropping it.
    .nargs('dest', 1)
    .option('offset', { type: 'number', describe: 'first byte to download (default 0)' })
    .option('length', { type: 'number', describe: 'number of bytes (default: to the end)' }),
  handler: (argv) => withClient(argv, async (client) => {
    const fileId = argv.file_id;
    const range = { offset: argv.offset, length: argv.length };
    if (argv.dest === '-') {
      const stream = await client.download(fileId, range);
      // stdout stays open: it is not ours to end.
      await pipeline(stream, process.stdout, { end: false });
      return;
    }
    const { logicName } = parseFileId(fileId);
    let dest = argv.dest ?? path.basename(logicName);
    if (fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory()) dest = path.join(dest, path.basename(logicName));
    const size = await client.downloadToFile(fileId, dest, range);
    if (argv.json) printJson({ fileId, dest, size });
  }),
};
