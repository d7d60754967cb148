import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ReservedSpace } from '../lib/config/values.ts';
import {
  chooseFetchAll, chooseFetchOne, chooseStoreGroup, chooseStorePath, chooseStoreServer, chooseUpdate,
  checkExplicitGroup, designatedStoreServer, hasReserve, loadBalanceGroupIndex, loadBalancePath, mayHoldFile,
  reservedMbOf, type FetchContext, type SelectableGroup, type SelectableStorage, type StorePolicy,
} from '../lib/tracker/selection.ts';

// The tracker's choices of PROTOCOL.md §8.1–§8.4, as pure functions.

const MB1024: ReservedSpace = { kind: 'mb', mb: 1024, text: '1024MB' };
const PCT20: ReservedSpace = { kind: 'ratio', ratio: 0.2, text: '20%' };

function storage(id: string, over: Partial<SelectableStorage> = {}): SelectableStorage {
  return { id, uploadPriority: 10, paths: [{ totalMb: 100_000, freeMb: 50_000 }], currentWritePath: 0, lastSyncedTimestamp: 0, ...over };
}

function group(name: string, over: Partial<SelectableGroup> = {}): SelectableGroup {
  const s = storage(`${name}-s1`);
  return { name, freeMb: 50_000, totalMb: 100_000, trunkFreeMb: 0, writable: [s], readable: [s], ...over };
}

function policy(over: Partial<StorePolicy> = {}): StorePolicy {
  return { storeLookup: 0, storeGroup: '', reserved: MB1024, useTrunk: false, ...over };
}

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
}

describe('reserve check (§8.1)', () => {
  test('MB mode: free must exceed the reserved MB', () => {
    assert.equal(hasReserve(1025, 0, MB1024), true);
    assert.equal(hasReserve(1024, 100_000, MB1024), false);
  });
  test('ratio mode: free/total must exceed the ratio; an unknown total fails', () => {
    assert.equal(hasReserve(21, 100, PCT20), true);
    assert.equal(hasReserve(20, 100, PCT20), false);
    assert.equal(hasReserve(50, 0, PCT20), false);
  });
  test('reserved_mb as reported: ratio converted against total_mb (capture: 258019 × 20% = 51603)', () => {
    assert.equal(reservedMbOf(258019, PCT20), 51603);
    assert.equal(reservedMbOf(258019, MB1024), 1024);
  });
});

describe('group selection (§8.1)', () => {
  test('round robin walks the groups in name order and wraps', () => {
    const groups = [group('g1'), group('g2'), group('g3')];
    let cur = 0;
    const picked: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = chooseStoreGroup(groups, cur, policy());
      picked.push(groups[r.index]!.name);
      cur = r.nextCurrent;
    }
    assert.deepEqual(picked, ['g1', 'g2', 'g3', 'g1']);
  });

  test('a group without writable servers or without space is skipped', () => {
    const groups = [group('g1', { writable: [] }), group('g2', { freeMb: 10 }), group('g3')];
    const r = chooseStoreGroup(groups, 0, policy());
    assert.equal(groups[r.index]!.name, 'g3');
    assert.equal(r.nextCurrent, 0, 'round robin continues after the chosen group');
  });

  test('no groups or no writable server anywhere ⇒ ENOENT; all full ⇒ ENOSPC', () => {
    assert.equal(errno(() => chooseStoreGroup([], 0, policy())), 'ENOENT');
    assert.equal(errno(() => chooseStoreGroup([group('g1', { writable: [] })], 0, policy())), 'ENOENT');
    assert.equal(errno(() => chooseStoreGroup([group('g1', { freeMb: 1000 }), group('g2', { freeMb: 5 })], 0, policy())), 'ENOSPC');
  });

  test('no disk report yet (free 0) ⇒ uploads refused with ENOSPC', () => {
    assert.equal(errno(() => chooseStoreGroup([group('g1', { freeMb: 0, totalMb: 0 })], 0, policy())), 'ENOSPC');
  });

  test('with trunking a group passing only the disk+trunk check is taken as a last resort', () => {
    const groups = [group('g1', { freeMb: 1000, trunkFreeMb: 100 })];
    assert.equal(errno(() => chooseStoreGroup(groups, 0, policy())), 'ENOSPC');
    assert.equal(chooseStoreGroup(groups, 0, policy({ useTrunk: true })).index, 0);
  });

  test('store_lookup 1 uses store_group only', () => {
    const groups = [group('g1'), group('g2')];
    assert.equal(chooseStoreGroup(groups, 0, policy({ storeLookup: 1, storeGroup: 'g2' })).index, 1);
    assert.equal(errno(() => chooseStoreGroup(groups, 0, policy({ storeLookup: 1, storeGroup: 'nope' }))), 'ENOENT');
    assert.equal(errno(() => checkExplicitGroup(group('g1', { freeMb: 2 }), 'g1', policy())), 'ENOSPC');
    assert.equal(errno(() => checkExplicitGroup(group('g1', { writable: [] }), 'g1', policy())), 'ENOENT');
  });

  test('load balance: the writable group with the most free space (ties: the first)', () => {
    const groups = [group('g1', { freeMb: 10 }), group('g2', { freeMb: 30 }), group('g3', { freeMb: 30 }), group('g4', { freeMb: 99, writable: [] })];
    assert.equal(loadBalanceGroupIndex(groups, MB1024, false), 1);
    assert.equal(loadBalanceGroupIndex([group('g1', { writable: [] })], MB1024, false), -1);
    const trunky = [group('g1', { freeMb: 30, trunkFreeMb: 1 }), group('g2', { freeMb: 20, trunkFreeMb: 5000 })];
    assert.equal(loadBalanceGroupIndex(trunky, MB1024, true), 1, 'most trunk space when the fullest fails the reserve');
  });
});

