import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CAPTURE_NOW, capturesAvailable, deadTrackerSnapshot, everyStatusSnapshot, laterSnapshot, noWritableSnapshot, recordedSnapshot,
} from './tui-fixtures.ts';
import {
  diffEvents, formatDuration, ratesFor, recordSamples, syncLag, syncLags, whyNotActive, type RateHistory,
} from '../tui/derive.ts';
import { formatSnapshotJson, formatSnapshotText, snapshotJson } from '../tui/format.ts';
import { buildBody, columnsFor, windowFor } from '../tui/layout.ts';
import { advance, initialState } from '../tui/poller.ts';
import { STAT_COUNTERS } from '../lib/protocol/records.ts';
import { STORAGE_STATUS as S } from '../lib/protocol/codes.ts';

// What the monitor works out from snapshots: why a storage is not ACTIVE, sync lag, rates from
// counter deltas, the event log, and the --once text and JSON.

const skip = !capturesAvailable && 'captures not available';

function storage(snap: ReturnType<typeof recordedSnapshot>, id: string) {
  for (const g of snap.groups) {
    const s = g.storages.find((x) => x.id === id);
    if (s) return { g, s };
  }
  throw new Error(`no storage ${id}`);
}

test('a healthy recorded cluster: ACTIVE storages need no explanation, lag 0', { skip }, () => {
  const snap = recordedSnapshot();
  for (const s of snap.groups[0]!.storages) {
    assert.equal(whyNotActive(snap.groups[0]!, s, CAPTURE_NOW), null);
    assert.equal(syncLag(snap.groups[0]!, s), 0);
  }
});

