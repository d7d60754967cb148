import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TrunkAllocator } from '../lib/storage/trunk/allocator.ts';
import type { TrunkOp } from '../lib/storage/trunk/binlog-line.ts';
import type { TrunkSlot } from '../lib/storage/trunk/types.ts';

// The trunk server's allocator (PROTOCOL.md §11.8) with the binlog records it emits (§11.7).

const MB = 1024 * 1024;

function make(opts: { slotMinSize?: number; align?: number; paths?: number } = {}) {
  const records: string[] = [];
  let nextId = 0;
  const a = new TrunkAllocator({
    params: { slotMinSize: opts.slotMinSize ?? 256, trunkFileSize: 4 * MB, allocAlignmentSize: opts.align ?? 0 },
    storePathCount: opts.paths ?? 1,
    record: (op: TrunkOp, s: TrunkSlot) => records.push(`${op} ${s.storePathIndex} ${s.trunkId} ${s.offset} ${s.size}`),
    newTrunkFile: async (p) => ({ storePathIndex: p, subPathHigh: 0, subPathLow: 0, trunkId: ++nextId }),
  });
  return { a, records };
}

describe('trunk allocator', () => {
  test('first allocation creates a trunk file and splits it; records as §11.7 lists them', async () => {
    const { a, records } = make();
    const s = await a.alloc(1024, 0);
    assert.deepEqual(s, { storePathIndex: 0, subPathHigh: 0, subPathLow: 0, trunkId: 1, offset: 0, size: 1024 });
    assert.deepEqual(records, [`A 0 1 0 ${4 * MB}`, `D 0 1 0 ${4 * MB}`, `A 0 1 1024 ${4 * MB - 1024}`, 'A 0 1 0 1024']);
    // Free space counts the held block (§11.5: free + held).
    assert.equal(a.totalFreeBytes, 4 * MB);
    const s2 = await a.alloc(100, 0);
    assert.equal(s2.offset, 1024);
    assert.equal(s2.size, 256, 'a request below slot_min_size gets slot_min_size');
  });

  test('alignment rounds the slot size up', async () => {
    const { a } = make({ slotMinSize: 512, align: 512 });
    assert.equal((await a.alloc(513, 0)).size, 1024);
    assert.equal((await a.alloc(1024, 0)).size, 1024);
    assert.equal((await a.alloc(10, 0)).size, 512);
    assert.equal(a.slotSizeFor(1025), 1536);
  });

  test('confirm 0 / EEXIST takes the held block out; another status frees it again; ENOENT otherwise', async () => {
    const { a, records } = make();
    const s = await a.alloc(1000, 0);
    records.length = 0;
    a.confirm(s, 0);
    assert.deepEqual(records, ['D 0 1 0 1000']);
    assert.equal(a.totalFreeBytes, 4 * MB - 1000);
    assert.throws(() => a.confirm(s, 0), { code: 'ENOENT' });

    const t = await a.alloc(1000, 0);
    records.length = 0;
    a.confirm(t, 5); // EIO: the upload failed, the slot is free again
    assert.deepEqual(records, []);
    const again = await a.alloc(1000, 0);
    assert.deepEqual(again, t, 'the freed slot is handed out again');
    a.confirm(again, 17);
    assert.throws(() => a.confirm({ ...again, size: 999 }, 0), { code: 'ENOENT' });
  });

  test('held blocks are passed over', async () => {
    const { a } = make();
    const h1 = await a.alloc(1000, 0);
    const h2 = await a.alloc(1000, 0);
    assert.notEqual(h1.offset, h2.offset);
    assert.equal(h2.offset, 1000);
  });

  test('free: reuse of the same size, overlap refused with EEXIST, small blocks forgotten', async () => {
    const { a, records } = make();
    const s = await a.alloc(2000, 0);
    a.confirm(s, 0);
    records.length = 0;
    a.free(s);
    assert.deepEqual(records, ['A 0 1 0 2000']);
    assert.throws(() => a.free(s), { code: 'EEXIST' });
    assert.throws(() => a.free({ ...s, offset: 1000, size: 1500 }), { code: 'EEXIST' }, 'overlaps the tail and the freed block');
    const before = a.totalFreeBytes;
    a.free({ ...s, trunkId: 9, size: 100 }); // < slot_min_size: accepted and forgotten
    assert.equal(a.totalFreeBytes, before);
    // The smallest fitting block is used: the 2000-byte one, not the big tail.
    const r = await a.alloc(1500, 0);
    assert.equal(r.offset, 0);
    assert.equal(r.size, 1500);
  });

  test('a block whose remainder is below slot_min_size is handed out whole', async () => {
    const { a } = make({ slotMinSize: 256 });
    const s = await a.alloc(1000, 0);
    a.confirm(s, 0);
    a.free(s);
    const r = await a.alloc(900, 0); // 1000 − 900 = 100 < 256
    assert.equal(r.size, 1000);
  });

  test('merge joins touching blocks of one trunk file, held ones too', async () => {
    const { a } = make();
    const s1 = await a.alloc(1000, 0);
    const s2 = await a.alloc(1000, 0);
    a.confirm(s1, 0);
    a.confirm(s2, 0);
    a.free(s1);
    a.free(s2);
    const held = await a.alloc(5000, 0);
    assert.ok(held.offset >= 2000);
    const merged = a.merge();
    assert.equal(merged.length, 1);
    assert.deepEqual(merged[0], { storePathIndex: 0, subPathHigh: 0, subPathLow: 0, trunkId: 1, offset: 0, size: 4 * MB });
    // The held block merged away: its 28 now gets ENOENT (§11.8, last sentence).
    assert.throws(() => a.confirm(held, 0), { code: 'ENOENT' });
  });

  test('separate store paths, concurrent allocations share one new trunk file', async () => {
    const { a } = make({ paths: 2 });
    const [x, y, z] = await Promise.all([a.alloc(1000, 1), a.alloc(1000, 1), a.alloc(1000, 0)]);
    assert.equal(x.trunkId, y.trunkId);
    assert.equal(x.storePathIndex, 1);
    assert.notEqual(x.offset, y.offset);
    assert.equal(z.storePathIndex, 0);
    assert.notEqual(z.trunkId, x.trunkId);
    await assert.rejects(a.alloc(10, 2), { code: 'EINVAL' });
    assert.throws(() => a.add({ storePathIndex: 5, subPathHigh: 0, subPathLow: 0, trunkId: 1, offset: 0, size: 10 }), { code: 'EINVAL' });
  });
});
