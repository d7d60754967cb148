import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FdfsClient } from '../lib/client/client.ts';
import { waitFor } from './helpers/cluster.ts';
import { leaderSeenBy, leadersSeen, startTrackerCluster, type TrackerCluster } from './helpers/trackers.ts';

// The trackers of one cluster are equal peers (PROTOCOL.md §8.6, §8.7): one leader elected among
// them, a dead leader replaced, a restarted or fresh tracker joining as a follower, and clients and
// storages working with every tracker.

/** The leader every running tracker names, once they all name the same one. */
async function agreedLeader(addrs: readonly string[], timeoutMs = 15000): Promise<string> {
  return waitFor<string>(`one leader named by ${addrs.join(', ')}`, async () => {
    const l = await leadersSeen(addrs);
    return l[0] && l.every((x) => x === l[0]) ? l[0] : '';
  }, timeoutMs, 100);
}

/**
 * Polls 95 on every tracker and records the longest time two reachable trackers named different
 * leaders (split brain). A tracker without a leader (ENOENT) or down does not count.
 */
function splitBrainWatch(addrs: readonly string[]) {
  let stop = false;
  let since: number | null = null;
  let longest = 0;
  const seen: string[] = [];
  const loop = (async () => {
    while (!stop) {
      const l = (await leadersSeen(addrs)).filter((x): x is string => x !== null);
      const split = new Set(l).size > 1;
      const now = Date.now();
      if (split) {
        since ??= now;
        longest = Math.max(longest, now - since);
        seen.push(`${new Date(now).toISOString()} ${l.join(' ')}`);
      } else {
        since = null;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { async end() { stop = true; await loop; return { longest, seen }; } };
}

/** Uploads and downloads in a loop; each operation may be retried once (on another tracker). */
function clientLoad(client: FdfsClient, workers = 2) {
  let stop = false;
  const acked = new Map<string, Buffer>();
  const failures: string[] = [];
  let retries = 0;
  let ops = 0;
  const once = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (first) {
      retries++;
      try {
        return await fn();
      } catch (second) {
        failures.push(`${what}: ${(first as Error).message} / ${(second as Error).message}`);
        return undefined;
      }
    }
  };
  // Bounded even if nobody calls end(): the test's own timeout is well below this.
  const deadline = Date.now() + 10 * 60_000;
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; !stop && Date.now() < deadline; i++) {
      const data = Buffer.from(`worker ${w} file ${i} ${'x'.repeat(i % 50)}`);
      const id = await once('upload', () => client.upload(data, { ext: 'txt' }));
      ops++;
      // A failing client (closed when the test failed) rejects without I/O: yield to the event
      // loop, or this loop would run on microtasks alone and starve the timers that end the test.
      if (!id) await new Promise((r) => setTimeout(r, 10));
      if (id) acked.set(id, data);
      const ids = [...acked.keys()];
      const pick = ids[(i * 7 + w) % ids.length];
      if (pick) {
        const got = await once(`download ${pick}`, () => client.downloadToBuffer(pick));
        ops++;
        if (got && !got.equals(acked.get(pick)!)) failures.push(`download ${pick}: wrong content`);
      }
    }
  });
  return {
    get ops() { return ops; },
    async end() { stop = true; await Promise.all(loops); return { acked, failures, retries }; },
  };
}

async function activeOn(addr: string, count: number, timeoutMs = 20000): Promise<void> {
  const one = new FdfsClient({ trackers: [addr], pool: false });
  try {
    await waitFor(`${count} storages ACTIVE on ${addr}`, async () =>
      (await one.listStorages('group1')).filter((s) => s.status === 7).length === count, timeoutMs, 100);
  } finally {
    await one.close();
  }
}

async function readAll(client: FdfsClient, acked: Map<string, Buffer>): Promise<void> {
  for (const [id, data] of acked) assert.deepEqual(await client.downloadToBuffer(id), data, `${id} readable`);
}

