import process from 'node:process';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError } from '../../lib/config/errors.ts';
import { loadTrackerConfig } from '../../lib/config/tracker-config.ts';
import { formatAddress } from '../../lib/protocol/ip.ts';
import { createLogger, levelFromConf } from '../../lib/util/log.ts';
import { failDaemon, runDaemon } from '../daemon.ts';

// `fdfs tracker start`: the tracker daemon in the foreground. Logs go to stderr; stdout gets
// exactly one line once it listens: `tracker listening on IP:PORT`.

interface StartArgs {
  action?: string;
  config?: string;
  bind?: string;
  port?: number;
  'base-path'?: string;
  'http-port'?: number;
}

function fail(message: string, code: number): never {
  failDaemon('tracker', message, code);
}

async function start(argv: StartArgs): Promise<void> {
  if (argv.config === undefined && argv['base-path'] === undefined) {
    fail('give a tracker.conf (-c FILE) or at least --base-path DIR (where the tracker keeps its data)', 2);
  }
  // port 0 = any free port; the ready line shows the real one.
  const overrides: Record<string, unknown> = { bind_addr: argv.bind, base_path: argv['base-path'], port: argv.port };

  let loaded;
  try {
    loaded = loadTrackerConfig({ file: argv.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
  const { config, warnings } = loaded;
  const log = createLogger('tracker', process.env.FDFS_LOG_LEVEL ? undefined : levelFromConf(config.log_level));
  // Conf warnings (unknown keys, adjusted values) are shown whatever the log level.
  for (const w of warnings) process.stderr.write(`fdfs tracker: warning: ${w}\n`);

  // Loaded here, not at the top: every other `fdfs` command would pay for the tracker's modules.
  const { TrackerServer } = await import('../../lib/tracker/tracker-server.ts');
  const server = new TrackerServer(config, log, { httpPort: argv['http-port'] });
  await runDaemon('tracker', server, log, {
    stopping: 'finishing requests in flight, saving state, stopping',
    ready: (addr) => `tracker listening on ${formatAddress(addr.host, addr.port)}`,
    startError: (err) => ({ message: err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`, code: err instanceof ConfigError ? 2 : 1 }),
  });
}

export const trackerCommand: CommandModule<object, StartArgs> = {
  command: 'tracker <action>',
  describe: 'tracker daemon (runs in the foreground; stop it with Ctrl-C or SIGTERM)',
  builder: (y: Argv<object>) => y
    .positional('action', { choices: ['start'] as const, describe: 'start: run the tracker' })
    .option('config', { alias: 'c', type: 'string', describe: 'tracker.conf to read' })
    .option('bind', { type: 'string', describe: 'bind_addr: listen on this address only' })
    .option('port', { type: 'number', describe: 'port (0 = any free port; the ready line shows it)' })
    .option('http-port', { type: 'number', describe: 'HTTP port for files (storage), /metrics and /healthz (0 = any free port; default http.server_port)' })
    .option('base-path', { type: 'string', describe: 'base_path (data files and logs)' })
    .example('$0 tracker start -c /etc/fdfs/tracker.conf', 'run with a FastDFS tracker.conf')
    .example('$0 tracker start --base-path /tmp/tracker --bind 127.0.0.1 --port 0', 'no conf file') as unknown as Argv<StartArgs>,
  handler: (argv) => start(argv),
};
