import type { Argv, CommandModule } from 'yargs';
import { nonNegativeInteger, printJson, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

// `fdfs truncate FILE_ID SIZE`: TRUNCATE_FILE 36 (PROTOCOL.md §3.11) on an appender file.

interface TruncateArgs extends ClientArgs {
  file_id: string;
  size: number;
}

export const truncateCommand: CommandModule<any, TruncateArgs> = {
  command: 'truncate <file_id> <size>',
  describe: 'cut an appender file to SIZE bytes (a larger SIZE pads it with zero bytes, as FastDFS does)',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'an appender file: group/M00/…' })
    .positional('size', { type: 'number', describe: 'new size in bytes' }),
  handler: (argv) => withClient(argv, async (client) => {
    const size = nonNegativeInteger('SIZE', argv.size);
    await client.truncate(argv.file_id, size);
    if (argv.json) printJson({ fileId: argv.file_id, size });
  }),
};
