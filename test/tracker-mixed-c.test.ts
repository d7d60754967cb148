import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FdfsClient } from '../lib/client/client.ts';
import type { TrackerStat } from '../lib/client/monitor-records.ts';
import { startDaemon, type Daemon } from '../lib/util/daemon-process.ts';
import { freePort, tempDir, waitFor, writeConf } from './helpers/cluster.ts';
import { leaderSeenBy, leadersSeen } from './helpers/trackers.ts';

// A C FastDFS 6.x tracker and an fdfs tracker in one cluster (PROTOCOL.md §8.6): they elect one
// leader between them and both serve clients. Needs fdfs_trackerd on PATH; skipped otherwise.
//
// The C tracker finds itself in the storages' tracker list only by a non-loopback address of this
// host (libfastcommon skips loopback addresses there), so it listens on the host's first IPv4
// address; the fdfs tracker and the storages stay on loopback.

const haveC = spawnSync('sh', ['-c', 'command -v fdfs_trackerd'], { encoding: 'utf8' }).status === 0;
const hostIp = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
// Opt-in (FDFS_C_HOST_IP_TESTS=1): it listens on a non-loopback address of this host, and tests
// stay on 127.0.0.0/8 unless the operator says otherwise. `npm run interop` is the usual place.
const skip = !process.env.FDFS_C_HOST_IP_TESTS ? 'set FDFS_C_HOST_IP_TESTS=1 to run (uses a non-loopback host address)' : !haveC ? 'fdfs_trackerd (C FastDFS) is not on PATH' : !hostIp ? 'no non-loopback IPv4 address for the C tracker' : false;

test('a C tracker and an fdfs tracker elect one leader; both serve; the survivor of either leads', { skip }, async () => {
  const dir = tempDir('fdfs-mixed-');
  const cBase = path.join(dir, 'c');
  fs.mkdirSync(cBase);
  const cPort = await freePort([hostIp!]);
  const cConf = writeConf(path.join(dir, 'c.conf'), {
    disabled: false, bind_addr: hostIp!, port: cPort, base_path: cBase, connect_timeout: 2, network_timeout: 10,
    work_threads: 2, reserved_storage_space: '1%', check_active_interval: 30, log_level: 'info',
  });
  const cAddr = `${hostIp}:${cPort}`;
  let cProc: ChildProcess | null = null;
  const startC = async () => {
    cProc = spawn('fdfs_trackerd', [cConf, '-N', 'start'], { stdio: 'ignore' });
    await waitFor('C tracker listening', async () => (await leaderSeenBy(cAddr)) !== null || fs.existsSync(path.join(cBase, 'data', 'fdfs_trackerd.pid')), 10000, 100);
  };
  const stopC = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = cProc;
    cProc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 10000);
    await gone;
    clearTimeout(t);
  };
  const daemons: Daemon[] = [];
  const client = new FdfsClient({ trackers: [cAddr] });
  try {
    await startC();
    const fBase = path.join(dir, 'f');
    fs.mkdirSync(fBase);
    const f = await startDaemon({ label: 'tracker', args: ['tracker', 'start', '--bind', '127.0.0.1', '--port', '0', '--base-path', fBase] });
    daemons.push(f);
    const fAddr = `127.0.0.1:${f.port}`;
    const addrs = [cAddr, fAddr];
    const ips = ['127.0.0.6', '127.0.0.7'];
    const sPort = await freePort(ips);
    for (const [i, ip] of ips.entries()) {
      const base = path.join(dir, `s${i + 1}`);
      fs.mkdirSync(base);
      const conf = writeConf(path.join(dir, `s${i + 1}.conf`), {
        group_name: 'group1', bind_addr: ip, port: sPort, base_path: base, store_path0: base, tracker_server: addrs,
        heart_beat_interval: 1, stat_report_interval: 5, subdir_count_per_path: 4,
      });
      daemons.push(await startDaemon({ label: `storage${i + 1}`, args: ['storage', 'start', '-c', conf] }));
    }
    const agreed = async () => waitFor<string>('one leader on the C and the fdfs tracker', async () => {
      const l = await leadersSeen(addrs);
      return l[0] && l.every((x) => x === l[0]) ? l[0] : '';
    }, 30000, 200);
    const leader = await agreed();
    assert.ok(addrs.includes(leader), leader);

    // Both serve: upload through each, read through the other.
    for (const [a, b] of [[cAddr, fAddr], [fAddr, cAddr]] as const) {
      const up = new FdfsClient({ trackers: [a], pool: false });
      const down = new FdfsClient({ trackers: [b], pool: false });
      try {
        const id = await waitFor(`upload through ${a}`, () => up.upload(Buffer.from(`via ${a}`), { ext: 'txt' }), 20000, 200);
        assert.equal((await waitFor(`download through ${b}`, () => down.downloadToBuffer(id), 20000, 200)).toString(), `via ${a}`);
      } finally {
        await up.close();
        await down.close();
      }
    }

    // The leader's 96 lists both trackers, the follower active (it pings the leader).
    const viaLeader = new FdfsClient({ trackers: [leader], pool: false });
    try {
      const stats = await waitFor<TrackerStat[]>('both trackers active in 96', async () => {
        const s = await viaLeader.tracker.trackerClusterStat();
        return s.length === 2 && s.every((t) => t.isActive) ? s : undefined as unknown as TrackerStat[];
      }, 15000, 200);
      assert.deepEqual(stats.filter((t) => t.isLeader).map((t) => t.host), [leader]);
    } finally {
      await viaLeader.close();
    }

    // Whichever leads, stopping it makes the other one lead.
    const other = leader === cAddr ? fAddr : cAddr;
    if (leader === cAddr) await stopC('SIGKILL');
    else await f.kill9();
    await waitFor(`${other} leads`, async () => (await leaderSeenBy(other)) === other, 30000, 200);
  } finally {
    await client.close();
    await Promise.all(daemons.map((d) => d.stop()));
    await stopC();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
