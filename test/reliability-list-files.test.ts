import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadStorageConfig } from '../lib/config/storage-config.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { PacketServer, type Connection } from '../lib/net/packet-server.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { buildLogicName, makeSizeField } from '../lib/protocol/filename.ts';
import { decodeListFilesResponse, encodeListFilesRequest } from '../lib/protocol/list-files.ts';
import { decodeSyncStatusResponse, encodeSyncStatusRequest, type PeerSyncStatus } from '../lib/protocol/sync-status.ts';
import { formatBinlogLine } from '../lib/storage/binlog.ts';
import type { StorageContext } from '../lib/storage/context.ts';
import { syncStatus } from '../lib/storage/handlers/sync-status.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';

// Issue 15 defect 1: FDFS_LIST_FILES (120) and FDFS_SYNC_STATUS (122) must cost bounded memory and
// work, whatever many connections ask: 220 connections sending one 42-byte first-page request each
// took a storage from 94 MB to 3.36 GB, each keeping its own replay of the whole binlog.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function nameOf(n: number): string {
  return buildLogicName({
    storePathIndex: 0, high: 0, low: 0,
    header: { source: { ip: '127.0.0.2' }, timestamp: 1700000000 + n, sizeField: makeSizeField('normal', 1000 + n, n & 0x7fffff), crc32: n },
    ext7: `${String(n % 100000).padStart(7, '0')}`,
  });
}

test('first pages of limit 1 on 100 connections keep no per-connection copy of the listing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-list-amp-'));
  const files = 20000;
  fs.mkdirSync(path.join(dir, 'data', 'sync'), { recursive: true });
  let text = '';
  for (let i = 0; i < files; i++) text += formatBinlogLine({ timestamp: 1700000000 + i, op: 'C', name: nameOf(i) });
  fs.writeFileSync(path.join(dir, 'data', 'sync', 'binlog.000'), text);
  const config = loadStorageConfig({
    overrides: { group_name: 'group1', base_path: dir, bind_addr: '127.0.0.1', tracker_server: ['127.0.0.1:1'], subdir_count_per_path: 1 },
  }).config;
  const server = new StorageServer(config, undefined, { reporter: false, listenPort: 0, myIp: ['127.0.0.9'], parameters: { reserved_storage_space: '0MB' } });
  const addr = await server.start();
  const conns: ClientConnection[] = [];
  try {
    const firstPage = async (c: ClientConnection) => decodeListFilesResponse(await c.request(CMD.FDFS_LIST_FILES, encodeListFilesRequest({ group: 'group1', since: 0, limit: 1, after: '' })));
    // Warm up: the one shared index is built by the first listing.
    const warm = await ClientConnection.connect(addr.host, addr.port, { networkTimeout: 30 });
    conns.push(warm);
    const p0 = await firstPage(warm);
    assert.equal(p0.totalFiles, files);
    assert.equal(p0.files.length, 1);
    assert.equal(p0.more, true);
    const base = heapUsed();
    for (let i = 0; i < 100; i++) conns.push(await ClientConnection.connect(addr.host, addr.port, { networkTimeout: 30 }));
    // Bounded: a replay of the whole binlog per request made this take minutes.
    let bound: NodeJS.Timeout | undefined;
    const pages = await Promise.race([
      Promise.all(conns.slice(1).map(firstPage)),
      new Promise<never>((_, reject) => { bound = setTimeout(() => reject(new Error('100 first pages took more than 60 s')), 60000); }),
    ]).finally(() => clearTimeout(bound));
    for (const p of pages) assert.deepEqual(p.files, p0.files);
    const grown = heapUsed() - base;
    // A copy of 20,000 entries per connection would be ~100 × 2.5 MB.
    assert.ok(grown < 40 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB for 100 open listings`);
    const serverConns = (server as unknown as { server: PacketServer<StorageContext> }).server.connections;
    const kept = [...serverConns].filter((c: Connection) => Object.keys(c.data).length > 0).length;
    assert.equal(kept, 0, 'no connection holds listing state');
    // Continuing a listing from any connection works from the shared index.
    const next = decodeListFilesResponse(await conns[7]!.request(CMD.FDFS_LIST_FILES, encodeListFilesRequest({ group: 'group1', since: 0, limit: 5, after: p0.files[0]!.name })));
    assert.equal(next.files.length, 5);
    assert.ok(next.files[0]!.name > p0.files[0]!.name);
  } finally {
    for (const c of conns) c.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('FDFS_SYNC_STATUS asked by 50 clients at once scans the binlog once, not 50 times', async () => {
  let scans = 0;
  const ctx = {
    groupName: 'group1',
    syncStatus: async (): Promise<PeerSyncStatus[]> => {
      scans++;
      await new Promise((r) => setTimeout(r, 50));
      return [{ peerId: '127.0.0.3', status: 7, recordsBehind: 12, bytesBehind: 345, lastPushedTimestamp: 1700000000 }];
    },
  } as unknown as StorageContext;
  const server = new PacketServer<StorageContext>({
    name: 'storage', handlers: new Map([[CMD.FDFS_SYNC_STATUS, syncStatus]]), state: ctx, networkTimeout: 30, maxBodyLength: 65536, closeOnEinval: true,
  });
  const addr = await server.listen(0, '127.0.0.1');
  const conns: ClientConnection[] = [];
  try {
    for (let i = 0; i < 50; i++) conns.push(await ClientConnection.connect('127.0.0.1', addr.port, { networkTimeout: 30 }));
    const ask = async (c: ClientConnection) => decodeSyncStatusResponse(await c.request(CMD.FDFS_SYNC_STATUS, encodeSyncStatusRequest('group1')));
    const answers = await Promise.all(conns.map(ask));
    for (const a of answers) assert.equal(a[0]!.recordsBehind, 12);
    // And again right after (an `fdfs list` loop): still answered from the fresh result.
    await Promise.all(conns.map(ask));
    assert.ok(scans <= 2, `${scans} scans for 100 requests`);
  } finally {
    for (const c of conns) c.close();
    await server.close(100);
  }
});
