import { Buffer } from 'node:buffer';
import { exchanges, haveCaptures, loadCapture, packetBody } from './helpers/captures.ts';
import { decodeGroupStats, decodeStorageStatRecords, type StorageStatRecord } from '../lib/protocol/records.ts';
import { decodeTrackerClusterStat, decodeVolumeStat } from '../lib/client/monitor-records.ts';
import { STORAGE_STATUS as S } from '../lib/protocol/codes.ts';
import type { GroupSnap, Snapshot } from '../tui/snapshot.ts';

// Recorded cluster snapshots for the monitor tests. The base is real FastDFS 6.16.1 traffic
// (captures/client-monitor.json: `fdfs_monitor list`, fdfs_tracker_stat, fdfs_volumn_stat); the
// variants change statuses and counters the way a live cluster would show them.

export const capturesAvailable = haveCaptures();

/** Response body per request command, from the last exchange of that command in the capture. */
export function monitorReplies(): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const ex of exchanges(loadCapture('client-monitor.json'))) {
    if (ex.res && ex.res.status === 0) out.set(ex.req.cmd, packetBody(ex.res));
  }
  return out;
}

/** The capture's clock: a second after the last heartbeat recorded in the 97 reply. */
export const CAPTURE_NOW = 1795595897;

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** The cluster exactly as the 6.16.1 tracker described it: one group, two ACTIVE storages. */
export function recordedSnapshot(): Snapshot {
  const r = monitorReplies();
  const groups = decodeGroupStats(r.get(91)!);
  const storages = decodeStorageStatRecords(r.get(92)!);
  const trackerStats = decodeTrackerClusterStat(r.get(96)!);
  const volume = decodeVolumeStat(r.get(98)!);
  const leader = r.get(95)!.toString('latin1');
  return {
    at: CAPTURE_NOW * 1000,
    leader,
    source: leader,
    cluster: { useStorageId: false, useTrunkFile: false },
    trackers: [{ address: leader, configured: true, reachable: true, leader, isLeader: true, latencyMs: 1, stat: trackerStats[0] }],
    groups: [{ stat: groups[0]!, storages, volume: volume.groups[0] }],
  };
}

function variant(base: StorageStatRecord, id: string, patch: (s: StorageStatRecord) => void): StorageStatRecord {
  const s = clone(base);
  s.id = id;
  s.ip_addr = id;
  patch(s);
  return s;
}

/**
 * group1 with a storage in every status an operator meets (§4.0): the two recorded ACTIVE ones
 * plus WAIT_SYNC, SYNCING, OFFLINE, ONLINE, INIT, DELETED, IP_CHANGED and RECOVERY.
 */
export function everyStatusSnapshot(): Snapshot {
  const snap = recordedSnapshot();
  const g = snap.groups[0]!;
  const [a, b] = g.storages as [StorageStatRecord, StorageStatRecord];
  // Some sync history: a (127.0.0.2) took the latest upload 30 s ago; b has synced up to 12 s before it.
  a.stat.last_source_update = CAPTURE_NOW - 30;
  b.stat.last_synced_timestamp = CAPTURE_NOW - 42;
  const more = [
    variant(a, '127.0.0.10', (s) => { s.status = S.WAIT_SYNC; s.src_id = '127.0.0.2'; s.join_time = CAPTURE_NOW - 5; s.stat.last_synced_timestamp = 0; }),
    variant(a, '127.0.0.11', (s) => {
      s.status = S.SYNCING; s.src_id = '127.0.0.2';
      s.join_time = a.join_time + 60;
      s.stat.last_synced_timestamp = a.join_time + 24;
      s.stat.last_sync_update = CAPTURE_NOW - 1;
    }),
    variant(a, '127.0.0.12', (s) => { s.status = S.OFFLINE; s.up_time = 0; s.stat.last_heart_beat_time = CAPTURE_NOW - 192; }),
    variant(a, '127.0.0.13', (s) => { s.status = S.ONLINE; }),
    variant(a, '127.0.0.14', (s) => { s.status = S.INIT; s.stat.last_heart_beat_time = 0; }),
    variant(a, '127.0.0.15', (s) => { s.status = S.DELETED; }),
    variant(a, '127.0.0.16', (s) => { s.status = S.IP_CHANGED; }),
    variant(a, '127.0.0.17', (s) => { s.status = S.RECOVERY; s.src_id = '127.0.0.3'; }),
  ];
  g.storages = [a, b, ...more];
  g.stat.storage_count = g.storages.length;
  return snap;
}

/** A second, configured tracker that refuses connections. */
export function deadTrackerSnapshot(): Snapshot {
  const snap = recordedSnapshot();
  snap.trackers.push({
    address: '127.0.0.5:22160', configured: true, reachable: false, isLeader: false,
    error: 'ECONNREFUSED: cannot connect: connect ECONNREFUSED 127.0.0.5:22160 (127.0.0.5:22160)',
  });
  return snap;
}

/** group2 whose members are all OFFLINE: nothing can be uploaded to it. */
export function noWritableSnapshot(): Snapshot {
  const snap = recordedSnapshot();
  const g1 = snap.groups[0]!;
  const g2: GroupSnap = clone(g1);
  g2.stat.group_name = 'group2';
  g2.stat.writable_server_count = 0;
  g2.stat.readable_server_count = 0;
  g2.storages = g2.storages.map((s, i) => variant(s, `127.0.0.${20 + i}`, (x) => {
    x.status = S.OFFLINE;
    x.up_time = 0;
    x.stat.last_heart_beat_time = CAPTURE_NOW - 600 - i;
  }));
  snap.groups.push(g2);
  return snap;
}

/** The same cluster a poll later: counters grew over one heartbeat, one storage changed status. */
export function laterSnapshot(prev: Snapshot, seconds: number, patch?: (s: Snapshot) => void): Snapshot {
  const snap = clone(prev);
  snap.at += seconds * 1000;
  for (const g of snap.groups) {
    for (const s of g.storages) {
      if (s.stat.last_heart_beat_time > 0) s.stat.last_heart_beat_time += seconds;
    }
  }
  patch?.(snap);
  return snap;
}
