import type { Argv, CommandModule } from 'yargs';
import { parseFileId } from '../../lib/client/client.ts';
import { loadClientConfig } from '../../lib/config/client-config.ts';
import { FdfsError } from '../../lib/protocol/errno.ts';
import { formatAddress } from '../../lib/protocol/ip.ts';
import { signFileId } from '../../lib/http/token.ts';
import { printLine, reportError, withClient, withClientOptions, type ClientArgs } from '../common.ts';

// `fdfs url FILE_ID`: the browser URL of a file, signed with the anti-steal token when a secret
// is known (PROTOCOL.md §10), as FastDFS applications build them.

interface UrlArgs extends ClientArgs {
  file_id: string;
  secret?: string;
  ttl?: number;
  'server-ttl': number;
  base?: string;
  'http-port'?: number;
}

export const urlCommand: CommandModule<any, UrlArgs> = {
  command: 'url <file_id>',
  describe: 'print the HTTP URL of a file (signed with ?token=…&ts=… when a secret is given)',
  builder: (y): Argv<any> => withClientOptions(y)
    .positional('file_id', { type: 'string', describe: 'group/M00/…' })
    .option('secret', { type: 'string', describe: 'anti-steal secret (default: http.anti_steal.secret_key of client.conf when check_token is on)' })
    .option('ttl', { type: 'number', describe: 'seconds the signed URL stays valid (default: the storages\' token_ttl, i.e. ts = now)' })
    .option('server-ttl', { type: 'number', default: 600, describe: 'http.anti_steal.token_ttl of the storages (used with --ttl)' })
    .option('base', { type: 'string', describe: 'http://host:port to put in front (default: a storage the tracker names, port --http-port)' })
    .option('http-port', { type: 'number', describe: 'HTTP port of the storages (default: http.tracker_server_port of client.conf, else 80)' })
    .example('$0 url group1/M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg --secret FastDFS1234567890 --ttl 300', 'a URL valid for 5 minutes'),
  handler: async (argv) => {
    try {
      const { group, logicName } = parseFileId(argv.file_id);
      const conf = argv.config ? loadClientConfig({ file: argv.config }).config : null;
      const secret = argv.secret ?? (conf?.['http.anti_steal.check_token'] ? conf['http.anti_steal.secret_key'] : undefined);
      let base = argv.base?.replace(/\/+$/, '');
      if (base === undefined) {
        const port = argv['http-port'] ?? conf?.['http.tracker_server_port'] ?? 80;
        await withClient(argv, async (client) => {
          const s = await client.tracker.queryFetch(group, logicName);
          base = port === 80 ? `http://${formatAddress(s.ip, 80).replace(/:80$/, '')}` : `http://${formatAddress(s.ip, port)}`;
        });
        if (base === undefined) return;
      }
      let url = `${base}/${group}/${logicName}`;
      if (secret) {
        const now = Math.floor(Date.now() / 1000);
        if (argv.ttl !== undefined && (!Number.isFinite(argv.ttl) || argv.ttl <= 0)) throw new FdfsError('EINVAL', '--ttl must be a positive number of seconds');
        // The storage accepts a token while now − ts ≤ token_ttl: moving ts moves the expiry.
        const ts = argv.ttl === undefined ? now : now + Math.ceil(argv.ttl) - argv['server-ttl'];
        const { token } = signFileId(`${group}/${logicName}`, secret, ts);
        url += `?token=${token}&ts=${ts}`;
      }
      printLine(url);
    } catch (err) {
      reportError(err);
    }
  },
};