test('two trackers: kill -9 of the leader under client load; the other leads, the restarted one follows, nothing acknowledged is lost', async (t) => {
  const c = await startTrackerCluster({ trackers: 2, storages: 2 });
  const client = new FdfsClient({ trackers: c.trackerAddrs, connectTimeout: 2, networkTimeout: 5 });
  let watch: ReturnType<typeof splitBrainWatch> | undefined;
  let load: ReturnType<typeof clientLoad> | undefined;
  try {
    const leader = await agreedLeader(c.trackerAddrs);
    for (const a of c.trackerAddrs) await activeOn(a, 2);
    const li = c.trackerAddrs.indexOf(leader);
    const other = c.trackerAddrs[1 - li]!;
    watch = splitBrainWatch(c.trackerAddrs);
    const running = clientLoad(client);
    load = running;
    await waitFor('some load', () => running.ops >= 10, 15000);

    await c.killTracker(li);
    const killedAt = Date.now();
    await waitFor(`${other} leads`, async () => (await leaderSeenBy(other)) === other, 15000, 100);
    const took = Date.now() - killedAt;
    // Nominal: three pings a second apart, then one round (≈ 4 s); generous for a loaded CI machine.
    assert.ok(took < 10000, `new leader after ${took} ms`);
    t.diagnostic(`new leader ${took} ms after kill -9`);
    const opsAtElection = running.ops;
    await waitFor('load goes on under the new leader', () => running.ops >= opsAtElection + 10, 15000);

    await c.startTracker(li);
    await waitFor('the restarted tracker follows', async () => (await leaderSeenBy(leader)) === other, 20000, 100);
    await activeOn(leader, 2);
    const opsAfterRestart = running.ops;
    await waitFor('load goes on after the restart', () => running.ops >= opsAfterRestart + 10, 15000);

    load = undefined;
    const { acked, failures, retries } = await running.end();
    assert.deepEqual(failures, [], 'no operation failed twice');
    assert.ok(acked.size >= 15, `${acked.size} uploads acknowledged (${retries} retried)`);
    t.diagnostic(`${acked.size} uploads acknowledged, ${retries} operations retried once`);
    assert.equal(await agreedLeader(c.trackerAddrs), other);
    const { longest, seen } = await watch.end();
    watch = undefined;
    assert.ok(longest <= 2000, `trackers named different leaders for ${longest} ms: ${seen.slice(0, 5).join('; ')}`);
    await readAll(client, acked);
  } finally {
    // Stop the load before closing its client (an assertion above may have thrown).
    await load?.end();
    await watch?.end();
    await client.close();
    await c.stop();
  }
});

test('three trackers: stopping any one leaves the cluster working; stopping two leaves the last one serving', async () => {
  const c = await startTrackerCluster({ trackers: 3, storages: 1 });
  const client = new FdfsClient({ trackers: c.trackerAddrs, connectTimeout: 2, networkTimeout: 5 });
  const watch = splitBrainWatch(c.trackerAddrs);
  try {
    const leader = await agreedLeader(c.trackerAddrs);
    for (const a of c.trackerAddrs) await activeOn(a, 1);
    const li = c.trackerAddrs.indexOf(leader);
    const id1 = await client.upload(Buffer.from('before'), { ext: 'txt' });

    // Stop a follower: the leader stays, everything works.
    const fi = (li + 1) % 3;
    await c.stopTracker(fi);
    const two = c.trackerAddrs.filter((_, i) => i !== fi);
    assert.equal(await agreedLeader(two), leader);
    const id2 = await client.upload(Buffer.from('one down'), { ext: 'txt' });
    assert.equal((await client.downloadToBuffer(id1)).toString(), 'before');

    // Stop the leader too: the last tracker elects itself and serves alone.
    await c.stopTracker(li);
    const last = c.trackerAddrs[3 - li - fi]!;
    await waitFor(`${last} leads alone`, async () => (await leaderSeenBy(last)) === last, 15000, 100);
    const id3 = await client.upload(Buffer.from('two down'), { ext: 'txt' });
    for (const [id, text] of [[id1, 'before'], [id2, 'one down'], [id3, 'two down']] as const) {
      assert.equal((await client.downloadToBuffer(id)).toString(), text);
    }
    const groups = await new FdfsClient({ trackers: [last], pool: false }).listGroups();
    assert.equal(groups[0]?.group_name, 'group1');

    // Both come back as followers of the last one.
    await c.startTracker(li);
    await c.startTracker(fi);
    assert.equal(await agreedLeader(c.trackerAddrs, 20000), last);
    const { longest, seen } = await watch.end();
    assert.ok(longest <= 2000, `trackers named different leaders for ${longest} ms: ${seen.slice(0, 5).join('; ')}`);
  } finally {
    await watch.end();
    await client.close();
    await c.stop();
  }
});

