import fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { printJson, withClient, withClientOptions, type ClientArgs } from '../../common.ts';
import { withSource } from './stdin.ts';

// `fdfs append FILE_ID FILE|-`: APPEND_FILE 24 (PROTOCOL.md §3.9) on an appender file.

interface AppendArgs extends ClientArgs {
  file_id: string;
  source: string;
}

export const appendCommand: CommandModule<any, AppendArgs> = {
  command: 'append <file_id> <source>',
  describe: 'add a local file (- = stdin) at the end of an appender file',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'an appender file: group/M00/… (fdfs upload --appender)' })
    .positional('source', { type: 'string', describe: 'local file, or - for stdin' })
    // nargs 1 lets yargs take a lone "-" as the value instead of dropping it.
    .nargs('source', 1)
    .example('$0 append group1/M00/00/00/wKgB…AAAAAA_-AcM952.log today.log', 'append a file')
    .example('tail -n 10 app.log | $0 append group1/M00/00/00/wKgB…952.log -', 'append stdin'),
  handler: (argv) => withClient(argv, async (client) => {
    await withSource(argv.source, async (file) => {
      const bytes = fs.statSync(file).size;
      await client.append(argv.file_id, file);
      if (argv.json) printJson({ fileId: argv.file_id, appended: bytes });
    });
  }),
};
