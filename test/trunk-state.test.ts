import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StorePaths } from '../lib/storage/store-paths.ts';
import { TrunkAllocator } from '../lib/storage/trunk/allocator.ts';
import { formatTrunkLine, parseTrunkLine } from '../lib/storage/trunk/binlog-line.ts';
import { truncateTrunkBinlog } from '../lib/storage/trunk/binlog-truncate.ts';
import { TrunkBinlog } from '../lib/storage/trunk/binlog-writer.ts';
import { compressTrunkBinlog, repairCompression, STAGE } from '../lib/storage/trunk/compress.ts';
import { memoryFlagStore } from '../lib/storage/trunk/flag-store.ts';
import { nextGridTime } from '../lib/storage/trunk/grid-task.ts';
import { loadAllocator } from '../lib/storage/trunk/loader.ts';
import { parseTrunkParameters } from '../lib/storage/trunk/parameters.ts';
import { saveTrunkSnapshot } from '../lib/storage/trunk/save.ts';
import { parseSnapshot, readSnapshot, snapshotPath, writeSnapshot } from '../lib/storage/trunk/snapshot.ts';
import { ensureTrunkFile, trunkFileName, trunkFilePath } from '../lib/storage/trunk/trunk-file.ts';
import { trunkIdB64 } from '../lib/storage/trunk/trunk-file-ids.ts';
import { decodeTrunkInfo, encodeTrunkInfo } from '../lib/storage/trunk/trunk-info.ts';
import type { TrunkSlot } from '../lib/storage/trunk/types.ts';
import { silentLogger } from '../lib/util/log.ts';

// Trunk binlog, snapshot, loading, compression (PROTOCOL.md §11.3, §11.6, §11.7, §11.10).

const MB = 1024 * 1024;
const slot = (offset: number, size: number, trunkId = 1): TrunkSlot => ({ storePathIndex: 0, subPathHigh: 1, subPathLow: 2, trunkId, offset, size });

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-trunk-'));
}

