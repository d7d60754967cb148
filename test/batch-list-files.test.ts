import { Buffer } from 'node:buffer';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { CMD } from '../lib/protocol/codes.ts';
import {
  decodeListFilesRequest, decodeListFilesResponse, encodeListFilesRequest, encodeListFilesResponse,
} from '../lib/protocol/list-files.ts';
import { buildLogicName, makeSizeField } from '../lib/protocol/filename.ts';
import { PacketServer } from '../lib/net/packet-server.ts';
import { BinlogWriter, binlogFileName, formatBinlogIndex } from '../lib/storage/binlog.ts';
import { StorePaths } from '../lib/storage/store-paths.ts';
import type { StorageContext } from '../lib/storage/context.ts';
import { listFiles } from '../lib/storage/handlers/list-files.ts';
import { LiveIndex } from '../lib/storage/live-index.ts';
import { listGroupFiles } from '../lib/batch/list-files.ts';
import { FdfsClient } from '../lib/client/client.ts';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-list-'));
}

/** A real normal-file logic name with the given size and timestamp. */
function normalName(size: number, ts: number, n: number, ext = 'jpg'): string {
  return buildLogicName({
    storePathIndex: 0, high: 0, low: 0,
    header: { source: { ip: '127.0.0.2' }, timestamp: ts, sizeField: makeSizeField('normal', size, n), crc32: n },
    ext7: `${String(n % 100).padStart(2, '0')}.${ext}`.padStart(7, '0'),
  });
}

function appenderName(ts: number, n: number): string {
  return buildLogicName({
    storePathIndex: 0, high: 0, low: 0,
    header: { source: { ip: '127.0.0.2' }, timestamp: ts, sizeField: makeSizeField('appender', 0, n), crc32: 0 },
    ext7: '1234567',
  });
}

describe('FDFS_LIST_FILES codec', () => {
  test('request layout: GROUP, i64 since, i64 limit, cursor text', () => {
    const b = encodeListFilesRequest({ group: 'group1', since: 1700000000, limit: 500, after: 'M00/00/00/abc' });
    assert.equal(b.length, 32 + 13);
    assert.equal(b.toString('latin1', 0, 6), 'group1');
    assert.equal(b[6], 0);
    assert.equal(b.readBigInt64BE(16), 1700000000n);
    assert.equal(b.readBigInt64BE(24), 500n);
    assert.equal(b.toString('latin1', 32), 'M00/00/00/abc');
    assert.deepEqual(decodeListFilesRequest(b), { group: 'group1', since: 1700000000, limit: 500, after: 'M00/00/00/abc' });
    assert.throws(() => decodeListFilesRequest(Buffer.alloc(31)), { code: 'EINVAL' });
    assert.throws(() => decodeListFilesRequest(Buffer.alloc(32 + 128)), { code: 'EINVAL' });
  });
  test('response layout: i64 total files, i64 total bytes, u8 more, text lines', () => {
    const parts = encodeListFilesResponse({ totalFiles: 3, totalBytes: 42, more: true, files: [{ name: 'M00/00/00/a', size: 40, timestamp: 1 }, { name: 'M00/00/00/b', size: 2, timestamp: 2 }] });
    const body = Buffer.concat(parts);
    assert.equal(body.readBigInt64BE(0), 3n);
    assert.equal(body.readBigInt64BE(8), 42n);
    assert.equal(body[16], 1);
    assert.equal(body.toString('latin1', 17), 'M00/00/00/a 40 1\nM00/00/00/b 2 2\n');
    const page = decodeListFilesResponse(body);
    assert.deepEqual(page, { totalFiles: 3, totalBytes: 42, more: true, files: [{ name: 'M00/00/00/a', size: 40, timestamp: 1 }, { name: 'M00/00/00/b', size: 2, timestamp: 2 }] });
    assert.throws(() => decodeListFilesResponse(Buffer.concat([body, Buffer.from('garbage\n')])), { code: 'EPROTO' });
  });
});

