import type { Argv, CommandModule } from 'yargs';
import { printJson, printLine, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface InfoArgs extends ClientArgs {
  file_id: string;
  server?: boolean;
}

export const infoCommand: CommandModule<any, InfoArgs> = {
  command: 'info <file_id>',
  describe: 'show what a file ID says: type, size, CRC32, creation time, source storage',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'group/M00/…' })
    .option('server', {
      type: 'boolean',
      describe: 'always ask the storage (--no-server: never); default: only for appender, slave and unresolved id-named files',
    }),
  handler: (argv) => withClient(argv, async (client) => {
    const i = await client.fileInfo(argv.file_id, { server: argv.server });
    const crcHex = `0x${i.crc32.toString(16).padStart(8, '0')}`;
    const created = new Date(i.timestamp * 1000).toISOString();
    if (argv.json) {
      printJson({ ...i, crc32Hex: crcHex, created });
      return;
    }
    const rows: Array<[string, string]> = [
      ['file ID', i.fileId],
      ['type', i.type],
      ['size', i.size < 0 ? 'unknown (ask the storage: --server)' : String(i.size)],
      ['crc32', crcHex],
      [i.fromServer ? 'modified' : 'created', created],
      ['source ip', i.sourceIp || '(unknown)'],
    ];
    if (i.sourceId !== undefined) rows.push(['source id', i.sourceId]);
    for (const [k, v] of rows) printLine(`${`${k}:`.padEnd(11)} ${v}`);
  }),
};
