import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { FdfsClient } from '../lib/client/client.ts';
import { normalizeTrackers } from '../lib/client/tracker-client.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { FakeStorage, FakeTracker, closedPort, groupStat, storageRecord, waitUntil } from './client-fakes.ts';

// The client library against fake servers on loopback: what an application calling FdfsClient sees.

let storage: FakeStorage;
let tracker: FakeTracker;
let work: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-client-'));
  storage = await new FakeStorage('127.0.0.3').start();
  tracker = await new FakeTracker({
    storage: { ip: storage.ip, port: storage.port },
    groups: [groupStat('group1', { storage_port: storage.port })],
    storages: [storageRecord('127.0.0.3', storage.port)],
  }).start();
});

after(async () => {
  await tracker.close();
  await storage.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function newClient(more: Partial<ConstructorParameters<typeof FdfsClient>[0]> = {}): FdfsClient {
  return new FdfsClient({ trackers: [tracker.address], connectTimeout: 5, networkTimeout: 10, ...more });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<FdfsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FdfsError, `expected FdfsError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('upload and download', () => {
  test('a file larger than the socket buffers is streamed with backpressure', async () => {
    const client = newClient();
    const size = 48 * 1024 * 1024;
    let produced = 0;
    const hash = crypto.createHash('sha256');
    let crcExpected = 0;
    // Generated lazily, so "produced" is exactly what the client pulled from the source.
    const source = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        if (produced >= size) { this.push(null); return; }
        const chunk = crypto.randomBytes(Math.min(256 * 1024, size - produced));
        produced += chunk.length;
        hash.update(chunk);
        crcExpected = crc32(chunk, crcExpected);
        this.push(chunk);
      },
    });
    storage.keepContent = false;
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let holding = false;
    storage.onUploadChunk = async (n) => {
      if (n >= 4 * 1024 * 1024 && !holding) { holding = true; await held; }
    };
    try {
      const upload = client.upload(source, { size, ext: 'bin' });
      await waitUntil('the storage to stop reading', () => holding);
      // While the storage reads nothing, the client may only fill the socket buffers and its
      // own read-ahead, not pull the whole source.
      let last = -1;
      let stable = 0;
      await waitUntil('the client to stop reading its source', () => {
        stable = produced === last ? stable + 1 : 0;
        last = produced;
        return stable >= 10;
      }, 10000, 20);
      assert.ok(produced - storage.received < 16 * 1024 * 1024,
        `client ran ${produced - storage.received} bytes ahead of the storage`);
      if (process.env.FDFS_TEST_VERBOSE) console.error('ahead', produced - storage.received);
      release();
      const fileId = await upload;
      assert.equal(storage.lastUploadSize, size);
      assert.equal(storage.lastUploadCrc, crcExpected, 'content CRC32 as sent');
      assert.match(fileId, /^group1\/M00\/00\/[0-9A-F]{2}\/[A-Za-z0-9_-]{27}\d{3}\.bin$/);
    } finally {
      storage.onUploadChunk = null;
      storage.keepContent = true;
      await client.close();
    }
  });

  test('upload from a path, with metadata: 11 then 13 O on the same connection', async () => {
    const client = newClient();
    const file = path.join(work, 'photo.jpeg');
    const content = crypto.randomBytes(200_000);
    fs.writeFileSync(file, content);
    const before = storage.commands.length;
    const fileId = await client.upload(file, { metadata: { width: '160', author: 'Zoë' } });
    assert.match(fileId, /\.jpeg$/, 'the extension comes from the path');
    assert.deepEqual(storage.commands.slice(before), [CMD.UPLOAD_FILE, CMD.SET_METADATA]);
    assert.ok((await client.downloadToBuffer(fileId)).equals(content));
    assert.deepEqual(await client.getMetadata(fileId), { author: 'Zoë', width: '160' });
    await client.close();
  });

  test('a failed SET_METADATA after upload deletes the file again and reports the file ID', async () => {
    const client = newClient();
    storage.failSetMeta = 'ENOSPC';
    const before = storage.commands.length;
    try {
      const err = await rejectsWith(client.upload(Buffer.from('rollback me'), { ext: 'txt', metadata: { a: 'b' } }), 'ENOSPC');
      assert.ok(err.subject?.startsWith('group1/M00/'), err.message);
      assert.deepEqual(storage.commands.slice(before), [CMD.UPLOAD_FILE, CMD.SET_METADATA, CMD.DELETE_FILE]);
      assert.ok(![...storage.files.keys()].some((n) => err.subject!.endsWith(n)), 'the uploaded file is gone');
    } finally {
      storage.failSetMeta = null;
      await client.close();
    }
  });

  test('ranged downloads: offset, offset+length, length clamped at the end', async () => {
    const client = newClient();
    const content = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz\n');
    const fileId = storage.addFile(content, 'txt');
    assert.equal((await client.downloadToBuffer(fileId, { offset: 4, length: 10 })).toString(), '456789abcd');
    assert.equal((await client.downloadToBuffer(fileId, { offset: 20 })).toString(), content.subarray(20).toString());
    assert.equal((await client.downloadToBuffer(fileId, { offset: 30, length: 1000 })).toString(), content.subarray(30).toString());
    await rejectsWith(client.downloadToBuffer(fileId, { offset: -1 }), 'EINVAL');
    await client.close();
  });

  test('a slow download consumer holds the storage back; the stream stays bounded', async () => {
    const client = newClient();
    const content = crypto.randomBytes(32 * 1024 * 1024);
    const fileId = storage.addFile(content);
    const sentBefore = storage.sent;
    const stream = await client.download(fileId);
    // Nobody reads yet: the storage can only fill the socket buffers and the reader's window.
    let last = -1;
    let stable = 0;
    await waitUntil('the storage to block on a full socket', () => {
      const s = storage.sent - sentBefore;
      stable = s === last ? stable + 1 : 0;
      last = s;
      return stable >= 10;
    }, 10000, 20);
    if (process.env.FDFS_TEST_VERBOSE) console.error('sent', storage.sent - sentBefore);
    assert.ok(storage.sent - sentBefore < 16 * 1024 * 1024, `storage sent ${storage.sent - sentBefore} bytes to a paused reader`);
    let crc = 0;
    let n = 0;
    for await (const chunk of stream) { crc = crc32(chunk as Buffer, crc); n += (chunk as Buffer).length; }
    assert.equal(n, content.length);
    assert.equal(crc, crc32(content));
    await client.close();
  });

  test('downloadToFile writes through a temporary file; a failed download leaves nothing', async () => {
    const client = newClient();
    const content = crypto.randomBytes(100_000);
    const fileId = storage.addFile(content);
    const dest = path.join(work, 'out.bin');
    assert.equal(await client.downloadToFile(fileId, dest), content.length);
    assert.ok(fs.readFileSync(dest).equals(content));
    const missing = fileId.replace(/.{6}\.bin$/, 'XXXXXX.bin');
    await rejectsWith(client.downloadToFile(missing, path.join(work, 'missing.bin')), 'ENOENT');
    assert.deepEqual(fs.readdirSync(work).filter((f) => f.includes('missing')), []);
    await client.close();
  });

  test('an empty file downloads as empty content despite the 6.16 EINVAL (§3.4)', async () => {
    const client = newClient();
    const fileId = storage.addFile(Buffer.alloc(0), 'txt');
    assert.equal((await client.downloadToBuffer(fileId)).length, 0);
    await client.close();
  });

  test('a stream without a size is refused before any traffic', async () => {
    const client = newClient();
    const before = tracker.commands.length;
    await rejectsWith(client.upload(Readable.from([Buffer.from('x')])), 'EINVAL');
    await rejectsWith(client.upload(Buffer.from('x'), { ext: 'toolong7' }), 'EINVAL');
    assert.equal(tracker.commands.length, before);
    await client.close();
  });
});

describe('metadata, delete, appender', () => {
  test('metadata round trip: overwrite sends the 0x01/0x02 blob, merge adds, get returns sorted', async () => {
    const client = newClient();
    const fileId = storage.addFile(Buffer.from('meta'), 'txt');
    await client.setMetadata(fileId, { width: '1024', height: '768' });
    assert.deepEqual(storage.lastMetaBlob, Buffer.from('width\x021024\x01height\x02768', 'latin1'));
    assert.deepEqual(await client.getMetadata(fileId), { height: '768', width: '1024' });
    assert.deepEqual(Object.keys(await client.getMetadata(fileId)), ['height', 'width'], 'sorted by name');
    await client.setMetadata(fileId, { color: 'green', width: '1' }, 'merge');
    assert.deepEqual(await client.getMetadata(fileId), { color: 'green', height: '768', width: '1' });
    await client.setMetadata(fileId, {}, 'overwrite');
    await rejectsWith(client.getMetadata(fileId), 'ENOENT');
    await rejectsWith(client.setMetadata(fileId, { 'bad\x01name': 'v' }), 'EINVAL');
    await client.close();
  });

  test('delete, then every operation on the file says ENOENT with the file ID', async () => {
    const client = newClient();
    const fileId = storage.addFile(Buffer.from('bye'), 'txt');
    await client.delete(fileId);
    for (const op of [client.delete(fileId), client.download(fileId), client.getMetadata(fileId), client.fileInfo(fileId, { server: true })]) {
      const err = await rejectsWith(op, 'ENOENT');
      assert.equal(err.errno, 2);
      assert.equal(err.subject, fileId);
      assert.ok(err.message.includes(fileId), err.message);
    }
    await client.close();
  });

  test('bad file IDs are EINVAL before any traffic', async () => {
    const client = newClient();
    const before = tracker.commands.length;
    for (const id of ['nogroup', 'group1/', 'group1/M00/00/00/../../etc/passwd', 'toolonggroupname17/M00/00/00/x', 'group1/M00/0/0/abc']) {
      const err = await rejectsWith(client.download(id), 'EINVAL');
      assert.equal(err.subject, id);
    }
    assert.equal(tracker.commands.length, before);
    await client.close();
  });

  test('appender: upload 23, append, no-op append and truncate with the echoed body (§3.9 quirk)', async () => {
    const client = newClient();
    const fileId = await client.upload(Buffer.from('part1-'), { appender: true, ext: 'txt' });
    assert.equal((await client.fileInfo(fileId, { server: false })).type, 'appender');
    await client.append(fileId, Buffer.from('part2-'));
    await client.append(fileId, Buffer.alloc(0));
    await client.truncate(fileId, 12);
    await client.truncate(fileId, 12);
    assert.equal((await client.downloadToBuffer(fileId)).toString(), 'part1-part2-');
    // The echo did not desynchronise the pooled connection: one more request on it works.
    assert.equal((await client.fileInfo(fileId)).size, 12);
    await client.close();
  });
});

describe('file info (§3.8)', () => {
  // Real names from captures/client-upload.json, client-query.json and ids-client.json.
  const NORMAL = 'group1/M00/00/00/fwAAAmsGnl-AcZFRAAAAKt11vBM733.txt';
  const SLAVE = 'group1/M00/00/00/fwAAA2sGnmGAAu1SAAAEAKYGZSk792_big.jpg';
  const APPENDER = 'group1/M00/00/00/fwAAAmsGnkKEKoJfAAAAAA_-AcM952.txt';
  const ID_NAMED = 'group1/M00/00/00/oYYBAGsGoG-ASgi3AAAAKt11vBM097.txt';

  test('a normal name is decoded locally, without traffic', async () => {
    const client = newClient();
    const before = tracker.commands.length;
    const i = await client.fileInfo(NORMAL);
    assert.deepEqual(i, { fileId: NORMAL, type: 'normal', size: 42, timestamp: 1795595871, crc32: 0xdd75bc13, sourceIp: '127.0.0.2', fromServer: false });
    assert.equal(tracker.commands.length, before);
    await client.close();
  });

  test('slave and appender names need the storage; without it their size is -1', async () => {
    const client = newClient();
    const slave = await client.fileInfo(SLAVE, { server: false });
    assert.equal(slave.type, 'slave');
    assert.equal(slave.size, -1);
    assert.equal(slave.sourceIp, '127.0.0.3');
    assert.equal(slave.crc32, 0xa6066529);
    // The reply bytes the 6.16.1 storage sent for that file (client-query.json).
    storage.fileInfoReplies.set(SLAVE.slice(7), Buffer.from('0000000000000400000000006b069e61ffffffffa60665293132372e302e302e3300000000000000', 'hex'));
    const before = tracker.commands.length;
    const asked = await client.fileInfo(SLAVE);
    assert.deepEqual(tracker.commands.slice(before), [CMD.SERVICE_QUERY_FETCH_ONE]);
    assert.equal(asked.size, 1024);
    assert.equal(asked.crc32, 0xa6066529);
    assert.equal(asked.timestamp, 1795595873);
    assert.equal(asked.sourceIp, '127.0.0.3');
    assert.equal(asked.fromServer, true);
    const app = await client.fileInfo(APPENDER, { server: false });
    assert.equal(app.type, 'appender');
    assert.equal(app.size, -1);
    assert.equal(app.timestamp, 1795595842);
    await client.close();
  });

  test('an id-named file resolves locally with storage ids, else asks the storage', async () => {
    const withIds = newClient({ storageIds: { 100001: '127.0.0.2' } });
    const before = tracker.commands.length;
    const local = await withIds.fileInfo(ID_NAMED);
    assert.equal(tracker.commands.length, before);
    assert.deepEqual(local, { fileId: ID_NAMED, type: 'normal', size: 42, timestamp: 1795596399, crc32: 0xdd75bc13, sourceIp: '127.0.0.2', sourceId: '100001', fromServer: false });
    await withIds.close();

    const noIds = newClient();
    const offline = await noIds.fileInfo(ID_NAMED, { server: false });
    assert.equal(offline.sourceIp, '');
    assert.equal(offline.size, 42);
    storage.fileInfoReplies.set(ID_NAMED.slice(7), Buffer.from('000000000000002a000000006b06a06fffffffffdd75bc133132372e302e302e3200000000000000', 'hex'));
    const asked = await noIds.fileInfo(ID_NAMED);
    assert.equal(asked.sourceIp, '127.0.0.2');
    assert.equal(asked.sourceId, '100001');
    assert.equal(asked.fromServer, true);
    await noIds.close();
  });
});

describe('trackers and connections (§1.4)', () => {
  test('trackers are de-duplicated and sorted, not kept in the given order', () => {
    const e = normalizeTrackers(['10.0.0.2:22122', '10.0.0.1,192.168.0.1:22122', '10.0.0.1:22123', '10.0.0.1:22122', '10.0.0.2:22122', { host: '10.0.0.1' }]);
    assert.deepEqual(e.map((x) => `${x.hosts.join(',')}:${x.port}`), ['10.0.0.1:22122', '10.0.0.1:22123', '10.0.0.2:22122', '10.0.0.1,192.168.0.1:22122']);
  });

  test('failover: the first tracker refuses, the second answers', async () => {
    // 127.0.0.1 sorts before 127.0.0.2, so the refusing address is tried first.
    const refusing = await closedPort('127.0.0.1');
    const second = await new FakeTracker({ ip: '127.0.0.2', storage: { ip: storage.ip, port: storage.port } }).start();
    const client = new FdfsClient({ trackers: [second.address, `127.0.0.1:${refusing}`], connectTimeout: 5 });
    try {
      const t = await client.queryStore();
      assert.deepEqual(t, { group: 'group1', ip: storage.ip, port: storage.port, storePathIndex: 0 });
      const fileId = storage.addFile(Buffer.from('failover'));
      assert.equal((await client.downloadToBuffer(fileId)).toString(), 'failover');
      assert.ok(second.commands.length >= 2);
    } finally {
      await client.close();
      await second.close();
    }
  });

  test('pool: two operations reuse one tracker and one storage connection', async () => {
    const client = newClient();
    const fileId = storage.addFile(Buffer.from('pooled'));
    const t0 = tracker.connections;
    const s0 = storage.connections;
    assert.equal((await client.downloadToBuffer(fileId)).toString(), 'pooled');
    await client.setMetadata(fileId, { k: 'v' });
    assert.deepEqual(await client.getMetadata(fileId), { k: 'v' });
    assert.equal(tracker.connections - t0, 1);
    assert.equal(storage.connections - s0, 1);
    assert.equal(client.pool.idleCount, 2);
    await client.close();
    assert.equal(client.pool.idleCount, 0);

    const unpooled = newClient({ pool: false });
    const s1 = storage.connections;
    await unpooled.downloadToBuffer(fileId);
    await unpooled.getMetadata(fileId);
    assert.equal(storage.connections - s1, 2, 'without a pool each operation connects');
    assert.equal(unpooled.pool.idleCount, 0);
    await unpooled.close();
  });

  test('a dead pooled storage socket is retried once for idempotent requests only', async () => {
    const client = newClient();
    const fileId = storage.addFile(Buffer.from('dead socket'), 'txt', { a: '1' });
    try {
      assert.deepEqual(await client.getMetadata(fileId), { a: '1' });
      // From now on the second request on any storage connection finds it closed.
      storage.killOnRequest = 2;
      assert.deepEqual(await client.getMetadata(fileId), { a: '1' }, 'idempotent: retried on a fresh connection');
      let err: unknown;
      try { await client.delete(fileId); } catch (e) { err = e; }
      // Closed or reset, depending on timing; either way named by the file ID.
      assert.ok(err instanceof FdfsError && ['ENOTCONN', 'ECONNRESET'].includes(err.code), String(err));
      assert.equal(err.subject, fileId);
      assert.ok(storage.files.has(fileId.slice(7)), 'the delete was not retried');
    } finally {
      storage.killOnRequest = null;
      await client.close();
    }
  });

  test('an unreachable tracker fails fast with ECONNREFUSED naming the address', async () => {
    const port = await closedPort('127.0.0.1');
    const client = new FdfsClient({ trackers: [`127.0.0.1:${port}`] });
    const t0 = Date.now();
    const err = await rejectsWith(client.listGroups(), 'ECONNREFUSED');
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(err.subject, `127.0.0.1:${port}`);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    await client.close();
  });

  test('a refusing storage is retried after 100, 200, 400 ms, then reported with its address', async () => {
    const port = await closedPort('127.0.0.1');
    const t = await new FakeTracker({ storage: { ip: '127.0.0.1', port } }).start();
    const client = new FdfsClient({ trackers: [t.address] });
    try {
      const t0 = Date.now();
      const err = await rejectsWith(client.upload(Buffer.from('x')), 'ECONNREFUSED');
      assert.ok(Date.now() - t0 >= 650, `gave up after ${Date.now() - t0} ms`);
      assert.equal(err.subject, `127.0.0.1:${port}`);

      // A storage that starts listening during the retries is reached.
      const upload = client.upload(Buffer.from('late'), { ext: 'txt' });
      const s = new FakeStorage('127.0.0.1');
      setTimeout(() => { s.server.listen(port, '127.0.0.1').catch(() => {}); }, 150);
      const fileId = await upload;
      assert.match(fileId, /\.txt$/);
      await s.close();
    } finally {
      await client.close();
      await t.close();
    }
  });

  test('monitoring listings decode groups and storages', async () => {
    const client = newClient();
    const groups = await client.listGroups();
    assert.equal(groups.length, 1);
    assert.equal(groups[0]!.group_name, 'group1');
    const storages = await client.listStorages('group1');
    assert.equal(storages[0]!.ip_addr, '127.0.0.3');
    assert.equal(storages[0]!.status, 7);
    await rejectsWith(client.listStorages('nosuch'), 'ENOENT');
    await rejectsWith(client.listStorages('bad group'), 'EINVAL');
    await client.close();
  });
});
