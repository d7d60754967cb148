import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import * as storage from '../lib/client/storage-client.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { SYNC_CAP, SYNC_CAPS_PROBE_STATUS, decodeSyncCaps, encodeReportServerId } from '../lib/storage/sync/codec.ts';
import { STORAGE_IPS, startCluster, waitFor, type Cluster } from './helpers/cluster.ts';
import { startFakeCStorage, type FakeCStorage } from './helpers/fake-c-storage.ts';
import { querySyncStatus } from '../lib/client/sync-status.ts';
import {
  addrOf, appendOn, deleteOn, modifyOn, readFrom, setMetaOn, split, truncateOn, uploadTo, waitActive, withConn, type Addr,
} from './helpers/replication.ts';

// Issue 16: an fdfs storage syncing to a FastDFS (C) storage in its group. 6.16.1 serves one sync
// request at a time per connection (a pipelined one waits for bytes that never come) and drops the
// connection on a command it does not know (121). The fake peer behaves that way; every record
// type must reach it, with no pipelining and no fdfs extension sent.

let cluster: Cluster;
let fake: FakeCStorage;
let s1: Addr;

before(async () => {
  // Two storage addresses with a free common port; the second is the fake C storage.
  cluster = await startCluster({ storages: 2, start: 1, tracker: { store_slave_file_use_link: true } });
  s1 = addrOf(cluster.storages[0]!);
  fake = await startFakeCStorage({
    host: STORAGE_IPS[1]!, port: cluster.storagePort, group: cluster.group,
    tracker: { host: '127.0.0.1', port: cluster.tracker.port },
  });
  await waitActive(cluster, 2);
});

after(async () => {
  await fake?.stop();
  await cluster?.stop();
});

function rand(n: number): Buffer {
  return crypto.randomBytes(n);
}

test('fdfs ⇒ C: every record type arrives, one request at a time, no fdfs extension sent', async () => {
  const live: string[] = [];
  // C: plain files, small (whole in one read) and large (streamed from disk, above 256 KiB).
  for (const size of [0, 1, 1000, 70_000, 300_000]) live.push(await uploadTo(s1, rand(size)));
  for (let i = 0; i < 30; i++) live.push(await uploadTo(s1, rand(100 + i)));
  // U: metadata.
  await setMetaOn(s1, live[2]!, { width: '10', height: '20' });
  // D: delete.
  const gone = await uploadTo(s1, rand(500));
  await deleteOn(s1, gone);
  // A/M/T: appender changes.
  const app = await uploadTo(s1, rand(1000), { appender: true });
  await appendOn(s1, app, rand(2000));
  await modifyOn(s1, app, 100, rand(50));
  await truncateOn(s1, app, 1500);
  await appendOn(s1, app, rand(10));
  live.push(app);
  // L: a slave file stored as a link (store_slave_file_use_link).
  const master = split(live[3]!);
  const slave = await withConn(s1, (c) => storage.uploadSlaveFile(c, master.name, '_s', 'jpg',
    { size: 4, chunks: () => Buffer.from('abcd') }, live[3]!));
  const slaveName = slave.logicName;
  // R: regenerated appender name.
  const app2 = await uploadTo(s1, rand(777), { appender: true });
  const renamed = await withConn(s1, (c) => storage.regenerateAppenderName(c, split(app2).name, app2));
  const renamedId = `${renamed.group}/${renamed.logicName}`;
  live.push(renamedId);

  const expected = new Map<string, Buffer>();
  for (const id of live) expected.set(split(id).name, (await readFrom(s1, id))!);

  let last = '';
  await waitFor('every record at the fake C storage', () => {
    for (const [name, want] of expected) {
      const got = fake.files.get(name);
      if (!got || !got.equals(want)) { last = `${name}: ${got ? `${got.length} bytes` : 'missing'}, want ${want.length}`; return false; }
    }
    if (fake.files.has(split(gone).name)) { last = 'deleted file still there'; return false; }
    if (fake.files.has(split(app2).name)) { last = 'old appender name still there'; return false; }
    if (!fake.files.has(`${split(live[2]!).name}-m`)) { last = 'metadata missing'; return false; }
    if (!fake.links.has(slaveName) && !fake.files.has(slaveName)) { last = 'slave missing'; return false; }
    return true;
  }, 30_000).catch((err: Error) => { throw new Error(`${err.message}; last: ${last}; served ${JSON.stringify([...fake.served])}`); });

  assert.deepEqual(fake.unknown, [], 'no command a C storage does not know');
  assert.equal(fake.pipelined, 0, 'never a request before the previous answer');
  assert.ok(fake.probes.length > 0 && fake.probes.every((s) => s === SYNC_CAPS_PROBE_STATUS), 'REPORT_SERVER_ID carried the capability probe');
  for (const cmd of [CMD.SYNC_CREATE_FILE, CMD.SYNC_DELETE_FILE, CMD.SYNC_APPEND_FILE, CMD.SYNC_MODIFY_FILE, CMD.SYNC_TRUNCATE_FILE, CMD.SYNC_RENAME_FILE]) {
    assert.ok((fake.served.get(cmd) ?? 0) > 0, `command ${cmd} was pushed`);
  }
  // The slave is a link here (store_slave_file_use_link); 6.16.1 mis-logs a received link (§5.5),
  // so a C peer gets the slave's bytes as a file of that name instead.
  assert.equal(fake.served.get(CMD.SYNC_CREATE_LINK) ?? 0, 0, 'no SYNC_CREATE_LINK to a C peer');
  assert.equal(fake.files.get(slaveName)?.toString(), 'abcd', 'the slave arrived with its bytes');
});

test('an fdfs receiver announces pipelining and watermarks only to a sender that asks; a C sender gets the empty answer it expects', async () => {
  await withConn(s1, async (c) => {
    const plain = await c.request(CMD.REPORT_SERVER_ID, encodeReportServerId('127.0.0.9'));
    assert.equal(plain.length, 0, 'C senders read no body after 9');
    const asked = await c.request(CMD.REPORT_SERVER_ID, encodeReportServerId('127.0.0.9'), { status: SYNC_CAPS_PROBE_STATUS });
    const caps = decodeSyncCaps(asked);
    assert.ok(caps & SYNC_CAP.PIPELINE, 'pipelining');
    assert.ok(caps & SYNC_CAP.WATERMARK, 'watermarks');
  }, fake.host); // from a member's address: storages refuse sync commands from strangers (issue 15)
  assert.equal(decodeSyncCaps(Buffer.alloc(0)), 0, 'an empty answer (C) means no capabilities');
});

test('fdfs list asks 122 only of fdfs storages: the ACTIVE_TEST probe tells a C storage apart', async () => {
  const fromFdfs = await querySyncStatus(s1.host, s1.port, 'group1', { connectTimeout: 2, networkTimeout: 3 });
  assert.ok(Array.isArray(fromFdfs), 'an fdfs storage answers 122');
  const before = fake.served.get(CMD.ACTIVE_TEST) ?? 0;
  assert.equal(await querySyncStatus(fake.host, fake.port, 'group1', { connectTimeout: 2, networkTimeout: 3 }), null);
  assert.equal(fake.served.get(CMD.ACTIVE_TEST), before + 1, 'the probe went to the C storage');
  assert.ok(!fake.unknown.includes(CMD.FDFS_SYNC_STATUS), 'no 122 sent to a C storage');
});