describe('server selection (§8.2)', () => {
  const list = [storage('a', { uploadPriority: 5 }), storage('b', { uploadPriority: 1 }), storage('c', { uploadPriority: 1 })];

  test('round robin post-increments and wraps', () => {
    let cur = 0;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = chooseStoreServer(list, 0, cur);
      ids.push(r.server.id);
      cur = r.nextCurrent;
    }
    assert.deepEqual(ids, ['a', 'b', 'c', 'a']);
    assert.equal(chooseStoreServer(list, 0, 17).server.id, 'a', 'a stale cursor restarts at 0');
  });

  test('mode 1 takes the first by id, mode 2 the lowest upload_priority (first on ties)', () => {
    assert.equal(chooseStoreServer(list, 1, 2).server.id, 'a');
    assert.equal(chooseStoreServer(list, 2, 0).server.id, 'b');
    assert.equal(designatedStoreServer(list, 0)?.id, 'a');
    assert.equal(errno(() => chooseStoreServer([], 0, 0)), 'ENOENT');
  });
});

describe('store path (§8.3)', () => {
  const base = { reserved: MB1024, useTrunk: false, storePath: 0 as const, trunkFreeMb: 0 };
  const twoPaths = (free0: number, free1: number, current = 0) =>
    storage('s', { paths: [{ totalMb: 10_000, freeMb: free0 }, { totalMb: 10_000, freeMb: free1 }], currentWritePath: current });

  test('round robin: the current path, then current_write_path advances and wraps', () => {
    assert.deepEqual(chooseStorePath(twoPaths(5000, 5000, 0), 2, base), { index: 0, nextCurrentWritePath: 1 });
    assert.deepEqual(chooseStorePath(twoPaths(5000, 5000, 1), 2, base), { index: 1, nextCurrentWritePath: 0 });
  });

  test('a full current path falls back to the first path that passes (reserve split per path)', () => {
    // 1024 MB over 2 paths = 512 MB per path.
    assert.equal(chooseStorePath(twoPaths(5000, 512, 1), 2, base).index, 0);
    assert.equal(chooseStorePath(twoPaths(5000, 513, 1), 2, base).index, 1);
  });

  test('no path passes ⇒ ENOSPC, unless trunk space makes one pass', () => {
    assert.equal(errno(() => chooseStorePath(twoPaths(100, 100), 2, base)), 'ENOSPC');
    assert.equal(chooseStorePath(twoPaths(100, 100), 2, { ...base, useTrunk: true, trunkFreeMb: 1000 }).index, 0);
  });

  test('no disk report yet: the path is unknown, not full (issue 15: no ENOSPC after a tracker restart)', () => {
    assert.equal(chooseStorePath(storage('s', { paths: [], currentWritePath: 1 }), 2, base).index, 1);
    assert.equal(chooseStorePath(storage('s', { paths: [] }), 1, base).index, 0);
  });

  test('a group no live member has reported disks for is not refused; one that reported full is', () => {
    const restarted = group('g1', { freeMb: 0, totalMb: 0, diskKnown: false });
    assert.equal(errno(() => checkExplicitGroup(restarted, 'g1', policy())), 'no error');
    assert.equal(chooseStoreGroup([restarted], 0, policy()).index, 0);
    assert.equal(errno(() => checkExplicitGroup({ ...restarted, diskKnown: true }, 'g1', policy())), 'ENOSPC');
  });

  test('mode 2 keeps current_write_path; the report moves it to a strictly freer path', () => {
    assert.equal(chooseStorePath(twoPaths(5000, 5000, 1), 2, { ...base, storePath: 2 }).nextCurrentWritePath, 1);
    assert.equal(loadBalancePath([{ totalMb: 1, freeMb: 5 }, { totalMb: 1, freeMb: 5 }], 1), 1, 'equal is not better');
    assert.equal(loadBalancePath([{ totalMb: 1, freeMb: 9 }, { totalMb: 1, freeMb: 5 }], 1), 0);
  });

  test('ratio mode per path', () => {
    const s = storage('s', { paths: [{ totalMb: 100, freeMb: 20 }, { totalMb: 100, freeMb: 21 }] });
    assert.equal(chooseStorePath(s, 2, { ...base, reserved: PCT20 }).index, 1);
  });
});

