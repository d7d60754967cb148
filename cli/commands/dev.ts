import path from 'node:path';
import fs from 'node:fs';
import process from 'node:process';
import type { CommandModule } from 'yargs';
import { startDaemon, type Daemon } from '../../lib/util/daemon-process.ts';
import { DEFAULT_TRACKER } from '../common.ts';
import { FdfsError } from '../../lib/protocol/errno.ts';

// `fdfs dev` (what `npm start` runs): a tracker and two storage servers of group1 on this host,
// data under ./data, until Ctrl-C. The two storages share port 23000 on 127.0.0.2 and
// 127.0.0.3, as FastDFS wants one port per group when storage ids are off.
//
// Quiet by default: one ready line per daemon, then warnings and errors only; --verbose shows
// every log line. Ctrl-C stops each daemon with one SIGTERM (they run in their own process group,
// so the terminal's SIGINT reaches only this process): requests in flight finish, state is saved.

interface DevArgs {
  data: string;
  'tracker-port': number;
  'storage-port': number;
  verbose?: boolean;
  trackers: number;
  'http-port': number;
  subdirs?: number;
}

/** `2026-…Z INFO  tracker: …`: the level of a daemon log line, or undefined for other lines. */
function levelOf(line: string): string | undefined {
  return /^\S+Z (DEBUG|INFO|WARN|ERROR)\b/.exec(line)?.[1];
}

/** The one reason a daemon gave for not starting (its last "cannot start" or error line). */
function startFailure(err: unknown): string {
  const lines = String((err as Error).message ?? err).split('\n').map((l) => l.trim()).filter(Boolean);
  const reason = [...lines].reverse().find((l) => / cannot start: |^fdfs (tracker|storage): /.test(l)) ?? lines[lines.length - 1] ?? 'unknown error';
  return reason.replace(/^fdfs (tracker|storage): (cannot start: )?/, '');
}

