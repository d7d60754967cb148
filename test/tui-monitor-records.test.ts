import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchanges, loadCapture, packetBody } from './helpers/captures.ts';
import { capturesAvailable } from './tui-fixtures.ts';
import {
  decodeStorageClusterStat, decodeTrackerClusterStat, decodeVolumeStat, encodeStorageClusterStatRequest,
  encodeTrackerClusterStatRequest, encodeVolumeStatRequest,
} from '../lib/client/monitor-records.ts';
import { decodeGroupStats, decodeStorageStatRecords } from '../lib/protocol/records.ts';
import { CMD } from '../lib/protocol/codes.ts';

// The monitor's wire: 91/92/95/96/97/98 as fdfs_monitor, fdfs_tracker_stat, fdfs_storage_stat and
// fdfs_volumn_stat exchanged them with a 6.16.1 tracker (captures/client-monitor.json), including
// the stale bytes after the NUL of the host/id/group fields (§0, captures/README.md #3).

const skip = !capturesAvailable && 'captures not available';

function exchange(cmd: number) {
  const ex = exchanges(loadCapture('client-monitor.json')).filter((e) => e.req.cmd === cmd);
  assert.ok(ex.length > 0, `capture has command ${cmd}`);
  return { req: packetBody(ex[ex.length - 1]!.req), res: packetBody(ex[ex.length - 1]!.res!) };
}

test('95 GET_LEADER: empty request, "ip:port" text reply', { skip }, () => {
  const { req, res } = exchange(CMD.SERVER_GET_LEADER);
  assert.equal(req.length, 0);
  assert.equal(res.toString('latin1'), '127.0.0.4:22160');
});

test('96 TRACKER_CLUSTER_STAT: our request is the recorded one; reply host stops at its NUL', { skip }, () => {
  const { req, res } = exchange(CMD.SERVER_TRACKER_CLUSTER_STAT);
  assert.deepEqual(encodeTrackerClusterStatRequest(), req);
  const stats = decodeTrackerClusterStat(res);
  assert.equal(stats.length, 1);
  assert.deepEqual(stats[0], {
    host: '127.0.0.4:22160', isLeader: true, isActive: true,
    connection: { alloc_count: 256, current_count: 2, max_count: 4 },
    version: '6.16.1', upTime: 1795595827, lastHeartbeatTime: 0,
  });
});

test('97 STORAGE_CLUSTER_STAT: stale bytes after id and host are ignored', { skip }, () => {
  const { req, res } = exchange(CMD.SERVER_STORAGE_CLUSTER_STAT);
  assert.deepEqual(encodeStorageClusterStatRequest(), req);
  const cs = decodeStorageClusterStat(res);
  assert.equal(cs.useStorageId, false);
  assert.equal(cs.useTrunkFile, false);
  assert.deepEqual(cs.storages.map((s) => [s.id, s.host, s.status, s.upTime, s.lastHeartbeatTime]), [
    ['127.0.0.2', '127.0.0.2:23060', 7, 1795595829, 1795595895],
    ['127.0.0.3', '127.0.0.3:23060', 7, 1795595849, 1795595896],
  ]);
});

test('98 STORAGE_VOLUMN_STAT: group with stale bytes, avail = free − reserved', { skip }, () => {
  const { req, res } = exchange(CMD.SERVER_STORAGE_VOLUMN_STAT);
  assert.deepEqual(encodeVolumeStatRequest(), req);
  const vs = decodeVolumeStat(res);
  assert.equal(vs.groups.length, 1);
  const g = vs.groups[0]!;
  assert.equal(g.group, 'group1');
  assert.equal(g.availMb, g.freeMb - g.reservedMb);
  assert.equal(g.isDiskAvailable, true);
});

test('91 and 92 replies decode into the group and both storages fdfs_monitor printed', { skip }, () => {
  const groups = decodeGroupStats(exchange(CMD.SERVER_LIST_ALL_GROUPS).res);
  assert.deepEqual(groups.map((g) => [g.group_name, g.storage_count, g.writable_server_count, g.storage_port]), [['group1', 2, 2, 23060]]);
  const storages = decodeStorageStatRecords(exchange(CMD.SERVER_LIST_STORAGE).res);
  assert.deepEqual(storages.map((s) => [s.id, s.status, s.src_id, s.version]), [['127.0.0.2', 7, '', '6.16.1'], ['127.0.0.3', 7, '127.0.0.2', '6.16.1']]);
});

test('truncated 96/97/98 replies are refused, not misread', { skip }, () => {
  assert.throws(() => decodeTrackerClusterStat(exchange(CMD.SERVER_TRACKER_CLUSTER_STAT).res.subarray(0, 50)), RangeError);
  assert.throws(() => decodeStorageClusterStat(exchange(CMD.SERVER_STORAGE_CLUSTER_STAT).res.subarray(0, 120)), RangeError);
  assert.throws(() => decodeVolumeStat(exchange(CMD.SERVER_STORAGE_VOLUMN_STAT).res.subarray(0, 30)), RangeError);
});