describe('download / update server (§8.4)', () => {
  const NOW = 1_800_000_000;
  const src = storage('127.0.0.2', { lastSyncedTimestamp: 0 });
  const replica = storage('127.0.0.3', { lastSyncedTimestamp: NOW - 1000 });
  function ctx(over: Partial<FetchContext<SelectableStorage>> = {}): FetchContext<SelectableStorage> {
    return {
      readable: [src, replica], writable: [src, replica], source: src, normal: true, fileTimestamp: NOW - 10, now: NOW,
      downloadServer: 0, storeServer: 0, syncFileMaxDelay: 86400, syncFileMaxTime: 300, currentReadServer: 0, currentWriteServer: 0,
      ...over,
    };
  }

  test('the sync-progress rule', () => {
    const r = (synced: number) => storage('r', { lastSyncedTimestamp: synced });
    assert.equal(mayHoldFile(r(0), true, NOW, NOW, 86400, 300), true, 'the source always has it');
    assert.equal(mayHoldFile(r(0), false, NOW - 86401, NOW, 86400, 300), true, 'older than max_delay');
    assert.equal(mayHoldFile(r(NOW - 9), false, NOW - 10, NOW, 86400, 300), true, 'synced past the file');
    assert.equal(mayHoldFile(r(NOW - 10), false, NOW - 10, NOW, 86400, 300), false, 'synced up to it, but recent');
    assert.equal(mayHoldFile(r(NOW - 401), false, NOW - 400, NOW, 86400, 300), true, 'synced to the second before, older than max_time');
    assert.equal(mayHoldFile(r(NOW - 500), false, NOW - 400, NOW, 86400, 300), false);
  });

  test('FETCH_ONE: round robin over readable servers that may hold a fresh file', () => {
    // The replica synced only up to 1000 s ago: a 10-s-old file is served by the source only.
    const a = chooseFetchOne(ctx({ currentReadServer: 1 }));
    assert.equal(a.server.id, '127.0.0.2');
    assert.equal(a.nextReadServer, 0);
    // An old file may come from either, in turn.
    const old = { fileTimestamp: NOW - 5000 };
    assert.equal(chooseFetchOne(ctx({ ...old, currentReadServer: 0 })).server.id, '127.0.0.2');
    assert.equal(chooseFetchOne(ctx({ ...old, currentReadServer: 1 })).server.id, '127.0.0.3');
  });

  test('FETCH_ONE: appender/slave files and download_server=1 go to the source', () => {
    const old = { fileTimestamp: NOW - 5000, currentReadServer: 1 };
    assert.equal(chooseFetchOne(ctx({ ...old, normal: false })).server.id, '127.0.0.2');
    assert.equal(chooseFetchOne(ctx({ ...old, downloadServer: 1 })).server.id, '127.0.0.2');
  });

  test('FETCH_ONE: unreadable source of a non-normal file ⇒ the store server; none readable ⇒ ENOENT', () => {
    const c = ctx({ normal: false, readable: [replica], writable: [replica] });
    assert.equal(chooseFetchOne(c).server.id, '127.0.0.3');
    assert.equal(errno(() => chooseFetchOne(ctx({ readable: [], writable: [] }))), 'ENOENT');
  });

  test('FETCH_ALL lists every server that may hold the file', () => {
    assert.deepEqual(chooseFetchAll(ctx()).map((s) => s.id), ['127.0.0.2']);
    assert.deepEqual(chooseFetchAll(ctx({ fileTimestamp: NOW - 5000 })).map((s) => s.id), ['127.0.0.2', '127.0.0.3']);
    assert.deepEqual(chooseFetchAll(ctx({ normal: false, fileTimestamp: NOW - 5000 })).map((s) => s.id), ['127.0.0.2']);
  });

  test('UPDATE: the source when writable, else a writable server round robin, else ENOENT', () => {
    assert.equal(chooseUpdate(ctx({ currentWriteServer: 1 })).server.id, '127.0.0.2');
    const r = chooseUpdate(ctx({ source: undefined, currentWriteServer: 1 }));
    assert.equal(r.server.id, '127.0.0.3');
    assert.equal(r.nextWriteServer, 0);
    assert.equal(errno(() => chooseUpdate(ctx({ writable: [] , source: replica }))), 'ENOENT');
  });
});
