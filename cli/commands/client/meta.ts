import type { Argv, CommandModule } from 'yargs';
import { parseKeyValues, printJson, printLine, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface MetaGetArgs extends ClientArgs {
  file_id: string;
}

interface MetaSetArgs extends ClientArgs {
  file_id: string;
  pairs?: string[];
  merge?: boolean;
}

const getCommand: CommandModule<any, MetaGetArgs> = {
  command: 'get <file_id>',
  describe: 'print the metadata of a file, one name=value per line',
  builder: (y): Argv<any> => withClientOptions(y).positional('file_id', { type: 'string' }),
  handler: (argv) => withClient(argv, async (client) => {
    const meta = await client.getMetadata(argv.file_id);
    if (argv.json) { printJson(meta); return; }
    for (const [k, v] of Object.entries(meta)) printLine(`${k}=${v}`);
  }),
};

const setCommand: CommandModule<any, MetaSetArgs> = {
  command: 'set <file_id> [pairs..]',
  describe: 'replace the metadata of a file (--merge: add to it); no pairs without --merge removes it',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string' })
    .positional('pairs', { type: 'string', array: true, describe: 'name=value' })
    .option('merge', { type: 'boolean', describe: 'merge into the existing metadata instead of replacing it' }),
  handler: (argv) => withClient(argv, async (client) => {
    const meta = parseKeyValues(argv.pairs ?? []);
    const mode = argv.merge ? 'merge' : 'overwrite';
    await client.setMetadata(argv.file_id, meta, mode);
    if (argv.json) printJson({ fileId: argv.file_id, mode, metadata: meta });
  }),
};

export const metaCommand: CommandModule<any, any> = {
  command: 'meta <action>',
  describe: 'read or change file metadata (get, set)',
  builder: (y): Argv<any> => y.command(getCommand).command(setCommand).demandCommand(1, 'meta needs an action: get or set'),
  handler: () => {},
};
