import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD, STORAGE_STATUS as ST } from '../lib/protocol/codes.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { encodeReportStatus } from '../lib/protocol/storage-tracker.ts';
import { encodeReportServerId, encodeSyncFile } from '../lib/storage/sync/codec.ts';
import { startCluster, type Cluster } from './helpers/cluster.ts';
import { addrOf, members, split, stateOn, uploadTo, waitActive, waitConverged, type Addr } from './helpers/replication.ts';

// Issue 15 defect 2: anyone who could connect acted as a server. Tracker commands only a storage
// sends, and storage-to-storage commands, are now refused from addresses that are not storages of
// the group — while a member speaking exactly as a C storage does (76 on a fresh connection
// without JOIN; a parallel sync connection without REPORT_SERVER_ID) is still served.

/** A loopback address that is no storage of the cluster. */
const STRANGER = '127.0.0.9';

let cluster: Cluster;
let s1: Addr;
let s2: Addr;

before(async () => {
  cluster = await startCluster({ storages: 2 });
  s1 = addrOf(cluster.storages[0]!);
  s2 = addrOf(cluster.storages[1]!);
  await waitActive(cluster, 2);
});

after(async () => {
  await cluster?.stop();
});

/** Runs `exchange` on a connection from address `from`: 'OK', or the errno name the storage answered. */
async function outcome(to: Addr, from: string, exchange: (c: ClientConnection) => Promise<unknown>): Promise<string> {
  const c = await ClientConnection.connect(to.host, to.port, { networkTimeout: 10, localAddress: from });
  try {
    await exchange(c);
    return 'OK';
  } catch (err) {
    if (err instanceof FdfsError) return err.code;
    throw err;
  } finally {
    c.close();
  }
}

function send(to: Addr, from: string, cmd: number, body: Buffer, status = 0): Promise<string> {
  return outcome(to, from, (c) => c.request(cmd, body, { status }));
}

function requestFrom(to: Addr, from: string, parts: Buffer[]): Promise<string> {
  return outcome(to, from, async (c) => {
    for (const p of parts.slice(0, -1)) await c.request(CMD.REPORT_SERVER_ID, p);
    await c.request(CMD.SYNC_CREATE_FILE, parts[parts.length - 1]!);
  });
}

test('REPORT_STATUS (76) from a stranger neither adds a storage nor deletes a live one', async () => {
  const tracker = { host: '127.0.0.1', port: cluster.tracker.port };
  const add = encodeReportStatus(cluster.group, { status: ST.WAIT_SYNC, port: cluster.storagePort, id: STRANGER, ip: STRANGER });
  assert.equal(await send(tracker, STRANGER, CMD.STORAGE_REPORT_STATUS, add), 'EACCES');
  const kill = encodeReportStatus(cluster.group, { status: ST.DELETED, port: 0, id: s2.host, ip: s2.host });
  assert.equal(await send(tracker, STRANGER, CMD.STORAGE_REPORT_STATUS, kill), 'EACCES');
  const now = await members(cluster);
  assert.deepEqual(now.map((m) => [m.id, m.status]).sort(), [[s1.host, 'ACTIVE'], [s2.host, 'ACTIVE']]);
  // A member reports as a C storage does: a connection of its own, no JOIN (§4.10). A no-op here
  // (the merge rule ignores SYNCING for an ACTIVE storage), but accepted.
  const syncing = encodeReportStatus(cluster.group, { status: ST.SYNCING, port: 0, id: s2.host, ip: s2.host });
  assert.equal(await send(tracker, s1.host, CMD.STORAGE_REPORT_STATUS, syncing), 'OK');
});

test('sync commands from a stranger are refused; a content that contradicts its name never replaces a file', async () => {
  const original = Buffer.from('seventeen bytes!!');
  const id = await uploadTo(s1, original, { ext: 'txt' });
  const want = { size: original.length, crc: crc32(original) };
  await waitConverged([s1, s2], new Map([[id, want]]));
  const { group, name } = split(id);
  const other = Buffer.from('twenty-three other byte');
  const ts = Math.floor(Date.now() / 1000);
  const forged = Buffer.concat([encodeSyncFile(group, name, other.length, ts), other]);
  // A stranger, with or without REPORT_SERVER_ID claiming a member's id.
  assert.equal(await requestFrom(s2, STRANGER, [forged]), 'EACCES');
  assert.equal(await requestFrom(s2, STRANGER, [encodeReportServerId(s1.host), forged]), 'EACCES');
  // Even from a member's address: the name says 17 bytes and its CRC32.
  assert.equal(await requestFrom(s2, s1.host, [encodeReportServerId(s1.host), forged]), 'EINVAL');
  const sameSize = Buffer.from('SEVENTEEN BYTES!!');
  const forgedCrc = Buffer.concat([encodeSyncFile(group, name, sameSize.length, ts), sameSize]);
  assert.equal(await requestFrom(s2, s1.host, [encodeReportServerId(s1.host), forgedCrc]), 'EINVAL');
  for (const a of [s1, s2]) assert.deepEqual(await stateOn(a, id), want, `${a.host} still serves the original`);
  // A member's parallel sync connection opens without REPORT_SERVER_ID (captures/storage-sync.json,
  // connection 2): served. The file is already there with the same size: EEXIST (§5.2).
  const genuine = Buffer.concat([encodeSyncFile(group, name, original.length, ts), original]);
  assert.equal(await requestFrom(s2, s1.host, [genuine]), 'EEXIST');
});