/** The fields of 91/92 every tracker must agree on (times and free space are each tracker's own reading). */
async function clusterView(addr: string) {
  const one = new FdfsClient({ trackers: [addr], pool: false });
  try {
    const groups = (await one.listGroups()).map((g) => ({
      name: g.group_name, storages: g.storage_count, port: g.storage_port, readable: g.readable_server_count,
      writable: g.writable_server_count, paths: g.store_path_count, subdirs: g.subdir_count_per_path,
    }));
    const one90 = await one.tracker.listGroup('group1');
    const storages = (await one.listStorages('group1')).map((s) => ({
      id: s.id, status: s.status, ip: s.ip_addr, port: s.storage_port, version: s.version, joined: s.join_time,
      src: s.src_id, rw: s.rw_mode, paths: s.store_path_count, uploads: s.stat.counters.success_upload_count,
    }));
    return { groups, one: one90.storage_count, storages };
  } finally {
    await one.close();
  }
}

test('a fresh tracker with an empty base path joins a running pair and answers 90/91/92 like them within two heartbeats', async (t) => {
  const hbi = 2;
  const c = await startTrackerCluster({ trackers: 3, startTrackers: 2, storages: 2, storage: { heart_beat_interval: hbi } });
  const client = new FdfsClient({ trackers: c.trackerAddrs.slice(0, 2) });
  try {
    const leader = await agreedLeader(c.trackerAddrs.slice(0, 2));
    for (const a of c.trackerAddrs.slice(0, 2)) await activeOn(a, 2);
    for (let i = 0; i < 3; i++) await client.upload(Buffer.from(`file ${i}`), { ext: 'txt' });
    await waitFor('both storages ACTIVE on the pair', async () => {
      const views = await Promise.all(c.trackerAddrs.slice(0, 2).map(clusterView));
      return views.every((v) => v.storages.length === 2 && v.storages.every((st) => st.status === 7));
    }, 20000, 100);

    await c.startTracker(2, { emptyBase: true });
    const ready = Date.now();
    const fresh = c.trackerAddrs[2]!;
    let last = '';
    await waitFor('the fresh tracker answers like the pair', async () => {
      const [views, l] = await Promise.all([Promise.all(c.trackerAddrs.map(clusterView)), leaderSeenBy(fresh)]);
      last = views.map((v) => JSON.stringify(v)).join('\n');
      return new Set(views.map((v) => JSON.stringify(v))).size === 1 && l === leader;
    }, 2 * hbi * 1000, 50).catch((err) => {
      throw new Error(`${(err as Error).message}\n${last}`);
    });
    const took = Date.now() - ready;
    assert.ok(took < 2 * hbi * 1000, `answered like the pair after ${took} ms`);
    t.diagnostic(`fresh tracker answered like the pair ${took} ms after it was ready`);
    assert.equal(await agreedLeader(c.trackerAddrs), leader);
  } finally {
    await client.close();
    await c.stop();
  }
});

export type { TrackerCluster };
