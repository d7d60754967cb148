import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fdfsCommand, startDaemon } from '../lib/util/daemon-process.ts';
import { STORAGE_IPS, freePort, tempDir, waitFor, writeConf } from './helpers/cluster.ts';

// /healthz both ways on real processes: a storage whose tracker is not up yet answers 503 with
// the reason, then 200 once a tracker made it ACTIVE; the tracker's own /healthz and /metrics.

async function health(url: string): Promise<{ status: number; text: string } | null> {
  try {
    const r = await fetch(url);
    return { status: r.status, text: await r.text() };
  } catch {
    return null;
  }
}

test('storage /healthz: 503 while no tracker answered, 200 once ACTIVE; tracker /healthz 200', async () => {
  const dir = tempDir('fdfs-health-');
  const trackerPort = await freePort(['127.0.0.1']);
  const trackerHttp = await freePort(['127.0.0.1']);
  const host = STORAGE_IPS[0]!;
  const storagePort = await freePort([host]);
  const storageHttp = await freePort([host]);
  const base = path.join(dir, 'storage');
  fs.mkdirSync(base);
  fs.mkdirSync(path.join(dir, 'tracker'));
  const conf = writeConf(path.join(dir, 'storage.conf'), {
    group_name: 'group1', bind_addr: host, port: storagePort, base_path: base, tracker_server: `127.0.0.1:${trackerPort}`,
    heart_beat_interval: 1, stat_report_interval: 2, subdir_count_per_path: 4, 'http.server_port': storageHttp,
  });
  const cmd = fdfsCommand();
  const storage = spawn(cmd.command, [...cmd.args, 'storage', 'start', '-c', conf], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise((r) => storage.once('exit', r));
  let tracker: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const url = `http://${host}:${storageHttp}/healthz`;
    const down = (await waitFor('the storage HTTP port', () => health(url), 20000, 100))!;
    assert.equal(down.status, 503);
    assert.match(down.text, /^not serving: waiting for the trackers\n$/);

    const tconf = writeConf(path.join(dir, 'tracker.conf'), {
      bind_addr: '127.0.0.1', port: trackerPort, base_path: path.join(dir, 'tracker'), reserved_storage_space: '1%', 'http.server_port': trackerHttp,
    });
    tracker = await startDaemon({ label: 'tracker', args: ['tracker', 'start', '-c', tconf] });
    const t = await health(`http://127.0.0.1:${trackerHttp}/healthz`);
    assert.equal(t?.status, 200);
    assert.match(t!.text, /^ok: (leader|follower|electing), \d+ group\(s\)\n$/);

    const up = (await waitFor('the storage ACTIVE', async () => {
      const h = await health(url);
      return h?.status === 200 ? h : null;
    }, 30000, 100))!;
    assert.equal(up.text, 'ok: ACTIVE in group1\n');
    const metrics = await (await fetch(`http://127.0.0.1:${trackerHttp}/metrics`)).text();
    assert.match(metrics, /^fdfs_tracker_storages\{group="group1",status="ACTIVE",role="tracker"\} 1$/m);
  } finally {
    storage.kill('SIGTERM');
    await exited;
    await tracker?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
