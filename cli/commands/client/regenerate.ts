import type { Argv, CommandModule } from 'yargs';
import { printJson, printLine, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

// `fdfs regenerate FILE_ID`: REGENERATE_APPENDER_FILENAME 38 (PROTOCOL.md §3.13). The appender
// file becomes a normal file under a new ID, which is printed; the old ID stops existing.

interface RegenerateArgs extends ClientArgs {
  file_id: string;
}

export const regenerateCommand: CommandModule<any, RegenerateArgs> = {
  command: 'regenerate <file_id>',
  describe: 'turn an appender file into a normal file and print its new file ID',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'an appender file: group/M00/…' }),
  handler: (argv) => withClient(argv, async (client) => {
    const fileId = await client.regenerateAppenderName(argv.file_id);
    if (argv.json) printJson({ old: argv.file_id, fileId });
    else printLine(fileId);
  }),
};
