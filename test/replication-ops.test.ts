import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '../lib/protocol/crc32.ts';
import { startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import {
  addrOf, appendOn, dataFiles, deleteOn, metaOn, modifyOn, servesAppend, setMetaOn, stateOn, storageBase, tempFiles,
  truncateOn, uploadTo, waitActive, waitConverged, type Addr, type FileState,
} from './helpers/replication.ts';

// Issue 5, first guarantee: every acknowledged upload, append, modify, truncate, metadata change
// and delete reaches every ACTIVE member of the group, byte-identical (size and CRC32), whichever
// member took it. Real tracker and storage processes.

let cluster: Cluster;
let s1: Addr;
let s2: Addr;
const expected = new Map<string, FileState | null>();

function state(b: Buffer): FileState {
  return { size: b.length, crc: crc32(b) };
}

before(async () => {
  cluster = await startCluster({ storages: 2 });
  await waitActive(cluster, 2);
  s1 = addrOf(cluster.storages[0]!);
  s2 = addrOf(cluster.storages[1]!);
});

after(async () => {
  await cluster?.stop();
});

test('uploads on either member reach the other one, byte-identical', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const target = i % 2 === 0 ? s1 : s2;
    const data = crypto.randomBytes(i === 7 ? 3 * 1024 * 1024 + 17 : 100 + i * 997);
    const id = await uploadTo(target, data, { ext: 'dat' });
    ids.push(id);
    expected.set(id, state(data));
  }
  // An empty file too: it must exist (and download as empty) everywhere.
  const empty = await uploadTo(s2, Buffer.alloc(0), { ext: '' });
  expected.set(empty, state(Buffer.alloc(0)));
  await waitConverged([s1, s2], expected);
});

test('metadata changes and deletes follow', async () => {
  const data = crypto.randomBytes(5000);
  const id = await uploadTo(s1, data, { ext: 'jpg' });
  expected.set(id, state(data));
  await setMetaOn(s1, id, { width: '160', height: '80' });
  await waitFor('metadata on s2', async () => JSON.stringify(await metaOn(s2, id)) === JSON.stringify({ height: '80', width: '160' }), 15000, 50);
  await setMetaOn(s1, id, { author: 'ann' }, 'M');
  await waitFor('merged metadata on s2', async () => (await metaOn(s2, id))?.author === 'ann', 15000, 50);
  assert.deepEqual(await metaOn(s2, id), await metaOn(s1, id));
  // Overwrite with nothing deletes the metadata file.
  await setMetaOn(s1, id, {});
  await waitFor('metadata gone on s2', async () => (await metaOn(s2, id)) === null, 15000, 50);

  const gone = [...expected.keys()].slice(0, 5);
  for (const [n, g] of gone.entries()) {
    await deleteOn(n % 2 === 0 ? s2 : s1, g);
    expected.set(g, null);
  }
  await waitConverged([s1, s2], expected);
});

test('appender files: append, modify and truncate reach the other member', async (t) => {
  if (!(await servesAppend(s1))) {
    t.skip('this storage does not serve APPEND_FILE yet (issue 4): the appender commands cannot be exercised');
    return;
  }
  let body = Buffer.from('part1-');
  const id = await uploadTo(s1, body, { appender: true, ext: 'log' });
  for (let i = 0; i < 10; i++) {
    const piece = crypto.randomBytes(1000 + i);
    await appendOn(s1, id, piece);
    body = Buffer.concat([body, piece]);
  }
  const patch = crypto.randomBytes(300);
  await modifyOn(s1, id, 500, patch);
  patch.copy(body, 500);
  await truncateOn(s1, id, 4000);
  body = body.subarray(0, 4000);
  const tail = crypto.randomBytes(2500);
  await appendOn(s1, id, tail);
  body = Buffer.concat([body, tail]);
  // Growing with zeros.
  await truncateOn(s1, id, body.length + 100);
  body = Buffer.concat([body, Buffer.alloc(100)]);
  expected.set(id, state(body));

  // The same on the other member, for a file that member created.
  let body2 = crypto.randomBytes(10);
  const id2 = await uploadTo(s2, body2, { appender: true, ext: 'log' });
  await appendOn(s2, id2, Buffer.from('more'));
  body2 = Buffer.concat([body2, Buffer.from('more')]);
  await truncateOn(s2, id2, 3);
  body2 = body2.subarray(0, 3);
  expected.set(id2, state(body2));
  await waitConverged([s1, s2], expected);
});

test('every member ends with the same files, no temp files, replicas logged lower case', async () => {
  await waitConverged([s1, s2], expected);
  const a = dataFiles(storageBase(cluster, 0)).filter((f) => !f.endsWith('-m'));
  const b = dataFiles(storageBase(cluster, 1)).filter((f) => !f.endsWith('-m'));
  assert.deepEqual(a, b);
  assert.equal(a.length, [...expected.values()].filter((v) => v !== null).length);
  assert.deepEqual(tempFiles(storageBase(cluster, 0)), []);
  assert.deepEqual(tempFiles(storageBase(cluster, 1)), []);
  const binlog = fs.readFileSync(path.join(storageBase(cluster, 1), 'data', 'sync', 'binlog.000'), 'latin1');
  assert.match(binlog, /^\d+ c M00\//m, 'files from s1 are logged as replicas (c) on s2');
  assert.match(binlog, /^\d+ C M00\//m, 's2 uploads are logged C');
  for (const [id, want] of expected) {
    if (want === null) continue;
    const got = await stateOn(s2, id);
    assert.deepEqual(got, want, id);
  }
});
