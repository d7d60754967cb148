import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError } from '../../lib/config/errors.ts';
import { loadStorageConfig } from '../../lib/config/storage-config.ts';
import { formatAddress } from '../../lib/protocol/ip.ts';
import { createLogger, levelFromConf } from '../../lib/util/log.ts';
import { printLine, withClient } from '../common.ts';
import { failDaemon, runDaemon } from '../daemon.ts';

// `fdfs storage start`: the storage daemon in the foreground. Logs go to stderr; stdout gets
// exactly one line once the storage listens and the trackers answered its start-up requests.

interface StartArgs {
  action?: 'start' | 'delete';
  /** delete: the storage id (the group is the `group` positional, §2.7). */
  id?: string;
  config?: string;
  group?: string;
  bind?: string;
  port?: number;
  'base-path'?: string;
  'http-port'?: number;
  'store-path'?: string[];
  tracker?: string[];
  subdirs?: number;
}

function fail(message: string, code: number): never {
  failDaemon('storage', message, code);
}

async function start(argv: StartArgs): Promise<void> {
  const overrides: Record<string, unknown> = {
    group_name: argv.group,
    bind_addr: argv.bind,
    base_path: argv['base-path'],
    store_paths: argv['store-path']?.length ? argv['store-path'] : undefined,
    tracker_server: argv.tracker?.length ? argv.tracker : undefined,
    subdir_count_per_path: argv.subdirs,
  };
  // --port 0 (any free port) is not a valid conf value, so it bypasses the conf.
  const listenPort = argv.port === 0 ? 0 : undefined;
  if (argv.port !== undefined && argv.port !== 0) overrides.port = argv.port;

  let loaded;
  try {
    loaded = loadStorageConfig({ file: argv.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  const { config, warnings } = loaded;
  // Without a conf file nothing can name the group: asking the tracker (group_name empty) works
  // only with storage ids in a conf, and would otherwise retry for ever (EOPNOTSUPP).
  if (!config.group_name && argv.config === undefined) fail('--group or group_name (in a storage.conf given with -c) is required', 2);
  const log = createLogger('storage', process.env.FDFS_LOG_LEVEL ? undefined : levelFromConf(config.log_level));
  for (const w of warnings) log('warn', w);

  // Loaded here, not at the top: every other `fdfs` command would pay for the storage's modules.
  const { StorageServer } = await import('../../lib/storage/storage-server.ts');
  const server = new StorageServer(config, log, { listenPort, httpPort: argv['http-port'] });
  await runDaemon('storage', server, log, {
    stopping: 'finishing requests in flight, then stopping',
    ready: (addr) => `storage listening on ${formatAddress(addr.host, addr.port)} (${server.groupName})`,
    startError: (err) => ({ message: (err as Error).message, code: 1 }),
  });
}

/**
 * `fdfs storage delete GROUP ID`: 93 DELETE_STORAGE on every tracker (§2.7), after checking no
 * tracker lists it online. Its group's members then stop syncing to it (§5.9); if it starts
 * again it re-joins as a new member and gets every file again.
 */
async function deleteStorage(argv: StartArgs): Promise<void> {
  const { group, id } = argv;
  if (!group || !id) fail('storage delete needs a group and a storage id: fdfs storage delete GROUP ID', 2);
  await withClient({ tracker: argv.tracker, config: argv.config }, async (client) => {
    await client.tracker.deleteStorage(group, id);
    printLine(`storage ${id} deleted from ${group}`);
  });
}

export const storageCommand: CommandModule<object, StartArgs> = {
  command: 'storage <action> [group] [id]',
  describe: 'storage daemon (runs in the foreground; stop it with Ctrl-C or SIGTERM)',
  builder: (y: Argv<object>) => y
    .positional('action', { choices: ['start', 'delete'] as const, describe: 'start: run the storage server; delete: remove a stopped storage from its group' })
    .positional('group', { type: 'string', describe: 'delete: the group' })
    .positional('id', { type: 'string', describe: 'delete: the storage id (its IP without storage ids)' })
    .option('config', { alias: 'c', type: 'string', describe: 'storage.conf to read' })
    .option('group', { type: 'string', describe: 'start: group_name; delete: the group of the storage' })
    .option('bind', { type: 'string', describe: 'bind_addr: listen on this address and connect from it' })
    .option('port', { type: 'number', describe: 'port (0 = any free port; the ready line shows it)' })
    .option('http-port', { type: 'number', describe: 'HTTP port for files (storage), /metrics and /healthz (0 = any free port; default http.server_port)' })
    .option('base-path', { type: 'string', describe: 'base_path (binlog, state files)' })
    .option('store-path', { type: 'string', array: true, describe: 'store path (repeat for several; default: base_path)' })
    .option('tracker', { type: 'string', array: true, describe: 'tracker_server HOST:PORT (repeatable)' })
    .option('subdirs', { type: 'number', describe: 'subdir_count_per_path: data directories per level, N×N in all (default 256)' })
    .example('$0 storage start -c /etc/fdfs/storage.conf', 'run with a FastDFS storage.conf')
    .example('$0 storage start --group group1 --base-path /tmp/s1 --tracker 127.0.0.1:22122 --port 0', 'no conf file')
    .example('$0 storage delete group1 127.0.0.3 --tracker 127.0.0.1:22122', 'delete a stopped storage (-c then names a client.conf)') as unknown as Argv<StartArgs>,
  handler: (argv) => (argv.action === 'delete' ? deleteStorage(argv) : start(argv)),
};
