import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FdfsClient } from '../lib/client/client.ts';
import { parseTrunkName } from '../lib/storage/trunk/trunk-name.ts';
import type { TrunkSlot } from '../lib/storage/trunk/types.ts';
import { STORAGE_IPS, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, readFrom, split, waitActive, type Addr } from './helpers/replication.ts';

// Trunk server failover under upload load (PROTOCOL.md §11.5, §11.7): the trunk server is killed
// with -9 while clients upload small files through the tracker; the tracker moves the role, the new
// trunk server rebuilds its free space from its copy of the trunk binlog, uploads succeed again.
// Afterwards every acknowledged file reads back byte-exact from every member, and no two
// acknowledged names point at overlapping slots of one trunk file.

const MEMBERS = 3;
const WORKERS = 6;
const TRUNK_TRACKER = {
  use_trunk_file: true, slot_min_size: 256, slot_max_size: '64K', trunk_file_size: '4M', check_active_interval: 5,
};

interface Load {
  acked: Map<string, Buffer>;
  errors: Map<string, number>;
  /** Acknowledged uploads so far (also those made after a given moment: compare two readings). */
  count(): number;
  stop(): Promise<void>;
}

/**
 * WORKERS loops uploading 1–16 KiB through the tracker until stop() or `max` uploads each. A failed
 * upload is counted by its errno and retried after a pause (the trunk server may be gone); only an
 * acknowledged id is kept, with its bytes.
 */
function startLoad(client: FdfsClient, max = 5000): Load {
  const acked = new Map<string, Buffer>();
  const errors = new Map<string, number>();
  let stopping = false;
  const worker = async () => {
    for (let i = 0; i < max && !stopping; i++) {
      const data = crypto.randomBytes(1024 + crypto.randomInt(15 * 1024 + 1));
      try {
        const id = await client.upload(data, { ext: 'bin' });
        assert.equal(acked.has(id), false, `${id} acknowledged twice`);
        acked.set(id, data);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        const code = (err as { code?: string }).code ?? (err as Error).message;
        errors.set(code, (errors.get(code) ?? 0) + 1);
        await sleep(100); // never spin on a rejected promise
      }
    }
  };
  const running = Array.from({ length: WORKERS }, worker);
  return {
    acked,
    errors,
    count: () => acked.size,
    stop: async () => {
      stopping = true;
      await Promise.all(running);
    },
  };
}

/** The member that the tracker lists as trunk server (92 if_trunk_server), or null. */
async function trunkServer(client: FdfsClient, group: string): Promise<string | null> {
  const list = await client.listStorages(group);
  return list.find((s) => s.if_trunk_server)?.ip_addr ?? null;
}

const overlaps = (a: TrunkSlot, b: TrunkSlot) => a.storePathIndex === b.storePathIndex
  && a.subPathHigh === b.subPathHigh && a.subPathLow === b.subPathLow && a.trunkId === b.trunkId
  && a.offset < b.offset + b.size && b.offset < a.offset + a.size;

/** Pairs of ids whose slots overlap (sorted by trunk file and offset, so neighbours suffice). */
function overlappingSlots(ids: string[]): string[] {
  const slots = ids.map((id) => {
    const t = parseTrunkName(split(id).name);
    assert.ok(t, `${id} is a trunk name`);
    return { id, s: t.slot };
  });
  const key = (s: TrunkSlot) => `${s.storePathIndex}/${s.subPathHigh}/${s.subPathLow}/${s.trunkId}`;
  slots.sort((a, b) => (key(a.s) < key(b.s) ? -1 : key(a.s) > key(b.s) ? 1 : a.s.offset - b.s.offset));
  const bad: string[] = [];
  // With sorted offsets, a slot overlaps an earlier one of its file iff it starts before the
  // furthest end seen so far in that file.
  let far = slots[0];
  for (let i = 1; i < slots.length; i++) {
    const cur = slots[i]!;
    if (key(far!.s) !== key(cur.s)) { far = cur; continue; }
    if (overlaps(far!.s, cur.s)) bad.push(`${far!.id} ${JSON.stringify(far!.s)} ⟷ ${cur.id} ${JSON.stringify(cur.s)}`);
    if (cur.s.offset + cur.s.size > far!.s.offset + far!.s.size) far = cur;
  }
  return bad;
}

