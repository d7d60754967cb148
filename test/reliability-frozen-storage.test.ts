import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FdfsClient } from '../lib/client/client.ts';
import { startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, stateOn, waitActive, type Addr } from './helpers/replication.ts';

// Issue 15 defect 8: during 20 s of SIGSTOP a frozen storage kept getting uploads. A client now
// sends an unanswered upload to another member, and the tracker stops routing to a storage whose
// report link has gone silent, long before the heartbeat timeout (check_active_interval, 100 s).

let cluster: Cluster;
let s1: Addr;
let s2: Addr;
let frozen = false;

before(async () => {
  cluster = await startCluster({ storages: 2 });
  s1 = addrOf(cluster.storages[0]!);
  s2 = addrOf(cluster.storages[1]!);
  await waitActive(cluster, 2);
});

after(async () => {
  if (frozen) cluster.storages[1]!.child.kill('SIGCONT');
  await cluster?.stop();
});

/** Wait until the tracker has seen `n` more heartbeats of storage `id` (92, last_heart_beat_time). */
async function heartbeats(id: string, n: number): Promise<void> {
  const client = new FdfsClient({ trackers: [cluster.trackerAddr] });
  try {
    const seen = new Set<number>();
    await waitFor(`${n} heartbeats of ${id}`, async () => {
      const [r] = await client.listStorages(cluster.group, id);
      seen.add(r!.stat.last_heart_beat_time);
      return seen.size > n;
    }, 30000, 200);
  } finally {
    await client.close();
  }
}

function freeze(on: boolean): void {
  cluster.storages[1]!.child.kill(on ? 'SIGSTOP' : 'SIGCONT');
  frozen = on;
}

test('uploads that land on a frozen storage go to the other member after network_timeout', async () => {
  const client = new FdfsClient({ trackers: [cluster.trackerAddr], networkTimeout: 2 });
  freeze(true);
  try {
    // Round robin (store_server = 0): every other upload is routed to the frozen storage at first.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await client.upload(Buffer.from(`upload ${i} while s2 sleeps`), { ext: 'txt' }));
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(await stateOn(s1, id) !== null, true, `${id} (upload ${i}) is on the awake member`);
    }
  } finally {
    await client.close();
    freeze(false);
  }
});

test('the tracker stops routing uploads to a storage whose link went silent, and routes to it again when it wakes', async () => {
  const client = new FdfsClient({ trackers: [cluster.trackerAddr], networkTimeout: 5 });
  try {
    // Both members get uploads while awake (round robin).
    const awake = new Set<string>();
    for (let i = 0; i < 4; i++) awake.add((await client.queryStore()).ip);
    assert.deepEqual([...awake].sort(), [s1.host, s2.host]);
    // The tracker learns a storage's rhythm from a few heartbeats first.
    await heartbeats(s2.host, 4);
    freeze(true);
    // Heartbeats every 2 s here: after a few missed ones every answer is s1 — check_active_interval
    // (100 s) would take far longer than this wait.
    await waitFor('the tracker to route around the frozen storage', async () => {
      for (let i = 0; i < 4; i++) if ((await client.queryStore()).ip !== s1.host) return false;
      return true;
    }, 20000, 500);
    freeze(false);
    await waitFor('the woken storage to be routed to again', async () => {
      for (let i = 0; i < 4; i++) if ((await client.queryStore()).ip === s2.host) return true;
      return false;
    }, 20000, 200);
  } finally {
    if (frozen) freeze(false);
    await client.close();
  }
});
