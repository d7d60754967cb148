import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { printJson, reportError, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface DeleteArgs extends ClientArgs {
  file_ids: string[];
}

export const deleteCommand: CommandModule<any, DeleteArgs> = {
  command: 'delete <file_ids..>',
  describe: 'delete files',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_ids', { type: 'string', array: true, describe: 'group/M00/…' }),
  handler: (argv) => withClient(argv, async (client) => {
    const deleted: string[] = [];
    let failed = false;
    for (const fileId of argv.file_ids) {
      try {
        await client.delete(fileId);
        deleted.push(fileId);
      } catch (err) {
        reportError(err);
        failed = true;
      }
    }
    if (argv.json) printJson({ deleted });
    if (failed) process.exitCode = 1;
  }),
};