async function setup() {
  const base = tmp();
  const dataDir = path.join(base, 'data');
  const store = path.join(base, 'store0');
  fs.mkdirSync(store);
  const storePaths = new StorePaths({ paths: [{ path: store, readonly: false }], subdirCount: 4 });
  await storePaths.init();
  const binlog = new TrunkBinlog(dataDir);
  await binlog.open();
  const params = { slotMinSize: 256, trunkFileSize: 4 * MB, allocAlignmentSize: 0, initCheckOccupying: false, initReloadFromBinlog: false, freeSpaceMerge: false, deleteUnusedTrunkFiles: false };
  let id = 0;
  const newAllocator = (p = params, record = true) => new TrunkAllocator({
    params: p, storePathCount: 1,
    record: record ? (op, s) => binlog.append(formatTrunkLine(1700000000, op, s)) : undefined,
    newTrunkFile: async (sp) => {
      const ref = { storePathIndex: sp, subPathHigh: 0, subPathLow: 0, trunkId: ++id };
      await ensureTrunkFile(trunkFilePath(storePaths, ref), p.trunkFileSize);
      return ref;
    },
  });
  const freeSet = (a: TrunkAllocator) => a.blocks().map((b) => `${b.trunkId}:${b.offset}+${b.size}`).sort();
  return { base, dataDir, storePaths, binlog, params, newAllocator, freeSet, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

describe('trunk binlog line codec', () => {
  test('format and parse a record; short lines are skipped; the 6-field snapshot form', () => {
    const line = formatTrunkLine(1700000000, 'A', slot(4096, 512));
    assert.equal(line, '1700000000 A 0 1 2 1 4096 512\n');
    assert.deepEqual(parseTrunkLine(line.trim()), { timestamp: 1700000000, op: 'A', slot: slot(4096, 512) });
    assert.equal(parseTrunkLine('1700000000 A 0 1 2 1 4096'), null);
    assert.equal(parseTrunkLine('1700000000 X 0 1 2 1 4096 5'), null);
    assert.equal(parseTrunkLine('0 1 2 1 4096 512'), null);
    assert.deepEqual(parseTrunkLine('0 1 2 1 4096 512', true)?.slot, slot(4096, 512));
  });

  test('15-byte trunk info of 27–29', () => {
    const s = { storePathIndex: 1, subPathHigh: 0xab, subPathLow: 3, trunkId: 7, offset: 65536, size: 1024 };
    const b = encodeTrunkInfo(s);
    assert.equal(b.toString('hex'), '01ab03' + '00000007' + '00010000' + '00000400');
    assert.deepEqual(decodeTrunkInfo(b), s);
  });

  test('75 parameters: off unless use_trunk_file; sizes with units', () => {
    assert.equal(parseTrunkParameters(new Map([['use_trunk_file', '0']])), undefined);
    const p = parseTrunkParameters(new Map([['use_trunk_file', '1'], ['slot_min_size', '512'], ['slot_max_size', '1MB'], ['trunk_file_size', '64MB'],
      ['trunk_create_file_time_base', '02:30'], ['trunk_init_reload_from_binlog', '1']]))!;
    assert.equal(p.slotMinSize, 512);
    assert.equal(p.slotMaxSize, MB);
    assert.equal(p.trunkFileSize, 64 * MB);
    assert.deepEqual(p.createFileTimeBase, { hour: 2, minute: 30 });
    assert.equal(p.initReloadFromBinlog, true);
  });

  test('trunk file names and the grid of scheduled tasks', () => {
    assert.equal(trunkFileName(1), '000001');
    assert.equal(trunkFileName(12345678), '12345678');
    assert.equal(trunkIdB64(1), 'AAAAAQ');
    const now = new Date(2026, 0, 1, 3, 10, 0).getTime();
    assert.equal(nextGridTime({ hour: 2, minute: 0 }, 3600, now), new Date(2026, 0, 1, 4, 0, 0).getTime());
    assert.equal(nextGridTime({ hour: 5, minute: 0 }, 86400, now), new Date(2026, 0, 1, 5, 0, 0).getTime());
  });
});

describe('trunk files', () => {
  test('created sparse at full size, extended when short and old, never shrunk', async () => {
    const dir = tmp();
    const f = path.join(dir, '000001');
    assert.equal(await ensureTrunkFile(f, 4 * MB), 'created');
    assert.equal(fs.statSync(f).size, 4 * MB);
    assert.equal(await ensureTrunkFile(f, 4 * MB), 'exists');
    fs.truncateSync(f, 100);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(f, old, old);
    assert.equal(await ensureTrunkFile(f, 4 * MB), 'extended');
    assert.equal(fs.statSync(f).size, 4 * MB);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('trunk binlog, snapshot and loading', () => {
  test('the writer buffers and flushes; truncation with and without backups', async () => {
    const t = await setup();
    t.binlog.append('1 A 0 0 0 1 0 100\n');
    assert.equal(t.binlog.size, 18);
    assert.equal(t.binlog.flushedSize, 0);
    await t.binlog.flush();
    assert.equal(fs.readFileSync(t.binlog.file, 'latin1'), '1 A 0 0 0 1 0 100\n');
    fs.writeFileSync(snapshotPath(t.dataDir), '0\n');
    await truncateTrunkBinlog(t.binlog, snapshotPath(t.dataDir), 0);
    assert.equal(fs.statSync(t.binlog.file).size, 0);
    assert.equal(fs.existsSync(snapshotPath(t.dataDir)), false);
    t.binlog.append('2 A 0 0 0 1 0 100\n');
    await truncateTrunkBinlog(t.binlog, snapshotPath(t.dataDir), 2, new Date(2026, 0, 1, 0, 0, 0));
    await truncateTrunkBinlog(t.binlog, snapshotPath(t.dataDir), 2, new Date(2026, 0, 1, 0, 0, 5));
    await truncateTrunkBinlog(t.binlog, snapshotPath(t.dataDir), 2, new Date(2026, 0, 1, 0, 0, 9));
    const backups = fs.readdirSync(t.binlog.dir).filter((n) => n.startsWith('binlog.')).sort();
    assert.deepEqual(backups, ['binlog.20260101000005', 'binlog.20260101000009'], 'max − 1 old ones plus the new one');
    await t.binlog.close();
    t.cleanup();
  });

  test('snapshot format: line 1 = binlog offset, A lines; the old 6-field form loads', async () => {
    const dir = tmp();
    const f = path.join(dir, 'storage_trunk.dat');
    await writeSnapshot(f, 123, [slot(0, 1000), slot(1000, 512)], 1700000000);
    assert.equal(fs.readFileSync(f, 'latin1'), '123\n1700000000 A 0 1 2 1 0 1000\n1700000000 A 0 1 2 1 1000 512\n');
    assert.deepEqual(fs.readdirSync(dir), ['storage_trunk.dat'], 'no temp file left');
    const s = parseSnapshot('9\n0 1 2 1 0 1000\nbad line\n');
    assert.equal(s.binlogOffset, 9);
    assert.deepEqual(s.blocks, [slot(0, 1000)]);
    assert.equal(s.skipped, 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('snapshot + binlog tail, full replay and trunk_init_reload_from_binlog give the same free set', async () => {
    const t = await setup();
    const a = t.newAllocator();
    const slots: TrunkSlot[] = [];
    for (let i = 0; i < 20; i++) slots.push(await a.alloc(1000 + i * 10, 0));
    for (const s of slots.slice(0, 15)) a.confirm(s, 0);
    a.confirm(slots[15]!, 5); // failed upload: free again
    for (const s of slots.slice(0, 5)) a.free(s);
    // Snapshot in the middle, then more activity after it.
    await saveTrunkSnapshot({ allocator: a, params: t.params, binlog: t.binlog, snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger });
    const more = await a.alloc(3000, 0);
    a.confirm(more, 0);
    a.free(slots[7]!);
    await t.binlog.flush();
    // Unconfirmed (held) blocks count as free after a reload (§11.7).
    const expected = t.freeSet(a);

    const load = async (reload: boolean) => {
      const b = t.newAllocator(t.params, false);
      const r = await loadAllocator({ allocator: b, params: { ...t.params, initReloadFromBinlog: reload }, binlogFile: t.binlog.file,
        snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger });
      return { r, set: t.freeSet(b) };
    };
    const fromSnapshot = await load(false);
    assert.equal(fromSnapshot.r.mode, 'snapshot');
    assert.ok(fromSnapshot.r.replayed > 0);
    assert.deepEqual(fromSnapshot.set, expected);
    const full = await load(true);
    assert.equal(full.r.mode, 'full');
    assert.deepEqual(full.set, expected);
    assert.equal(fs.existsSync(snapshotPath(t.dataDir)), false, 'reload_from_binlog deletes the snapshot');
    await t.binlog.close();
    t.cleanup();
  });

  test('trunk_init_check_occupying skips snapshot blocks whose slot header is in use', async () => {
    const t = await setup();
    const a = t.newAllocator();
    const s = await a.alloc(1000, 0);
    a.confirm(s, 0);
    a.free(s); // free in the allocator, but someone wrote a header there
    await saveTrunkSnapshot({ allocator: a, params: t.params, binlog: t.binlog, snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger });
    const fd = fs.openSync(trunkFilePath(t.storePaths, s), 'r+');
    fs.writeSync(fd, Buffer.from([0x46, 0, 0, 3, 0xe8, 0, 0, 0, 5, 0, 0, 0, 1]), 0, 13, s.offset);
    fs.closeSync(fd);
    const b = t.newAllocator(t.params, false);
    await loadAllocator({ allocator: b, params: { ...t.params, initCheckOccupying: true }, binlogFile: t.binlog.file,
      snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger });
    assert.equal(b.find(s), undefined);
    assert.equal(b.blockCount, a.blockCount - 1);
    await t.binlog.close();
    t.cleanup();
  });

  test('a store path index out of range makes loading fail', async () => {
    const t = await setup();
    t.binlog.append('1 A 3 0 0 1 0 4194304\n');
    await t.binlog.flush();
    await assert.rejects(loadAllocator({ allocator: t.newAllocator(t.params, false), params: t.params, binlogFile: t.binlog.file,
      snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger }), { code: 'EINVAL' });
    await t.binlog.close();
    t.cleanup();
  });

  test('merging with delete_unused_trunk_files deletes a wholly free trunk file', async () => {
    const t = await setup();
    const p = { ...t.params, freeSpaceMerge: true, deleteUnusedTrunkFiles: true };
    const a = t.newAllocator(p);
    const s1 = await a.alloc(1000, 0);
    a.confirm(s1, 0);
    a.free(s1);
    const file = trunkFilePath(t.storePaths, s1);
    assert.equal(fs.existsSync(file), true);
    await saveTrunkSnapshot({ allocator: a, params: p, binlog: t.binlog, snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger });
    assert.equal(fs.existsSync(file), false);
    assert.equal(a.blockCount, 0);
    assert.deepEqual((await readSnapshot(snapshotPath(t.dataDir)))!.blocks, []);
    await t.binlog.close();
    t.cleanup();
  });
});

describe('trunk binlog compression', () => {
  test('a compression leaves one A line per free block, then the new records; marks deleted', async () => {
    const t = await setup();
    const a = t.newAllocator({ ...t.params });
    const s = await a.alloc(1000, 0);
    a.confirm(s, 0);
    await t.binlog.flush();
    fs.writeFileSync(path.join(t.binlog.dir, 'peer.mark'), 'binlog_offset=10\n');
    const flags = memoryFlagStore();
    const expected = t.freeSet(a);
    await compressTrunkBinlog({ dataDir: t.dataDir, binlog: t.binlog, flags, log: silentLogger,
      saveSnapshot: () => saveTrunkSnapshot({ allocator: a, params: t.params, binlog: t.binlog, snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger }) });
    assert.equal(flags.flag.trunk_binlog_compress_stage, STAGE.FINISHED);
    assert.ok(flags.flag.trunk_last_compress_time > 0);
    const lines = fs.readFileSync(t.binlog.file, 'latin1').trim().split('\n');
    assert.equal(lines.length, a.blockCount);
    assert.ok(lines.every((l) => / A /.test(l)));
    assert.deepEqual(fs.readdirSync(t.binlog.dir).sort(), ['binlog']);
    assert.equal(fs.existsSync(snapshotPath(t.dataDir)), false);
    const b = t.newAllocator(t.params, false);
    await loadAllocator({ allocator: b, params: t.params, binlogFile: t.binlog.file, snapshotFile: snapshotPath(t.dataDir), storePaths: t.storePaths, log: silentLogger });
    assert.deepEqual(t.freeSet(b), expected);
    await t.binlog.close();
    t.cleanup();
  });

  test('start-up repair: stages 1–4 roll back to the old binlog plus what came after; 5 finishes', async () => {
    for (const stage of [STAGE.APPLY_DONE, STAGE.SAVE_DONE, STAGE.ROLLBACK_MERGE_DONE]) {
      const t = await setup();
      // State as a crash after stage 2 leaves it: binlog.rollback = old log, new binlog = records since.
      fs.writeFileSync(path.join(t.binlog.dir, 'binlog.rollback'), '1 A 0 0 0 1 0 4194304\n');
      await t.binlog.whileClosed(async () => { fs.writeFileSync(t.binlog.file, '2 D 0 0 0 1 0 4194304\n'); });
      fs.writeFileSync(`${snapshotPath(t.dataDir)}.rollback`, '5\n1 A 0 0 0 1 0 4194304\n');
      const flags = memoryFlagStore({ trunk_binlog_compress_stage: stage });
      assert.equal(await repairCompression({ dataDir: t.dataDir, binlog: t.binlog, flags, log: silentLogger }), 'rolled-back');
      const expectBinlog = stage === STAGE.ROLLBACK_MERGE_DONE ? '2 D 0 0 0 1 0 4194304\n' : '1 A 0 0 0 1 0 4194304\n2 D 0 0 0 1 0 4194304\n';
      assert.equal(fs.readFileSync(t.binlog.file, 'latin1'), expectBinlog, `stage ${stage}`);
      assert.equal(fs.readFileSync(snapshotPath(t.dataDir), 'latin1'), '5\n1 A 0 0 0 1 0 4194304\n');
      assert.equal(fs.existsSync(path.join(t.binlog.dir, 'binlog.rollback')), false);
      assert.equal(flags.flag.trunk_binlog_compress_stage, STAGE.FINISHED);
      // Appends after the repair land in the reopened binlog.
      t.binlog.append('3 A 0 0 0 1 0 4194304\n');
      await t.binlog.flush();
      assert.ok(fs.readFileSync(t.binlog.file, 'latin1').endsWith('3 A 0 0 0 1 0 4194304\n'));
      await t.binlog.close();
      t.cleanup();
    }
    const t = await setup();
    fs.writeFileSync(path.join(t.binlog.dir, 'binlog.rollback'), 'old\n');
    fs.writeFileSync(path.join(t.binlog.dir, 'x.mark'), 'binlog_offset=1\n');
    fs.writeFileSync(snapshotPath(t.dataDir), '0\n');
    const flags = memoryFlagStore({ trunk_binlog_compress_stage: STAGE.COMMIT_MERGE_DONE });
    assert.equal(await repairCompression({ dataDir: t.dataDir, binlog: t.binlog, flags, log: silentLogger }), 'finished');
    assert.deepEqual(fs.readdirSync(t.binlog.dir), ['binlog']);
    assert.equal(fs.existsSync(snapshotPath(t.dataDir)), false);
    assert.equal(flags.flag.trunk_binlog_compress_stage, STAGE.FINISHED);
    await t.binlog.close();
    t.cleanup();
  });
});