describe('binlog replay', () => {
  test('creates, deletes, renames, links, appends; metadata and broken lines ignored', async () => {
    const live = new LiveIndex('/nonexistent', () => fileURLToPath(import.meta.url));
    const lines = [
      '100 C M00/00/00/a.jpg',
      '101 C M00/00/00/a.jpg-m',
      '102 c M00/00/00/b.jpg',
      '103 C M00/00/00/app1',
      '104 A M00/00/00/app1 0 10',
      '105 D M00/00/00/b.jpg',
      '106 R M00/00/00/regen M00/00/00/app1',
      '107 L M00/00/00/a_slave.jpg M00/00/00/a.jpg',
      '108 L  M00/00/00/a.jpg',
      '109 U M00/00/00/a.jpg-m',
      '110 d M00/00/00/a.jpg-m',
      '111 T M00/00/00/c 0 5',
    ];
    // The 6.16.1 broken `L  <target>` line (PROTOCOL.md §3.3) does not parse; nothing else breaks.
    for (const l of lines) {
      const m = /^(\d+) (.) (.*)$/.exec(l)!;
      const rest = m[3]!;
      const sp = rest.indexOf(' ');
      if (m[2] === 'L' && sp === 0) continue;
      live.apply({ timestamp: Number(m[1]), op: m[2] as 'C', name: sp < 0 ? rest : rest.slice(0, sp), extra: sp < 0 ? undefined : rest.slice(sp + 1) });
    }
    const all = (await live.page(0, '', 100)).files;
    assert.deepEqual(all.map((f) => [f.name, f.timestamp]), [
      ['M00/00/00/a.jpg', 100], ['M00/00/00/a_slave.jpg', 107], ['M00/00/00/c', 111], ['M00/00/00/regen', 106],
    ]);
    assert.deepEqual((await live.page(107, '', 100)).files.map((f) => f.name), ['M00/00/00/a_slave.jpg', 'M00/00/00/c']);
  });

  test('the index reads every binlog file, gzipped ones too, skips bad lines, and reads on from where it stopped', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'binlog_index.dat'), formatBinlogIndex(2, 1));
    fs.writeFileSync(path.join(dir, `${binlogFileName(0)}.gz`), zlib.gzipSync('1 C M00/00/00/old\n2 C M00/00/00/gone\n'));
    fs.writeFileSync(path.join(dir, binlogFileName(1)), '3 D M00/00/00/gone\nnot a line\n4 L  M00/00/00/old\n');
    fs.writeFileSync(path.join(dir, binlogFileName(2)), '5 C M00/00/00/new\n6 C M00/00/00/partial');
    const live = new LiveIndex(dir, () => fileURLToPath(import.meta.url));
    await live.catchUp();
    // The last line has no newline yet: it is a write in progress, read once it is complete.
    assert.deepEqual((await live.page(0, '', 100)).files.map((f) => f.name), ['M00/00/00/new', 'M00/00/00/old']);
    fs.appendFileSync(path.join(dir, binlogFileName(2)), '\n7 D M00/00/00/old\n');
    await live.catchUp();
    assert.deepEqual((await live.page(0, '', 100)).files.map((f) => f.name), ['M00/00/00/new', 'M00/00/00/partial']);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('FDFS_LIST_FILES over the wire', () => {
  test('paged listing of a storage, sizes from names or stat, since filter, wrong group refused', async (t) => {
    const base = tmp();
    const storePaths = new StorePaths({ paths: [{ path: base, readonly: false }], subdirCount: 1 });
    await storePaths.init();
    const binlog = new BinlogWriter({ dir: path.join(base, 'data', 'sync') });
    await binlog.open();
    const ctx = { groupName: 'group1', storePaths, binlog } as unknown as StorageContext;
    const server = new PacketServer<StorageContext>({
      name: 'storage', handlers: new Map([[CMD.FDFS_LIST_FILES, listFiles]]), state: ctx,
      networkTimeout: 30, maxBodyLength: 256 * 1024, closeOnEinval: true,
    });
    const addr = await server.listen(0, '127.0.0.1');
    const client = new FdfsClient({ trackers: ['127.0.0.1:1'] });
    t.after(async () => {
      await client.close();
      await server.close(100);
      await binlog.close();
      fs.rmSync(base, { recursive: true, force: true });
    });

    const names: string[] = [];
    for (let i = 0; i < 25; i++) {
      const n = normalName(1000 + i, 1700000000 + i, i + 1);
      names.push(n);
      await binlog.append({ timestamp: 1700000000 + i, op: 'C', name: n });
    }
    await binlog.append({ timestamp: 1700000100, op: 'D', name: names[3]! });
    // An appender: its size is not in its name, the storage stats the file.
    const app = appenderName(1700000200, 99);
    fs.writeFileSync(storePaths.filePath(0, 0, 0, app.slice(10)), Buffer.alloc(77));
    await binlog.append({ timestamp: 1700000200, op: 'C', name: app });
    await binlog.append({ timestamp: 1700000201, op: 'A', name: app, extra: '0 77' });
    // An appender whose file is gone is left out.
    await binlog.append({ timestamp: 1700000202, op: 'C', name: appenderName(1700000202, 98) });

    const storage = `127.0.0.1:${addr.port}`;
    const totals: Array<[number, number]> = [];
    const all = [];
    for await (const f of listGroupFiles(client, 'group1', { storage, pageSize: 7, onTotal: (n, b) => totals.push([n, b]) })) all.push(f);
    const expectNames = [...names.filter((_, i) => i !== 3), app].sort();
    assert.deepEqual(all.map((f) => f.fileId), expectNames.map((n) => `group1/${n}`));
    const appEntry = all.find((f) => f.fileId === `group1/${app}`)!;
    assert.equal(appEntry.size, 77);
    assert.equal(appEntry.timestamp, 1700000201);
    const n0 = all.find((f) => f.fileId === `group1/${names[0]}`)!;
    assert.equal(n0.size, 1000);
    assert.equal(n0.timestamp, 1700000000);
    const bytes = all.reduce((s, f) => s + f.size, 0);
    assert.deepEqual(totals, [[25, bytes]]);

    const recent = [];
    for await (const f of listGroupFiles(client, 'group1', { storage, since: 1700000020 })) recent.push(f.fileId);
    assert.equal(recent.length, 6); // 20..24 and the appender

    await assert.rejects(async () => { for await (const f of listGroupFiles(client, 'group2', { storage })) void f; }, { code: 'EINVAL' });
  });
});
