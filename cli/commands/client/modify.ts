import fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { nonNegativeInteger, printJson, withClient, withClientOptions, type ClientArgs } from '../../common.ts';
import { withSource } from './stdin.ts';

// `fdfs modify FILE_ID OFFSET FILE|-`: MODIFY_FILE 34 (PROTOCOL.md §3.10) on an appender file.

interface ModifyArgs extends ClientArgs {
  file_id: string;
  offset: number;
  source: string;
}

export const modifyCommand: CommandModule<any, ModifyArgs> = {
  command: 'modify <file_id> <offset> <source>',
  describe: 'overwrite an appender file from OFFSET (at most its size) with a local file (- = stdin)',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'an appender file: group/M00/…' })
    .positional('offset', { type: 'number', describe: 'first byte to overwrite (0 … current size)' })
    .positional('source', { type: 'string', describe: 'local file, or - for stdin' })
    .nargs('source', 1)
    .example('printf HELLO | $0 modify group1/M00/00/00/wKgB…952.txt 0 -', 'overwrite the first 5 bytes'),
  handler: (argv) => withClient(argv, async (client) => {
    const offset = nonNegativeInteger('OFFSET', argv.offset);
    await withSource(argv.source, async (file) => {
      const bytes = fs.statSync(file).size;
      await client.modify(argv.file_id, offset, file);
      if (argv.json) printJson({ fileId: argv.file_id, offset, written: bytes });
    });
  }),
};