test('every status says why it is not ACTIVE in words', { skip }, () => {
  const snap = everyStatusSnapshot();
  const why = (id: string) => { const { g, s } = storage(snap, id); return whyNotActive(g, s, CAPTURE_NOW); };
  assert.equal(why('127.0.0.10'), 'waiting for 127.0.0.2 to start copying old data');
  assert.match(why('127.0.0.11')!, /^127\.0\.0\.2 is copying old data: copied up to \S+ of \S+ \(~40%\), last file received 1s ago$/);
  assert.match(why('127.0.0.12')!, /^offline: disconnected; no heartbeat for 3m12s \(last at /);
  assert.match(why('127.0.0.13')!, /first heartbeat/);
  assert.match(why('127.0.0.14')!, /not initialised/);
  assert.match(why('127.0.0.15')!, /deleted/);
  assert.match(why('127.0.0.16')!, /another IP/);
  assert.match(why('127.0.0.17')!, /rebuilding .* from 127\.0\.0\.3/);
});

test('a WAIT_SYNC member whose source is down says so', { skip }, () => {
  const snap = everyStatusSnapshot();
  storage(snap, '127.0.0.2').s.status = S.OFFLINE;
  const { g, s } = storage(snap, '127.0.0.10');
  assert.equal(whyNotActive(g, s, CAPTURE_NOW), 'waiting for 127.0.0.2 to start copying old data, which is OFFLINE');
});

test('sync lag per peer: newest change of the peer minus what was synced (§2.6)', { skip }, () => {
  const snap = everyStatusSnapshot();
  const { g, s } = storage(snap, '127.0.0.3');
  const lags = syncLags(g, s);
  assert.deepEqual(lags.find((l) => l.peer === '127.0.0.2'), { peer: '127.0.0.2', seconds: 12 });
  assert.ok(!lags.some((l) => l.peer === '127.0.0.3'), 'not against itself');
  assert.ok(!lags.some((l) => l.peer === '127.0.0.15' || l.peer === '127.0.0.16'), 'deleted and stale records are no peers');
  assert.equal(syncLag(g, s), 12);
  const w = storage(snap, '127.0.0.10');
  assert.equal(syncLag(w.g, w.s), null, 'nothing synced yet while peers have data');
  const alone = recordedSnapshot();
  alone.groups[0]!.storages.pop();
  assert.equal(syncLag(alone.groups[0]!, alone.groups[0]!.storages[0]!), undefined, 'no peers, no lag');
});

test('rates come from counter deltas between heartbeats, not between polls', { skip }, () => {
  const s0 = recordedSnapshot();
  let h: RateHistory = recordSamples(new Map(), s0);
  assert.equal(ratesFor(h, 'group1/127.0.0.2'), null, 'one sample is no rate');
  // A poll that saw no new heartbeat adds nothing.
  const same = laterSnapshot(s0, 1, (s) => { for (const st of s.groups[0]!.storages) st.stat.last_heart_beat_time -= 1; });
  h = recordSamples(h, same);
  assert.equal(h.get('group1/127.0.0.2')!.length, 1);
  const s1 = laterSnapshot(s0, 4, (s) => {
    const c = s.groups[0]!.storages[0]!.stat.counters;
    c.success_upload_count += 8;
    c.success_append_count += 2;
    c.success_upload_bytes += 4 * 1024 * 1024;
    c.success_download_count += 40;
    c.success_download_bytes += 1024;
  });
  h = recordSamples(h, s1);
  const r = ratesFor(h, 'group1/127.0.0.2')!;
  assert.deepEqual(r, { writeOps: 2.5, writeBytes: 1024 * 1024, readOps: 10, readBytes: 256, span: 4 });
  assert.equal(ratesFor(h, 'group1/127.0.0.3')!.writeOps, 0);
  // A restarted storage (counters back to 0) starts a new history instead of a negative rate.
  const s2 = laterSnapshot(s1, 4, (s) => { s.groups[0]!.storages[0]!.stat.counters.success_upload_count = 0; });
  h = recordSamples(h, s2);
  assert.equal(ratesFor(h, 'group1/127.0.0.2'), null);
});

test('events: status changes, trackers going away and coming back, groups losing writers', { skip }, () => {
  const s0 = everyStatusSnapshot();
  const first = diffEvents(undefined, s0);
  assert.equal(first.length, 1);
  assert.match(first[0]!.text, /watching 1 tracker \(1 reachable\), 1 group, 10 storages/);
  const s1 = laterSnapshot(s0, 2, (s) => {
    storage(s, '127.0.0.11').s.status = S.ACTIVE;
    storage(s, '127.0.0.3').s.status = S.OFFLINE;
    s.trackers[0]!.reachable = false;
    s.trackers[0]!.error = 'ECONNREFUSED: connection refused';
    s.groups[0]!.storages = s.groups[0]!.storages.filter((x) => x.id !== '127.0.0.15');
  });
  const texts = diffEvents(s0, s1).map((e) => `${e.level} ${e.text}`);
  assert.deepEqual(texts, [
    'error tracker 127.0.0.4:22160 unreachable: ECONNREFUSED: connection refused',
    'error group1 127.0.0.3 ACTIVE → OFFLINE',
    'ok group1 127.0.0.11 SYNCING → ACTIVE',
    'warn group1 127.0.0.15 no longer listed',
  ]);
  const s2 = laterSnapshot(s1, 2, (s) => { s.trackers[0]!.reachable = true; s.trackers[0]!.error = undefined; });
  assert.deepEqual(diffEvents(s1, s2).map((e) => e.text), ['tracker 127.0.0.4:22160 reachable again']);
  const nw = noWritableSnapshot();
  const before = laterSnapshot(nw, 0, (s) => { s.groups[1]!.stat.writable_server_count = 1; });
  assert.ok(diffEvents(before, nw).some((e) => e.level === 'error' && e.text === 'group2: no writable member left'));
  // A failed listing is not "every storage left".
  const broken = laterSnapshot(s0, 2, (s) => { s.groups = []; s.groupsError = '91 failed: ETIMEDOUT'; });
  assert.deepEqual(diffEvents(s0, broken).map((e) => e.text), ['group list unavailable: 91 failed: ETIMEDOUT']);
});

test('the event log is bounded', { skip }, () => {
  let st = initialState;
  let snap = everyStatusSnapshot();
  for (let i = 0; i < 30; i++) {
    snap = laterSnapshot(snap, 2, (s) => { storage(s, '127.0.0.13').s.status = i % 2 ? S.ONLINE : S.ACTIVE; });
    st = advance(st, snap, 10);
  }
  assert.equal(st.events.length, 10);
  assert.equal(st.polls, 30);
});

test('--once text: trackers, then each group and its storages, like fdfs_monitor but in words', { skip }, () => {
  const text = formatSnapshotText(deadTrackerSnapshot());
  assert.match(text, /^fdfs monitor snapshot, 2026-/);
  assert.match(text, /Trackers \(2\):\n {2}127\.0\.0\.4:22160 +leader +reachable/);
  assert.match(text, /127\.0\.0\.5:22160 +UNREACHABLE .*ECONNREFUSED/);
  assert.match(text, /Group 1: group1\n {2}members 2, readable 2, writable 2, storage port 23060/);
  assert.match(text, /Storage 2: 127\.0\.0\.3 {2}127\.0\.0\.3:23060 {2}ACTIVE {2}rw/);
  // Every counter of the StorageStat block is there.
  for (const k of STAT_COUNTERS.filter((c) => c.startsWith('total_'))) assert.ok(text.includes(k.slice(6)), k);
  const nw = formatSnapshotText(noWritableSnapshot());
  assert.match(nw, /writable 0 \(NO WRITABLE MEMBER: uploads fail\)/);
  assert.match(nw, /why not ACTIVE: offline: disconnected; no heartbeat for 10m/);
});

test('--once JSON: the documented shape', { skip }, () => {
  const j = JSON.parse(formatSnapshotJson(everyStatusSnapshot()));
  assert.equal(j.version, 1);
  assert.equal(j.timestamp, CAPTURE_NOW);
  assert.equal(j.leader, '127.0.0.4:22160');
  assert.deepEqual(Object.keys(j), ['version', 'time', 'timestamp', 'leader', 'source', 'useStorageId', 'useTrunkFile', 'error', 'trackers', 'groups']);
  assert.deepEqual(j.trackers[0], {
    address: '127.0.0.4:22160', configured: true, reachable: true, isLeader: true, leader: '127.0.0.4:22160',
    latencyMs: 1, version: '6.16.1', startTime: 1795595827, error: null,
  });
  const g = j.groups[0];
  assert.equal(g.name, 'group1');
  assert.equal(g.availMb, g.freeMb - g.reservedMb);
  assert.equal(g.diskAvailable, true);
  const byId = new Map<string, any>(g.storages.map((s: any) => [s.id, s]));
  assert.equal(byId.get('127.0.0.2').status, 'ACTIVE');
  assert.equal(byId.get('127.0.0.2').why, null);
  assert.equal(byId.get('127.0.0.3').syncLagSec, 12);
  assert.equal(byId.get('127.0.0.10').syncLagSec, null);
  assert.equal(byId.get('127.0.0.12').status, 'OFFLINE');
  assert.equal(byId.get('127.0.0.12').heartbeatAgeSec, 192);
  assert.match(byId.get('127.0.0.12').why, /no heartbeat for 3m12s/);
  assert.equal(Object.keys(byId.get('127.0.0.2').counters).length, 38);
  assert.deepEqual(snapshotJson(recordedSnapshot()).error, null);
});

test('columns drop in a fixed order as the terminal narrows; ID and STATUS stay', () => {
  assert.deepEqual(columnsFor(200).map((c) => c.key), ['id', 'address', 'status', 'beat', 'free', 'write', 'read', 'lag']);
  assert.deepEqual(columnsFor(100).map((c) => c.key), ['id', 'status', 'beat', 'free', 'write', 'read', 'lag']);
  assert.deepEqual(columnsFor(50).map((c) => c.key), ['id', 'status', 'beat', 'lag']);
  assert.deepEqual(columnsFor(20).map((c) => c.key), ['id', 'status']);
  for (const w of [200, 100, 80, 60, 50, 40, 30]) {
    const total = 2 + columnsFor(w).reduce((a, c) => a + c.width + 1, 0);
    assert.ok(total <= w || w < 22, `width ${w}: ${total}`);
  }
});

test('the window keeps the selected line visible', () => {
  assert.deepEqual(windowFor(5, 10, 3), [0, 5]);
  assert.deepEqual(windowFor(100, 10, 0), [0, 10]);
  const [a, b] = windowFor(100, 10, 57);
  assert.ok(a <= 57 && 57 < b && b - a === 10);
  assert.deepEqual(windowFor(100, 10, 99), [90, 100]);
});

test('body lines: a why line under every storage that is not ACTIVE; the g filter', { skip }, () => {
  const body = buildBody(everyStatusSnapshot(), null);
  assert.equal(body.storages.length, 10);
  assert.equal(body.lines.filter((l) => l.kind === 'why').length, 8);
  const two = noWritableSnapshot();
  assert.equal(buildBody(two, 'group2').storages.length, 2);
  assert.ok(buildBody(two, 'group2').storages.every((s) => s.group.stat.group_name === 'group2'));
  assert.equal(buildBody(undefined, null).lines[0]!.kind, 'note');
});

test('durations read naturally', () => {
  assert.deepEqual([0, 59, 60, 192, 3600, 90061].map(formatDuration), ['0s', '59s', '1m00s', '3m12s', '1h00m', '1d01h']);
});