test('the trunk server dies under upload load: another takes over; every acknowledged file is intact everywhere, no slot handed out twice', { timeout: 240_000 }, async () => {
  const c: Cluster = await startCluster({ storages: MEMBERS, tracker: TRUNK_TRACKER });
  const client = new FdfsClient({ trackers: [c.trackerAddr], networkTimeout: 10, connectTimeout: 3 });
  let load: Load | null = null;
  try {
    await waitActive(c, MEMBERS, 30000);
    const first = (await waitFor('a trunk server', () => trunkServer(client, c.group), 30000, 200))!;
    const victim = STORAGE_IPS.indexOf(first);
    assert.ok(victim >= 0 && victim < MEMBERS, `trunk server ${first} is a member`);

    const loadStart = Date.now();
    load = startLoad(client);
    // Enough uploads before the kill that several trunk files are in use and the binlog is busy.
    await waitFor('uploads before the kill', () => load!.count() >= 1200, 120000, 100);
    const beforeKill = load.count();
    process.stderr.write(`trunk failover: ${beforeKill} uploads in ${Date.now() - loadStart} ms before the kill\n`);
    await c.storages[victim]!.kill9();

    const next = (await waitFor('another trunk server', async () => {
      const ts = await trunkServer(client, c.group).catch(() => null);
      return ts && ts !== first ? ts : null;
    }, 60000, 250))!;
    const atTakeover = load.count();
    await waitFor('uploads through the new trunk server', () => load!.count() >= atTakeover + 300, 60000, 100);
    await load.stop();
    const afterTakeover = load.count() - atTakeover;
    const errors = Object.fromEntries(load.errors);

    await c.startStorage(victim);
    await waitActive(c, MEMBERS, 60000);

    // EEXIST is the uploader's §11.4 unused test refusing a slot that holds a file: the trunk
    // server handed out a used slot (caught only because the file was already on that disk).
    assert.equal(load.errors.get('EEXIST') ?? 0, 0, `uploads refused with EEXIST: ${JSON.stringify(errors)}`);
    const ids = [...load.acked.keys()];
    const trunkFiles = new Set(ids.map((id) => parseTrunkName(split(id).name)?.slot.trunkId));
    assert.ok(trunkFiles.size >= 3, `uploads spread over ${trunkFiles.size} trunk files`);
    assert.deepEqual(overlappingSlots(ids), [], 'no two acknowledged files share slot space');

    // Every acknowledged file, byte-exact, from every member (replication may still be catching up).
    const addrs: Addr[] = c.storages.map(addrOf);
    let last = '';
    const verified = new Set<string>();
    const wrong: string[] = [];
    await waitFor('every file on every member', async () => {
      for (const a of addrs) {
        for (const [id, data] of load!.acked) {
          if (verified.has(`${a.host} ${id}`)) continue;
          let got: Buffer | null;
          try {
            got = await readFrom(a, id);
          } catch (err) {
            last = `${a.host}: ${id}: ${(err as Error).message}`;
            return false;
          }
          if (got === null) {
            last = `${a.host}: ${id} missing`;
            return false;
          }
          // Wrong bytes are never a matter of waiting (and waitFor would swallow an assertion).
          if (!got.equals(data)) wrong.push(`${a.host}: ${id} differs from what was uploaded`);
          verified.add(`${a.host} ${id}`);
        }
      }
      return true;
    }, 120000, 500).catch((err: Error) => { throw new Error(`${err.message}; last: ${last}; wrong: ${wrong.slice(0, 5).join(', ')}`); });
    assert.deepEqual(wrong, []);

    process.stderr.write(`trunk failover: ${first} → ${next}; ${beforeKill} uploads before the kill, ${afterTakeover} after the takeover, ` +
      `${ids.length} acknowledged in ${trunkFiles.size} trunk files; errors ${JSON.stringify(errors)}\n`);
  } finally {
    await load?.stop();
    await client.close();
    await c.stop();
  }
});
