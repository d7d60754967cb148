import path from 'node:path';
import fs from 'node:fs';
import process from 'node:process';
import type { CommandModule } from 'yargs';
import { startDaemon, type Daemon } from '../../lib/util/daemon-process.ts';

// `fdfs dev` (what `npm start` runs): a tracker and two storage servers of group1 on this host,
// data under ./data, until Ctrl-C. The two storages share port 23000 on 127.0.0.2 and
// 127.0.0.3, as FastDFS wants one port per group when storage ids are off.

interface DevArgs {
  data: string;
  'tracker-port': number;
  'storage-port': number;
  trackers: number;
}

export const devCommand: CommandModule<object, DevArgs> = {
  command: 'dev',
  describe: 'run a local cluster: one tracker (or --trackers N) and two storages of group1 (npm start)',
  builder: (y) => y
    .option('data', { type: 'string', default: './data', describe: 'folder for all daemon data' })
    .option('tracker-port', { type: 'number', default: 22122, describe: 'tracker port on 127.0.0.1' })
    .option('trackers', { type: 'number', default: 1, describe: 'how many trackers (one cluster; ports tracker-port, tracker-port+1, …)' })
    .option('storage-port', { type: 'number', default: 23000, describe: 'storage port on 127.0.0.2 and 127.0.0.3' }) as never,
  handler: async (argv) => {
    const data = path.resolve(argv.data);
    const nt = Math.max(1, Math.min(16, Math.floor(argv.trackers)));
    // One tracker keeps ./data/tracker; several get tracker1, tracker2, … (§8.6: equal peers).
    const trackerDirs = Array.from({ length: nt }, (_, i) => path.join(data, nt === 1 ? 'tracker' : `tracker${i + 1}`));
    const dirs = { s1: path.join(data, 'storage1'), s2: path.join(data, 'storage2') };
    for (const d of [...trackerDirs, ...Object.values(dirs)]) fs.mkdirSync(d, { recursive: true });
    const daemons: Daemon[] = [];
    const prefixed = (label: string) => (line: string) => process.stderr.write(`[${label}] ${line}\n`);
    const stopAll = async () => {
      await Promise.all(daemons.map((d) => d.stop()));
    };
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      process.stdout.write('stopping the cluster…\n');
      stopAll().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const trackerAddrs: string[] = [];
      for (let i = 0; i < nt; i++) {
        const label = nt === 1 ? 'tracker' : `tracker${i + 1}`;
        const tracker = await startDaemon({
          label,
          args: ['tracker', 'start', '--bind', '127.0.0.1', '--port', String(argv['tracker-port'] === 0 ? 0 : argv['tracker-port'] + i), '--base-path', trackerDirs[i]!],
          stderr: prefixed(label),
        });
        daemons.push(tracker);
        process.stdout.write(`${tracker.readyLine}\n`);
        trackerAddrs.push(`127.0.0.1:${tracker.port}`);
      }
      const trackerAddr = trackerAddrs.join(',');
      const storages = await Promise.all([['127.0.0.2', dirs.s1, 'storage1'], ['127.0.0.3', dirs.s2, 'storage2']].map(([ip, dir, label]) =>
        startDaemon({
          label: label!,
          args: ['storage', 'start', '--group', 'group1', '--bind', ip!, '--port', String(argv['storage-port']),
            '--base-path', dir!, ...trackerAddrs.flatMap((t) => ['--tracker', t])],
          stderr: prefixed(label!),
        })));
      for (const s of storages) {
        daemons.push(s);
        process.stdout.write(`${s.readyLine}\n`);
      }
      const env = nt === 1 ? '' : `FDFS_TRACKER=${trackerAddr} `;
      process.stdout.write(`cluster ready: tracker${nt === 1 ? '' : 's'} ${trackerAddr}, data under ${data}. Try:\n` +
        `  ${env}npx fdfs upload README.md\n  ${env}npx fdfs list\nCtrl-C stops it.\n`);
      // Any daemon dying takes the cluster down: a half cluster would only confuse.
      await Promise.race(daemons.map((d) => d.exited.then((code) => {
        if (!stopping) process.stderr.write(`${d.label} exited (code ${code}); stopping the cluster\n`);
      })));
      if (!stopping) { stopping = true; await stopAll(); process.exitCode = 1; }
    } catch (err) {
      await stopAll();
      throw err;
    }
  },
};
