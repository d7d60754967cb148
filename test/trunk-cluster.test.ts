import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '../lib/protocol/crc32.ts';
import { decodeFileName } from '../lib/protocol/filename.ts';
import { freePort, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import * as storage from '../lib/client/storage-client.ts';
import { addrOf, deleteOn, metaOn, readFrom, setMetaOn, split, uploadTo, waitActive, withConn, type Addr } from './helpers/replication.ts';

// Trunk storage on real processes (PROTOCOL.md §11.2, §11.11): small uploads land in trunk slots of
// both members, are read, deleted and replicated by their 60-character names.

let cluster: Cluster;
let s1: Addr;
let s2: Addr;
let httpPort: number;

before(async () => {
  httpPort = await freePort(['127.0.0.2', '127.0.0.3']);
  cluster = await startCluster({
    storages: 2,
    tracker: { use_trunk_file: true, slot_min_size: 256, slot_max_size: '64K', trunk_file_size: '4M' },
    storage: { 'http.server_port': httpPort },
  });
  await waitActive(cluster, 2);
  s1 = addrOf(cluster.storages[0]!);
  s2 = addrOf(cluster.storages[1]!);
});

after(async () => {
  await cluster?.stop();
});

function trunkFiles(i: number): string[] {
  const data = path.join(cluster.dir, `storage${i + 1}`, 'data');
  const out: string[] = [];
  for (const h of fs.readdirSync(data).filter((d) => /^[0-9A-F]{2}$/.test(d))) {
    for (const l of fs.readdirSync(path.join(data, h))) {
      for (const f of fs.readdirSync(path.join(data, h, l))) if (/^\d{6,}$/.test(f)) out.push(path.join(h, l, f));
    }
  }
  return out.sort();
}

test('small uploads go into trunk slots, read back byte-exact on both members; deletes zero the slot everywhere', async () => {
  const files = new Map<string, Buffer>();
  const uploadedTo = new Map<string, Addr>();
  // Wait for the trunk server (an upload answers EAGAIN until one is known).
  const first = crypto.randomBytes(1000);
  const id0 = await waitFor('a trunk server', async () => uploadTo(s1, first, { ext: 'jpg' }).catch(() => null), 20000, 200);
  files.set(id0!, first);
  uploadedTo.set(id0!, s1);
  for (let i = 0; i < 20; i++) {
    const data = crypto.randomBytes(i * 3000);
    const target = i % 2 ? s2 : s1;
    const id = await uploadTo(target, data, { ext: i % 3 ? 'bin' : '' });
    files.set(id, data);
    uploadedTo.set(id, target);
  }
  const big = crypto.randomBytes(64 * 1024);
  const bigId = await uploadTo(s1, big);
  for (const [id, data] of files) {
    const d = decodeFileName(split(id).name)!;
    assert.equal(d.isTrunk, true, id);
    assert.equal(split(id).name.length, 60);
    assert.equal(d.crc32, crc32(data));
  }
  assert.equal(decodeFileName(split(bigId).name)!.isTrunk, false, '64 KiB + 24 > slot_max_size: a plain file');
  for (const [id, data] of files) assert.deepEqual(await readFrom(uploadedTo.get(id)!, id), data, id);
  await waitFor('replicas on the other member', async () => {
    for (const [id, data] of files) {
      const got = await readFrom(uploadedTo.get(id) === s1 ? s2 : s1, id);
      if (!got || !got.equals(data)) return false;
    }
    return true;
  }, 30000, 200);
  assert.deepEqual(trunkFiles(0), trunkFiles(1));
  assert.ok(trunkFiles(0).length >= 1);

  const [victim] = files.keys();
  await deleteOn(s1, victim!);
  assert.equal(await readFrom(s1, victim!), null);
  await waitFor('delete replicated', async () => (await readFrom(s2, victim!)) === null, 30000, 200);
  for (const f of trunkFiles(0)) {
    const a = fs.readFileSync(path.join(cluster.dir, 'storage1', 'data', f));
    const b = fs.readFileSync(path.join(cluster.dir, 'storage2', 'data', f));
    assert.ok(a.equals(b), `${f} identical on both members`);
  }
});

test('file info, metadata and a slave of a trunk-stored master, on both members', async () => {
  const data = crypto.randomBytes(7777);
  const started = Math.floor(Date.now() / 1000);
  const id = await waitFor('a trunk server', async () => uploadTo(s2, data, { ext: 'png' }).catch(() => null), 20000, 200);
  const { group, name } = split(id!);
  assert.equal(decodeFileName(name)!.isTrunk, true);
  // §11.11: 22 reports file_size and the header mtime (= the upload start), the CRC from the name.
  const info = await withConn(s2, (c) => storage.queryFileInfo(c, group, name, id!));
  assert.equal(info.size, data.length);
  assert.equal(info.crc32, crc32(data));
  assert.ok(Math.abs(info.timestamp - started) <= 2, `timestamp ${info.timestamp} ~ ${started}`);
  assert.equal(info.sourceIp, '127.0.0.3');
  // Metadata of a trunk file lives in an ordinary `<name>-m` file.
  await setMetaOn(s2, id!, { width: '10' });
  assert.deepEqual(await metaOn(s2, id!), { width: '10' });
  // A slave of a trunk master is a plain file named after it (§6.6).
  const thumb = crypto.randomBytes(300);
  const slave = await withConn(s2, (c) => storage.uploadSlaveFile(c, name, '_t', 'png', { size: thumb.length, chunks: () => thumb }, id!));
  assert.equal(decodeFileName(slave.logicName)!.type, 'slave');
  assert.deepEqual(await readFrom(s2, `${group}/${slave.logicName}`), thumb);
  await waitFor('all three on s1', async () => {
    const [a, b, m] = await Promise.all([readFrom(s1, id!), readFrom(s1, `${group}/${slave.logicName}`), metaOn(s1, id!)]);
    return a?.equals(data) && b?.equals(thumb) && m?.width === '10';
  }, 30000, 200);
  const info1 = await withConn(s1, (c) => storage.queryFileInfo(c, group, name, id!));
  assert.deepEqual(info1, info);
  // Ranges are relative to the content.
  const part = await withConn(s1, async (c) => {
    const n = await storage.startDownload(c, group, name, 100, 50, id!);
    return c.reader.readExact(n);
  });
  assert.deepEqual(part, data.subarray(100, 150));
});

test('HTTP serves a trunk-stored file from its slot: whole, a range, and 404 once deleted (§11.11, §10)', async () => {
  const data = crypto.randomBytes(5000);
  const id = await waitFor('a trunk server', async () => uploadTo(s1, data, { ext: 'txt' }).catch(() => null), 20000, 200);
  assert.equal(decodeFileName(split(id!).name)!.isTrunk, true);
  const url = `http://${s1.host}:${httpPort}/${id}`;
  const whole = await fetch(url);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get('content-length'), String(data.length));
  assert.deepEqual(Buffer.from(await whole.arrayBuffer()), data);
  const part = await fetch(url, { headers: { Range: 'bytes=10-19' } });
  assert.equal(part.status, 206);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(10, 20));
  await deleteOn(s1, id!);
  const gone = await fetch(url);
  await gone.arrayBuffer();
  assert.ok(gone.status === 404 || gone.status >= 300, `deleted: ${gone.status}`);
});
