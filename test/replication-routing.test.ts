import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FdfsClient } from '../lib/client/client.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { runCli, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { readFrom, waitActive } from './helpers/replication.ts';

// Issue 5: "a download asked of the tracker right after an upload never lands on a member that
// lacks the file" (§8.4 with the sync progress of 89), and the tracker offers the replica soon
// after it holds the file (C FastDFS: ~27 s at best).

let cluster: Cluster;
let client: FdfsClient;

before(async () => {
  cluster = await startCluster({ storages: 2 });
  await waitActive(cluster, 2);
  client = new FdfsClient({ trackers: [cluster.trackerAddr] });
});

after(async () => {
  await client?.close();
  await cluster?.stop();
});

async function checkEveryAnswer(fileId: string, data: Buffer): Promise<number> {
  const want = crc32(data);
  const servers = [
    // 102 rotates over the readable members: ask it a few times.
    ...(await client.queryFetch(fileId)), ...(await client.queryFetch(fileId)), ...(await client.queryFetch(fileId)),
    ...(await client.queryFetch(fileId, true)),
  ];
  for (const s of servers) {
    const got = await readFrom({ host: s.ip, port: s.port }, fileId);
    assert.ok(got !== null, `the tracker sent a download of ${fileId} to ${s.ip}:${s.port}, which does not hold it`);
    assert.equal(got.length, data.length);
    assert.equal(crc32(got), want);
  }
  return new Set(servers.map((s) => s.ip)).size;
}

test('downloads routed right after an upload always find the file', async () => {
  let sawReplica = false;
  for (let i = 0; i < 150; i++) {
    const data = crypto.randomBytes(1 + (i * 7919) % 20000);
    const fileId = await client.upload(data, { ext: 'bin' });
    if ((await checkEveryAnswer(fileId, data)) > 1) sawReplica = true;
  }
  // Later in the run (or after a moment) the tracker does use the replica.
  if (!sawReplica) {
    const data = crypto.randomBytes(100);
    const fileId = await client.upload(data);
    await waitFor('the tracker to offer the replica', async () => (await client.queryFetch(fileId, true)).length === 2, 10000, 50);
    assert.equal(await checkEveryAnswer(fileId, data), 2);
  }
});

test('bursts from several clients at once: still never a member without the file', async () => {
  const workers = Array.from({ length: 8 }, async () => {
    const c = new FdfsClient({ trackers: [cluster.trackerAddr] });
    try {
      for (let i = 0; i < 25; i++) {
        const data = crypto.randomBytes(4096);
        const fileId = await c.upload(data, { ext: 'bin' });
        await checkEveryAnswer(fileId, data);
      }
    } finally {
      await c.close();
    }
  });
  await Promise.all(workers);
});

test('the tracker lists the replica within seconds of the upload (105)', async () => {
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const data = crypto.randomBytes(2048);
    const fileId = await client.upload(data);
    const t0 = performance.now();
    await waitFor('105 to list both members', async () => (await client.queryFetch(fileId, true)).length === 2, 10000, 20);
    delays.push(performance.now() - t0);
    await checkEveryAnswer(fileId, data);
  }
  // The watermark needs the file's second to be over plus a guard (0.5–1.5 s), then one report.
  const worst = Math.max(...delays);
  if (process.env.FDFS_TEST_VERBOSE) process.stderr.write(`replica offered after ${delays.map((d) => d.toFixed(0)).join(", ")} ms\n`);
  assert.ok(worst < 4000, `replica offered after ${delays.map((d) => d.toFixed(0)).join(', ')} ms`);
});

test('fdfs list shows each member\'s sync lag, back to 0s once replication caught up', async () => {
  const data = crypto.randomBytes(1000);
  await client.upload(data);
  // The lag moves with heartbeats (last_source_update) and sync reports: wait for a quiet moment.
  await waitFor('both members 0 s behind', async () => {
    const r = await runCli(['--tracker', cluster.trackerAddr, 'list', '--json']);
    if (r.code !== 0) return false;
    const storages = JSON.parse(r.stdout).groups[0].storages as Array<{ sync_lag_seconds: number | null; stat: { last_synced_timestamp: number } }>;
    return storages.length === 2 && storages.every((s) => s.sync_lag_seconds === 0 && s.stat.last_synced_timestamp > 0);
  }, 15000, 200);
  let last = '';
  await waitFor('the table to show it', async () => {
    const text = await runCli(['--tracker', cluster.trackerAddr, 'list']);
    last = text.stdout;
    return text.code === 0 && /SYNC LAG\s+SYNCED UP TO/.test(text.stdout) && (text.stdout.match(/ACTIVE .* 0s {2}/g) ?? []).length === 2;
  }, 15000, 200).catch((err: Error) => { throw new Error(`${err.message}\n${last}`); });
});
