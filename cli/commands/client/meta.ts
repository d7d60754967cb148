import type { Argv, CommandModule } from 'yargs';
import type { FdfsClient } from '../../../lib/client/client.ts';
import { FdfsError } from '../../../lib/protocol/errno.ts';
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
    const meta = await metadataOrNone(client, argv.file_id);
    if (argv.json) { printJson(meta); return; }
    for (const [k, v] of Object.entries(meta)) printLine(`${k}=${v}`);
  }),
};

/**
 * §3.6: a storage answers ENOENT both for a missing file and for a file without metadata. The
 * wire stays as it is; the CLI asks whether the file exists to tell the two apart.
 */
async function metadataOrNone(client: FdfsClient, fileId: string): Promise<Record<string, string>> {
  try {
    return await client.getMetadata(fileId);
  } catch (err) {
    if (!(err instanceof FdfsError) || !err.remote || err.code !== 'ENOENT') throw err;
    try {
      await client.fileInfo(fileId, { server: true });
    } catch (infoErr) {
      if (infoErr instanceof FdfsError && infoErr.code === 'ENOENT') throw new FdfsError('ENOENT', 'no such file', { subject: fileId, cause: err });
      throw infoErr;
    }
    return {};
  }
}

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
