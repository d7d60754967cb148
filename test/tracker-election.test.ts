import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Buffer } from 'node:buffer';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD, FDFS_VERSION, STORAGE_STATUS as ST } from '../lib/protocol/codes.ts';
import { readI64 } from '../lib/protocol/fields.ts';
import { encodeJoinRequest } from '../lib/protocol/storage-tracker.ts';
import {
  decodeJoinLeader, decodeTrackerStatus, encodeJoinLeader, encodePingLeader, encodeSysFileRequest, encodeTrackerStatus,
  runningStatusOf,
} from '../lib/protocol/tracker-peer.ts';
import { loadTrackerConfig } from '../lib/config/tracker-config.ts';
import { compareForElection } from '../lib/tracker/election.ts';
import { TrackerPeer } from '../lib/tracker/peers.ts';
import { TrackerServer } from '../lib/tracker/tracker-server.ts';

// Tracker-to-tracker bodies and rules (PROTOCOL.md §8.6, §8.7) on one in-process tracker.

test('64 GET_STATUS body: u8 is_leader, i64 running_time, i64 restart_interval, rounded down to 300 s', () => {
  const s = runningStatusOf(true, 10_000 + 901, 10_000, 10_000 - 650);
  assert.deepEqual(s, { isLeader: true, runningTime: 900, restartInterval: 600 });
  const b = encodeTrackerStatus(s);
  assert.equal(b.toString('hex'), '01' + '0000000000000384' + '0000000000000258');
  assert.deepEqual(decodeTrackerStatus(b), s);
  assert.equal(runningStatusOf(false, 100, 50, 0).restartInterval, 0, 'no status file: 0');
  const j = encodeJoinLeader({ upTime: 1700000000, version: '6.16.1', serverPort: 22122 });
  assert.equal(j.length, 24);
  assert.deepEqual(decodeJoinLeader(j), { upTime: 1700000000, version: '6.16.1', serverPort: 22122 });
});

test('§8.6 ranking: leader first, then running time, then the shorter restart interval, then ip and port; the last wins', () => {
  const r = (ip: string, port: number, isLeader: boolean, runningTime: number, restartInterval: number) =>
    ({ peer: new TrackerPeer([ip], port), status: { isLeader, runningTime, restartInterval } });
  const winner = (list: ReturnType<typeof r>[]) => [...list].sort(compareForElection).at(-1)!.peer.address;
  assert.equal(winner([r('10.0.0.1', 22122, false, 600, 0), r('10.0.0.2', 22122, false, 300, 0)]), '10.0.0.1:22122');
  assert.equal(winner([r('10.0.0.1', 22122, false, 600, 0), r('10.0.0.2', 22122, true, 0, 0)]), '10.0.0.2:22122');
  assert.equal(winner([r('10.0.0.1', 22122, false, 0, 300), r('10.0.0.2', 22122, false, 0, 600)]), '10.0.0.1:22122');
  assert.equal(winner([r('10.0.0.1', 22122, false, 0, 0), r('10.0.0.2', 22122, false, 0, 0)]), '10.0.0.2:22122');
  assert.equal(winner([r('10.0.0.1', 22123, false, 0, 0), r('10.0.0.1', 22122, false, 0, 0)]), '10.0.0.1:22123');
});

test('a tracker whose only peer is unreachable wins the round alone; 58/65 from a follower; 61 twice ⇒ EBUSY; 63 pieces; 62 releases', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-election-'));
  const config = loadTrackerConfig({ overrides: { base_path: base, bind_addr: '127.0.0.1' } }).config;
  const tracker = new TrackerServer(config, undefined, { port: 0, timers: false });
  const { port } = await tracker.start();
  const conns: ClientConnection[] = [];
  const connect = async () => { const c = await ClientConnection.connect('127.0.0.1', port); conns.push(c); return c; };
  try {
    const c = await connect();
    await assert.rejects(c.request(CMD.SERVER_GET_LEADER), /ENOENT/, 'no leader before any storage told us the trackers');
    const storage = await connect();
    await storage.request(CMD.STORAGE_JOIN, encodeJoinRequest({
      group: 'group1', port: 23000, storePathCount: 1, subdirCountPerPath: 256, uploadPriority: 10, joinTime: 1, upTime: 1,
      version: FDFS_VERSION, initFlag: 1, status: ST.INIT, storageId: '', currentTrackerIp: '127.0.0.1',
      trackers: [`127.0.0.1:${port}`, '127.0.0.1:1'],
    }));
    assert.equal(tracker.isLeader, false, 'a second tracker is listed: an election, not an instant leader');
    // The peer at :1 is unreachable: we win the round on our own.
    for (let i = 0; i < 100 && !tracker.isLeader; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(tracker.isLeader, true);
    const c2 = await connect();
    assert.equal((await c2.request(CMD.SERVER_GET_LEADER)).toString(), `127.0.0.1:${port}`);
    assert.equal((await c2.request(CMD.TRACKER_GET_STATUS))[0], 1, '64: is_leader');

    // A follower (listed as 127.0.0.1:1) joins the leader and pings.
    const f = await connect();
    await f.request(CMD.TRACKER_JOIN_LEADER, encodeJoinLeader({ upTime: 123, version: '6.16.1', serverPort: 1 }));
    await assert.rejects(f.request(CMD.TRACKER_JOIN_LEADER, encodeJoinLeader({ upTime: 123, version: '6.16.1', serverPort: 1 })), /EEXIST/);
    const f2 = await connect();
    await f2.request(CMD.TRACKER_JOIN_LEADER, encodeJoinLeader({ upTime: 123, version: '6.16.1', serverPort: 1 }));
    const ping = await f2.request(CMD.TRACKER_PING_LEADER, encodePingLeader({ alloc: 1, current: 2, max: 3 }));
    assert.equal(ping.length, 32, 'first ping: every group with its trunk server (GROUP + ID)');
    assert.equal((await f2.request(CMD.TRACKER_PING_LEADER, encodePingLeader({ alloc: 1, current: 2, max: 3 }))).length, 0);
    const stat = await c2.request(CMD.SERVER_TRACKER_CLUSTER_STAT, Buffer.from([0, 0, 0]));
    assert.equal(stat[0], 2, '96: both trackers');

    // §8.7: one copy at a time.
    const a = await connect();
    const b = await connect();
    await a.request(CMD.TRACKER_GET_SYS_FILES_START);
    await assert.rejects(b.request(CMD.TRACKER_GET_SYS_FILES_START), /EBUSY/);
    const piece = await a.request(CMD.TRACKER_GET_ONE_SYS_FILE, encodeSysFileRequest(0, 0));
    const size = readI64(piece, 0);
    assert.equal(piece.length, 8 + size, 'the groups file fits in one piece');
    assert.match(piece.subarray(8).toString(), /group_name=group1/);
    await assert.rejects(a.request(CMD.TRACKER_GET_ONE_SYS_FILE, encodeSysFileRequest(4, 0)), /EINVAL/);
    const a2 = await connect();
    await a2.request(CMD.TRACKER_GET_SYS_FILES_END).catch(() => {});
    await a.request(CMD.TRACKER_GET_SYS_FILES_END).catch(() => {});
    const b2 = await connect();
    await b2.request(CMD.TRACKER_GET_SYS_FILES_START);
    await b2.request(CMD.TRACKER_GET_SYS_FILES_END);

    // 68: a storage that sees two leaders makes the leader step down.
    await c2.request(CMD.TRACKER_NOTIFY_RESELECT_LEADER);
    assert.equal(tracker.isLeader, false);
  } finally {
    for (const c of conns) c.destroy();
    await tracker.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
});