export const devCommand: CommandModule<object, DevArgs> = {
  command: 'dev',
  describe: 'run a local cluster: one tracker (or --trackers N) and two storages of group1 (npm start)',
  builder: (y) => y
    .option('data', { type: 'string', default: './data', describe: 'folder for all daemon data' })
    .option('tracker-port', { type: 'number', default: 22122, describe: 'tracker port on 127.0.0.1' })
    .option('trackers', { type: 'number', default: 1, describe: 'how many trackers (one cluster; ports tracker-port, tracker-port+1, …; HTTP ports http-port, http-port+1, …)' })
    .option('storage-port', { type: 'number', default: 23000, describe: 'storage port on 127.0.0.2 and 127.0.0.3' })
    .option('subdirs', { type: 'number', describe: 'data directories per level of each storage, N×N in all (default 256: 65,536, a few seconds at first start)' })
    .option('verbose', { alias: 'v', type: 'boolean', describe: 'show every log line of the daemons (default: warnings and errors)' })
    .option('http-port', { type: 'number', default: 8888, describe: 'HTTP port of every daemon (files on the storages, /metrics and /healthz); 0 = none' })
    .example('$0 dev --tracker-port 22200 --storage-port 23100 --http-port 8889 --data /tmp/fdfs', 'a second cluster beside the default one') as never,
  handler: async (argv) => {
    const data = path.resolve(argv.data);
    const nt = Math.max(1, Math.min(16, Math.floor(argv.trackers)));
    // One tracker keeps ./data/tracker; several get tracker1, tracker2, … (§8.6: equal peers).
    const trackerDirs = Array.from({ length: nt }, (_, i) => path.join(data, nt === 1 ? 'tracker' : `tracker${i + 1}`));
    const dirs = { s1: path.join(data, 'storage1'), s2: path.join(data, 'storage2') };
    for (const d of [...trackerDirs, ...Object.values(dirs)]) fs.mkdirSync(d, { recursive: true });
    const daemons: Daemon[] = [];
    let ready = false;
    const stderrOf = (label: string) => (line: string) => {
      const level = levelOf(line);
      // Before the cluster is ready a failure is reported once, by startFailure; after, warnings count.
      if (argv.verbose || (ready && (level === 'WARN' || level === 'ERROR'))) process.stderr.write(`[${label}] ${line}\n`);
    };
    const stopOne = async (d: Daemon) => {
      const code = await d.stop();
      process.stdout.write(`${d.label} stopped${code === 0 ? '' : ` (exit code ${code})`}\n`);
    };
    // Storages first, then the tracker: a storage losing its tracker mid-shutdown would warn.
    const stopAll = async () => {
      await Promise.all(daemons.filter((d) => !d.label.startsWith('tracker')).map(stopOne));
      await Promise.all(daemons.filter((d) => d.label.startsWith('tracker')).map(stopOne));
    };
    let stopping = false;
    const onSignal = () => {
      if (stopping) {
        process.stdout.write('stopping at once\n');
        for (const d of daemons) d.child.kill('SIGKILL');
        process.exit(1);
      }
      stopping = true;
      process.stdout.write('stopping the cluster (requests in flight finish; Ctrl-C again to kill)…\n');
      stopAll().then(() => process.exit(0), () => process.exit(1));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // The daemons are in their own process group: a closed terminal (SIGHUP) no longer reaches
    // them, so it stops them through here; and whatever ends this process, they do not outlive it.
    process.on('SIGHUP', onSignal);
    process.on('exit', () => { for (const d of daemons) if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGTERM'); });
    const start = async (label: string, args: string[], portOption: string) => {
      try {
        const d = await startDaemon({ label, args, stderr: stderrOf(label), detached: true });
        daemons.push(d);
        return d;
      } catch (err) {
        const reason = startFailure(err);
        if (/EADDRINUSE/.test(reason)) {
          // The HTTP port is shared by every daemon: name the option of the port that is taken.
          if (argv['http-port'] > 0 && new RegExp(`(port |:)${argv['http-port']}\\b`).test(reason)) portOption = '--http-port N';
          throw new FdfsError('EADDRINUSE', `${label} cannot start: ${reason.replace(/^listen EADDRINUSE: /, '')}; ` +
            `another cluster running? Stop it, or choose other ports: fdfs dev ${portOption} (npm start -- ${portOption})`, { retryable: false });
        }
        throw new FdfsError('EIO', `${label} cannot start: ${reason}`, { retryable: false });
      }
    };
    // The storages have addresses of their own, so they share one HTTP port; the trackers share 127.0.0.1.
    const httpAt = (i: number) => (argv['http-port'] > 0 ? ['--http-port', String(argv['http-port'] + i)] : []);
    const http = httpAt(0);
    try {
      const trackerAddrs: string[] = [];
      for (let i = 0; i < nt; i++) {
        const port = argv['tracker-port'] === 0 ? 0 : argv['tracker-port'] + i;
        const tracker = await start(nt === 1 ? 'tracker' : `tracker${i + 1}`,
          ['tracker', 'start', '--bind', '127.0.0.1', '--port', String(port), '--base-path', trackerDirs[i]!, ...httpAt(i)], '--tracker-port N');
        process.stdout.write(`${tracker.readyLine}\n`);
        trackerAddrs.push(`127.0.0.1:${tracker.port}`);
      }
      const trackerAddr = trackerAddrs.join(',');
      const storages = await Promise.allSettled([['127.0.0.2', dirs.s1, 'storage1'], ['127.0.0.3', dirs.s2, 'storage2']].map(([ip, dir, label]) =>
        start(label!, ['storage', 'start', '--group', 'group1', '--bind', ip!, '--port', String(argv['storage-port']),
          '--base-path', dir!, ...trackerAddrs.flatMap((t) => ['--tracker', t]), ...http, ...(argv.subdirs !== undefined ? ['--subdirs', String(argv.subdirs)] : [])], '--storage-port N')));
      const failed = storages.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      for (const s of storages) process.stdout.write(`${(s as PromiseFulfilledResult<Daemon>).value.readyLine}\n`);
      ready = true;
      // The hint names --tracker unless the commands would find this tracker by default.
      const t = trackerAddr === DEFAULT_TRACKER ? '' : trackerAddrs.map((a) => ` --tracker ${a}`).join('');
      process.stdout.write(`cluster ready: tracker${nt === 1 ? '' : 's'} ${trackerAddr}, data under ${data}. Try:\n` +
        `  npx fdfs upload README.md${t}\n  npx fdfs list${t}\nCtrl-C stops it.\n`);
      // Any daemon dying takes the cluster down: a half cluster would only confuse.
      await Promise.race(daemons.map((d) => d.exited.then((code) => {
        if (!stopping) process.stderr.write(`fdfs dev: ${d.label} exited (code ${code}); stopping the cluster\n`);
      })));
      if (!stopping) { stopping = true; await stopAll(); process.exitCode = 1; }
    } catch (err) {
      stopping = true;
      await Promise.all(daemons.map((d) => d.stop()));
      throw err;
    }
  },
};
