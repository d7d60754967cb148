import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { crc32 } from '../lib/protocol/crc32.ts';
import { STORAGE_IPS, runCli, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import {
  addrOf, appendOn, deleteOn, members, metaOn, servesAppend, setMetaOn, storageBase, uploadTo, waitActive, waitConverged,
  type Addr, type FileState,
} from './helpers/replication.ts';

// Issue 5, members joining and leaving (§4.9, §5.9, §8.5): a new member of a running group goes
// WAIT_SYNC → SYNCING → OFFLINE → ACTIVE while its source copies the old files; a member that was
// down catches up; `fdfs storage delete` stops the others from syncing to a deleted member, which
// gets everything again when it comes back.

let cluster: Cluster;
const expected = new Map<string, FileState | null>();
const metaFile: { id: string; meta: Record<string, string> } = { id: '', meta: {} };

const addr = (i: number): Addr => addrOf(cluster.storages[i]!);
const running = (): Addr[] => cluster.storages.filter((s) => s && s.child.exitCode === null && s.child.signalCode === null).map(addrOf);

async function put(i: number, data: Buffer, opts: { appender?: boolean } = {}): Promise<string> {
  const id = await uploadTo(addr(i), data, opts);
  expected.set(id, { size: data.length, crc: crc32(data) });
  return id;
}

function markFiles(i: number): string[] {
  return fs.readdirSync(path.join(storageBase(cluster, i), 'data', 'sync')).filter((f) => f.includes('.mark'));
}

before(async () => {
  cluster = await startCluster({ storages: 3, start: 2 });
  await waitActive(cluster, 2);
});

after(async () => {
  await cluster?.stop();
});

test('a new member of a running group becomes ACTIVE and holds every old file', async () => {
  for (let i = 0; i < 30; i++) await put(i % 2, crypto.randomBytes(2000 + i * 311));
  const big = await put(0, crypto.randomBytes(5 * 1024 * 1024));
  const gone = await put(1, crypto.randomBytes(100));
  await deleteOn(addr(1), gone);
  expected.set(gone, null);
  metaFile.id = await put(1, crypto.randomBytes(300));
  metaFile.meta = { width: '1', height: '2' };
  await setMetaOn(addr(1), metaFile.id, metaFile.meta);
  if (await servesAppend(addr(0))) {
    let body = crypto.randomBytes(50);
    const app = await put(0, body, { appender: true });
    for (let k = 0; k < 3; k++) {
      const piece = crypto.randomBytes(77);
      await appendOn(addr(0), app, piece);
      body = Buffer.concat([body, piece]);
    }
    expected.set(app, { size: body.length, crc: crc32(body) });
  }
  await waitConverged([addr(0), addr(1)], expected);
  assert.ok(expected.has(big));

  const t0 = performance.now();
  await cluster.startStorage(2);
  await waitActive(cluster, 3, 30000);
  const took = performance.now() - t0;
  const view = await members(cluster);
  const joined = view.find((m) => m.ip === STORAGE_IPS[2]);
  assert.equal(joined?.status, 'ACTIVE');
  // ACTIVE only after the source reported the old-data copy done: every old file is there.
  await waitConverged([addr(2)], expected, 5000);
  assert.deepEqual(await metaOn(addr(2), metaFile.id), metaFile.meta);
  assert.ok(took < 20000, `the new member took ${took.toFixed(0)} ms to become ACTIVE`);
});

test('a member that was down for a while catches up when it returns', async () => {
  await cluster.storages[1]!.stop();
  await waitFor('storage2 offline', async () => (await members(cluster)).find((m) => m.ip === STORAGE_IPS[1])?.status !== 'ACTIVE', 15000, 100);
  for (let i = 0; i < 20; i++) await put(i % 2 === 0 ? 0 : 2, crypto.randomBytes(1000 + i));
  const first = [...expected.entries()].find(([, v]) => v !== null)![0];
  await deleteOn(addr(2), first);
  expected.set(first, null);
  metaFile.meta = { ...metaFile.meta, author: 'bob' };
  await setMetaOn(addr(0), metaFile.id, { author: 'bob' }, 'M');
  await cluster.startStorage(1);
  await waitActive(cluster, 3, 30000);
  await waitConverged(running(), expected, 30000);
  await waitFor('merged metadata everywhere', async () => {
    for (const a of running()) if (JSON.stringify(await metaOn(a, metaFile.id)) !== JSON.stringify(await metaOn(addr(0), metaFile.id))) return false;
    return true;
  }, 15000, 100);
});

test('fdfs storage delete stops sync to the deleted member; back, it gets everything again', async () => {
  const id3 = STORAGE_IPS[2]!;
  await cluster.storages[2]!.stop();
  await waitFor('storage3 offline', async () => (await members(cluster)).find((m) => m.ip === id3)?.status !== 'ACTIVE', 15000, 100);
  const r = await runCli(['storage', 'delete', cluster.group, id3, '--tracker', cluster.trackerAddr]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deleted/);
  // §5.9: each member renames its mark file for the deleted peer aside.
  const markOf3 = `${id3}_${cluster.storagePort}.mark`;
  for (const i of [0, 1]) {
    await waitFor(`storage${i + 1} to put its mark for ${id3} aside`, () => {
      const marks = markFiles(i);
      return !marks.includes(markOf3) && marks.some((m) => m.startsWith(`${markOf3}.`));
    }, 15000, 50);
  }
  // Sync between the others goes on; nothing starts a reader for the deleted one.
  const after = await put(0, crypto.randomBytes(4321));
  await waitConverged([addr(0), addr(1)], new Map([[after, expected.get(after)!]]));
  for (const i of [0, 1]) assert.ok(!markFiles(i).includes(markOf3), `storage${i + 1} did not start syncing to the deleted storage`);

  // It comes back: a new member again, which gets every file (those added meanwhile too).
  await cluster.startStorage(2);
  await waitActive(cluster, 3, 30000);
  await waitConverged(running(), expected, 30000);
});
