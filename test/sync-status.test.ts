import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { querySyncStatus } from '../lib/client/sync-status.ts';
import { FdfsClient } from '../lib/client/client.ts';
import { CMD, STORAGE_STATUS as ST } from '../lib/protocol/codes.ts';
import {
  SYNC_STATUS_ENTRY_LEN, decodeSyncStatusRequest, decodeSyncStatusResponse, encodeSyncStatusRequest, encodeSyncStatusResponse,
} from '../lib/protocol/sync-status.ts';
import { runCli, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, uploadTo, waitActive } from './helpers/replication.ts';

// FDFS_SYNC_STATUS (122), the fdfs extension behind the records-behind part of issue 5's "per-peer
// sync lag ... printed by `fdfs list`" (lib/protocol/sync-status.ts).

describe('sync-status codec', () => {
  test('code 122', () => {
    assert.equal(CMD.FDFS_SYNC_STATUS, 122);
  });

  test('request: GROUP in 16 bytes', () => {
    const b = encodeSyncStatusRequest('group1');
    assert.equal(b.length, 16);
    assert.equal(b.toString('latin1', 0, 6), 'group1');
    assert.ok(b.subarray(6).every((x) => x === 0));
    assert.equal(decodeSyncStatusRequest(b), 'group1');
    assert.throws(() => decodeSyncStatusRequest(Buffer.alloc(15)), { code: 'EINVAL' });
    assert.throws(() => decodeSyncStatusRequest(Buffer.alloc(17)), { code: 'EINVAL' });
  });

  test('response layout: i64 count, then 41-byte entries', () => {
    const peers = [
      { peerId: '127.0.0.3', status: ST.ACTIVE, recordsBehind: 5, bytesBehind: 300, lastPushedTimestamp: 1_700_000_000 },
      { peerId: 'storage-id-long1', status: ST.OFFLINE, recordsBehind: 2 ** 40, bytesBehind: 2 ** 41 + 3, lastPushedTimestamp: 0 },
    ];
    const b = encodeSyncStatusResponse(peers);
    assert.equal(SYNC_STATUS_ENTRY_LEN, 41);
    assert.equal(b.length, 8 + 2 * 41);
    assert.equal(b.readBigInt64BE(0), 2n);
    assert.equal(b.toString('latin1', 8, 17), '127.0.0.3');
    assert.equal(b[8 + 16], ST.ACTIVE);
    assert.equal(b.readBigInt64BE(8 + 17), 5n);
    assert.equal(b.readBigInt64BE(8 + 25), 300n);
    assert.equal(b.readBigInt64BE(8 + 33), 1_700_000_000n);
    assert.equal(b.toString('latin1', 49, 65), 'storage-id-long1');
    assert.deepEqual(decodeSyncStatusResponse(b), peers);
    assert.deepEqual(decodeSyncStatusResponse(encodeSyncStatusResponse([])), []);
  });

  test('malformed responses are EPROTO', () => {
    assert.throws(() => decodeSyncStatusResponse(Buffer.alloc(7)), { code: 'EPROTO' });
    const b = encodeSyncStatusResponse([{ peerId: 'x', status: 7, recordsBehind: 0, bytesBehind: 0, lastPushedTimestamp: 0 }]);
    assert.throws(() => decodeSyncStatusResponse(b.subarray(0, b.length - 1)), { code: 'EPROTO' });
    const neg = Buffer.from(b);
    neg.writeBigInt64BE(-1n, 0);
    assert.throws(() => decodeSyncStatusResponse(neg), { code: 'EPROTO' });
  });
});

interface ListedStorage {
  id: string;
  status: string;
  sync_records_behind_max: number | null;
  sync_peers: Array<{ peer_id: string; records_behind: number; bytes_behind: number; last_pushed_timestamp: number }> | null;
}

describe('sync status of a real two-storage group', () => {
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

  test('fdfs list shows 0 records behind for every peer once uploads replicated', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 20; i++) await client.upload(crypto.randomBytes(500 + i));
    let last = '';
    const storages = await waitFor('every peer 0 records behind', async () => {
      const r = await runCli(['--tracker', cluster.trackerAddr, 'list', '--json']);
      last = r.stdout + r.stderr;
      if (r.code !== 0) return false;
      const list = JSON.parse(r.stdout).groups[0].storages as ListedStorage[];
      const ok = list.length === 2 && list.every((s) => s.sync_peers !== null && s.sync_peers.length === 1
        && s.sync_peers[0]!.records_behind === 0 && s.sync_peers[0]!.bytes_behind === 0 && s.sync_records_behind_max === 0);
      return ok ? list : false;
    }, 20000, 200).then((x) => x as ListedStorage[]).catch((err: Error) => { throw new Error(`${err.message}\n${last}`); });
    // Each storage names the other as its peer; whoever took uploads pushed records of this run.
    assert.equal(storages[0]!.sync_peers![0]!.peer_id, storages[1]!.id);
    assert.equal(storages[1]!.sync_peers![0]!.peer_id, storages[0]!.id);
    assert.ok(storages.some((s) => s.sync_peers![0]!.last_pushed_timestamp >= t0 - 1), JSON.stringify(storages));

    const text = await runCli(['--tracker', cluster.trackerAddr, 'list']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /SYNC FROM\s+MAX RECS BEHIND/);
    assert.equal((text.stdout.match(/ACTIVE .* 0$/gm) ?? []).length, 2, text.stdout);
  });

  test('the client reads the status directly; another group is refused (EINVAL → not available)', async () => {
    const a = addrOf(cluster.storages[0]!);
    const peers = await querySyncStatus(a.host, a.port, cluster.group, { connectTimeout: 2, networkTimeout: 3 });
    assert.ok(peers !== null);
    assert.equal(peers.length, 1);
    assert.equal(await querySyncStatus(a.host, a.port, 'nosuchgroup', { connectTimeout: 2, networkTimeout: 3 }), null);
  });

  test('with the peer stopped, the records it lacks are counted', async () => {
    const a = addrOf(cluster.storages[0]!);
    await cluster.storages[1]!.stop();
    for (let i = 0; i < 3; i++) await uploadTo(a, crypto.randomBytes(100 + i));
    const peers = await querySyncStatus(a.host, a.port, cluster.group, { connectTimeout: 2, networkTimeout: 3 });
    assert.ok(peers !== null && peers.length === 1, JSON.stringify(peers));
    assert.equal(peers[0]!.recordsBehind, 3, JSON.stringify(peers));
    assert.ok(peers[0]!.bytesBehind > 0, JSON.stringify(peers));
  });
});
