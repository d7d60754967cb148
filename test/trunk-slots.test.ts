import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buffer as streamToBuffer } from 'node:stream/consumers';
import { crc32 } from '../lib/protocol/crc32.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import {
  TRUNK_LOGIC_LEN, buildLogicName, decodeFileName, isTrunkLogicName, makeSizeField, slaveFileName,
} from '../lib/protocol/filename.ts';
import { StorePaths } from '../lib/storage/store-paths.ts';
import { ensureTrunkFile, trunkFilePath } from '../lib/storage/trunk/trunk-file.ts';
import {
  SLOT_TYPE_FILE, SLOT_TYPE_LINK, checkSlotHeader, decodeSlotHeader, encodeSlotHeader, isSlotUnused,
} from '../lib/storage/trunk/slot-header.ts';
import {
  checkSlotSync, readSlotHeaderSync, slotReadStream, writeContentStream, writeContentSync, writeHeaderSync, zeroSlot,
} from '../lib/storage/trunk/slot-io.ts';
import { buildTrunkName, parseTrunkName } from '../lib/storage/trunk/trunk-name.ts';
import { TrunkSlots } from '../lib/storage/trunk/trunk-slots.ts';
import type { TrunkSlot } from '../lib/storage/trunk/types.ts';

// The trunk data path's pieces (PROTOCOL.md §6.1, §6.3, §11.2–§11.4, §11.11), with the bytes of the
// §6.8 worked example turned into a trunk-stored file: same source 192.168.1.10, timestamp
// 1700000000, size 12345, CRC 0xAF083B2D, R = 0x80123456, EXT7 `042.jpg`.

const EX = {
  ip: '192.168.1.10',
  timestamp: 1700000000,
  size: 12345,
  crc: 0xaf083b2d,
  rand23: 0x123456,
  ext7: '042.jpg',
};
// §6.3: trunk size field = (R << 32) | size | 2^59 ⇒ 0x8812345600003039.
const TRUNK_HEADER_BYTES = 'C0A8010A' + '6553F100' + '8812345600003039' + 'AF083B2D';
// Trunk id 7, offset 65536, slot 12378 = 0x305A (≥ 12345 + 24: slots may be larger than asked, §11.8).
const SLOT: TrunkSlot = { storePathIndex: 0, subPathHigh: 0, subPathLow: 0, trunkId: 7, offset: 65536, size: 12378 };
const LOC_BYTES = '00000007' + '00010000' + '0000305A';
const NAME = 'M00/00/00/wKgBCmVT8QCIEjRWAAAwOa8IOy0' + 'AAAABwABAAAAADBa' + '042.jpg';

test('§6.3/§6.1: the header and location bytes of a trunk name', () => {
  assert.equal(makeSizeField('trunk', EX.size, EX.rand23), 0x8812345600003039n);
  assert.equal(Buffer.from(TRUNK_HEADER_BYTES, 'hex').toString('base64url'), 'wKgBCmVT8QCIEjRWAAAwOa8IOy0');
  assert.equal(Buffer.from(LOC_BYTES, 'hex').toString('base64url'), 'AAAABwABAAAAADBa');
  assert.equal(NAME.length, TRUNK_LOGIC_LEN);
});

test('§11.2 step 5: buildTrunkName puts start time, size + trunk flag, location and EXT7 in 60 chars', () => {
  const name = buildTrunkName({
    source: { ip: EX.ip }, slot: SLOT, fileSize: EX.size, crc32: EX.crc, timestamp: EX.timestamp, ext7: EX.ext7, rand23: EX.rand23,
  });
  assert.equal(name, NAME);
  // HH/HH come from the slot's trunk file, the store path from the slot.
  const other = buildTrunkName({
    source: { id: 100001 }, slot: { ...SLOT, storePathIndex: 1, subPathHigh: 0x0a, subPathLow: 0xb0 },
    fileSize: EX.size, crc32: EX.crc, timestamp: EX.timestamp, ext7: EX.ext7, rand23: EX.rand23,
  });
  // §6.8 variant: server id 100001 ⇒ first bytes A1 86 01 00.
  assert.equal(other, 'M01/0A/B0/oYYBAGVT8QCIEjRWAAAwOa8IOy0AAAABwABAAAAADBa042.jpg');
  assert.throws(() => buildTrunkName({
    source: { ip: EX.ip }, slot: { ...SLOT, size: EX.size + 23 }, fileSize: EX.size, crc32: EX.crc, timestamp: EX.timestamp, ext7: EX.ext7, rand23: 0,
  }), (e: unknown) => e instanceof FdfsError && e.code === 'EINVAL');
});

test('§11.11: parseTrunkName finds the slot and the header the name implies', () => {
  const t = parseTrunkName(NAME)!;
  assert.deepEqual(t.slot, SLOT);
  assert.equal(t.fileSize, EX.size);
  assert.equal(t.slotSize, 12378);
  assert.equal(t.crc32, EX.crc);
  assert.equal(t.timestamp, EX.timestamp);
  assert.equal(t.ext7, EX.ext7);
  assert.deepEqual(t.source, { ip: EX.ip });
  assert.equal(isTrunkLogicName(NAME), true);
  assert.equal(decodeFileName(NAME)!.size, EX.size);
});

test('only 60-char trunk-flagged names are trunk names: normal, slave of a trunk master, metadata are not', () => {
  const normal = 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg'; // §6.8
  assert.equal(parseTrunkName(normal), null);
  assert.equal(isTrunkLogicName(normal), false);
  const slave = slaveFileName(NAME, '_150x150', 'jpg');
  assert.equal(slave, 'M00/00/00/wKgBCmVT8QCIEjRWAAAwOa8IOy0AAAABwABAAAAADBa042_150x150.jpg');
  assert.equal(parseTrunkName(slave), null);
  assert.equal(parseTrunkName(`${NAME}-m`), null);
  // 60 chars without bit 59 is a slave (§3.8).
  assert.equal(parseTrunkName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0AAAABwABAAAAADBa042.jpg'), null);
  assert.equal(parseTrunkName('M00/00/00/short'), null);
});

test('buildLogicName refuses a trunk location without the trunk flag', () => {
  assert.throws(() => buildLogicName({
    storePathIndex: 0, high: 0, low: 0, ext7: EX.ext7,
    header: { source: { ip: EX.ip }, timestamp: EX.timestamp, sizeField: makeSizeField('normal', EX.size, EX.rand23), crc32: EX.crc },
    trunk: { id: 7, offset: 65536, slotSize: 12378 },
  }), (e: unknown) => e instanceof FdfsError && e.code === 'EINVAL');
});

// ---- §11.4 the 24-byte slot header ---------------------------------------------------------------

const HEADER_HEX = '46' + '0000305A' + '00003039' + 'AF083B2D' + '6553F100' + Buffer.from('042.jpg').toString('hex');

test('§11.4: slot header bytes (type, alloc_size, file_size, crc32, mtime, EXT7; big-endian)', () => {
  const h = { type: SLOT_TYPE_FILE, allocSize: 12378, fileSize: EX.size, crc32: EX.crc, mtime: EX.timestamp, ext7: EX.ext7 };
  const bytes = encodeSlotHeader(h);
  assert.equal(bytes.toString('hex').toUpperCase(), HEADER_HEX.toUpperCase());
  assert.equal(bytes.length, 24);
  assert.deepEqual(decodeSlotHeader(bytes), h);
  assert.throws(() => encodeSlotHeader({ ...h, ext7: 'jpg' }), (e: unknown) => e instanceof FdfsError && e.code === 'EINVAL');
});

test('§11.4 unused test: only bytes 9–23 count', () => {
  const zero = Buffer.alloc(24);
  assert.equal(isSlotUnused(zero), true);
  const firstNine = Buffer.from(HEADER_HEX, 'hex');
  firstNine.fill(0, 9);
  assert.equal(isSlotUnused(firstNine), true, 'type, alloc_size and file_size are ignored');
  for (const i of [9, 16, 23]) {
    const b = Buffer.alloc(24);
    b[i] = 1;
    assert.equal(isSlotUnused(b), false, `byte ${i}`);
  }
});

test('§11.4 read check: all 24 bytes must be what the name implies, type F or L', () => {
  const t = parseTrunkName(NAME)!;
  const disk = Buffer.from(HEADER_HEX, 'hex');
  assert.equal(checkSlotHeader(disk, t), SLOT_TYPE_FILE);
  const link = Buffer.from(disk);
  link[0] = SLOT_TYPE_LINK;
  assert.equal(checkSlotHeader(link, t), SLOT_TYPE_LINK);
  for (const [i, v] of [[0, 0], [0, 0x41], [4, 0x5b], [8, 0x3a], [12, 0], [16, 1], [23, 0x4a]] as const) {
    const b = Buffer.from(disk);
    b[i] = v;
    assert.equal(checkSlotHeader(b, t), null, `byte ${i} = ${v}`);
  }
  assert.equal(checkSlotHeader(disk.subarray(0, 20), t), null);
});

// ---- slots on disk ---------------------------------------------------------------------------------

async function tempStore(t: { after(fn: () => Promise<void>): void }): Promise<StorePaths> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fdfs-trunk-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const paths = new StorePaths({ paths: [{ path: dir, readonly: false }], subdirCount: 2 });
  await paths.init();
  return paths;
}

const TRUNK_SIZE = 4 * 1024 * 1024;

async function* chunks(...parts: Buffer[]): AsyncIterable<Buffer> {
  for (const p of parts) yield p;
}

test('§11.3: the trunk file is <store>/data/HH/HH/<6-digit id>, created sparse at full size, extended when short and old', async (t) => {
  const paths = await tempStore(t);
  const file = trunkFilePath(paths, SLOT);
  assert.equal(file, path.join(paths.specs[0]!.path, 'data', '00', '00', '000007'));
  assert.equal(path.basename(trunkFilePath(paths, { ...SLOT, trunkId: 12345678 })), '12345678');
  await ensureTrunkFile(file, TRUNK_SIZE);
  const st = await fs.stat(file);
  assert.equal(st.size, TRUNK_SIZE);
  assert.ok(st.blocks * 512 < TRUNK_SIZE, 'sparse');
  await fs.truncate(file, 1000);
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(file, old, old);
  await ensureTrunkFile(file, TRUNK_SIZE);
  assert.equal((await fs.stat(file)).size, TRUNK_SIZE);
  // A larger file (another trunk_file_size) is left alone.
  await ensureTrunkFile(file, 1024);
  assert.equal((await fs.stat(file)).size, TRUNK_SIZE);
});

test('§11.3: a short trunk file modified just now is waited for until its creator extends it', async (t) => {
  const paths = await tempStore(t);
  const file = trunkFilePath(paths, SLOT);
  await fs.writeFile(file, Buffer.alloc(100));
  let extended = false;
  const creator = (async () => {
    // The other writer finishes its creation a little later.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await fs.truncate(file, TRUNK_SIZE + 4096);
    extended = true;
  })();
  await ensureTrunkFile(file, TRUNK_SIZE);
  await creator;
  assert.equal(extended, true);
  assert.equal((await fs.stat(file)).size, TRUNK_SIZE + 4096, 'not truncated back to trunk_file_size');
});

test('§11.2 step 3: content at offset + 24, then the header; read check, ranges, occupied slot, zeroing', async (t) => {
  const paths = await tempStore(t);
  const slots = new TrunkSlots(paths);
  const file = await slots.prepare(SLOT, TRUNK_SIZE);
  const content = Buffer.alloc(EX.size);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
  const name = parseTrunkName(buildTrunkName({
    source: { ip: EX.ip }, slot: SLOT, fileSize: content.length, crc32: crc32(content), timestamp: EX.timestamp, ext7: EX.ext7, rand23: 1,
  }))!;

  writeContentSync(file, SLOT, content, { checkUnused: true });
  assert.equal(slots.stat(name), null, 'no header yet: no file');
  assert.equal(isSlotUnused(readSlotHeaderSync(file, SLOT)), true);
  writeHeaderSync(file, SLOT, content.length, { crc32: crc32(content), mtime: EX.timestamp, ext7: EX.ext7 });
  assert.deepEqual(slots.stat(name), { type: SLOT_TYPE_FILE, size: EX.size, mtime: EX.timestamp, crc32: crc32(content) });

  const disk = await fs.readFile(file);
  assert.deepEqual(disk.subarray(SLOT.offset + 24, SLOT.offset + 24 + EX.size), content);
  assert.equal(disk.subarray(SLOT.offset, SLOT.offset + 24).toString('hex').toUpperCase(),
    ('46' + '0000305A' + '00003039' + crc32(content).toString(16).padStart(8, '0') + '6553F100').toUpperCase() + Buffer.from('042.jpg').toString('hex').toUpperCase());

  assert.deepEqual(await streamToBuffer(slotReadStream(file, SLOT, 100, 1000)), content.subarray(100, 1100));
  assert.deepEqual(await streamToBuffer(slotReadStream(file, SLOT, 0, 0)), Buffer.alloc(0));

  // §11.2 step 2: a used slot ⇒ EEXIST, content untouched.
  assert.throws(() => writeContentSync(file, SLOT, Buffer.from('other'), { checkUnused: true }),
    (e: unknown) => e instanceof FdfsError && e.code === 'EEXIST');
  await assert.rejects(writeContentStream(file, SLOT, 5, chunks(Buffer.from('other')), { checkUnused: true }),
    (e: unknown) => e instanceof FdfsError && e.code === 'EEXIST');
  assert.ok(slots.stat(name));

  // A name that differs in one header field finds nothing.
  assert.equal(slots.stat({ ...name, timestamp: name.timestamp + 1 }), null);
  assert.equal(slots.stat({ ...name, slot: { ...name.slot, trunkId: 8 } }), null, 'missing trunk file');
  assert.equal(slots.stat({ ...name, slot: { ...name.slot, offset: TRUNK_SIZE } }), null, 'slot past the end');

  // §11.4: a deleted slot is zeroed over its whole size, header included.
  assert.equal(await slots.remove(name), true);
  assert.equal(await slots.remove(name), false);
  const after = await fs.readFile(file);
  assert.ok(after.subarray(SLOT.offset, SLOT.offset + SLOT.size).every((b) => b === 0));
  writeContentSync(file, SLOT, Buffer.from('reused'), { checkUnused: true });
});

test('§11.2 step 4: a streamed content that stops part-way leaves a zeroed slot', async (t) => {
  const paths = await tempStore(t);
  const slots = new TrunkSlots(paths);
  const file = await slots.prepare(SLOT, TRUNK_SIZE);
  async function* cut(): AsyncIterable<Buffer> {
    yield Buffer.alloc(4000, 0x61);
    throw new FdfsError('ENOTCONN', 'client went away');
  }
  await assert.rejects(writeContentStream(file, SLOT, 8000, cut(), { checkUnused: true }),
    (e: unknown) => e instanceof FdfsError && e.code === 'ENOTCONN');
  const disk = await fs.readFile(file);
  assert.ok(disk.subarray(SLOT.offset, SLOT.offset + SLOT.size).every((b) => b === 0));
  await assert.rejects(writeContentStream(file, SLOT, 8000, chunks(Buffer.alloc(10)), { checkUnused: true }),
    (e: unknown) => e instanceof FdfsError && e.code === 'EINVAL');
  const crc = await writeContentStream(file, SLOT, 8000, chunks(Buffer.alloc(5000, 1), Buffer.alloc(3000, 2)), { checkUnused: true });
  assert.equal(crc, crc32(Buffer.concat([Buffer.alloc(5000, 1), Buffer.alloc(3000, 2)])));
  assert.equal(checkSlotSync(file, SLOT, { slotSize: SLOT.size, fileSize: 8000, crc32: crc, timestamp: 1, ext7: EX.ext7 }), null);
});

test('§11.11 SYNC_CREATE_FILE: the replica gets content and header from the name, no unused check; SYNC_DELETE zeroes', async (t) => {
  const paths = await tempStore(t);
  const slots = new TrunkSlots(paths);
  const content = Buffer.from('hello world\n');
  const name = parseTrunkName(buildTrunkName({
    source: { ip: EX.ip }, slot: { ...SLOT, subPathHigh: 1, subPathLow: 1, size: 512 }, fileSize: content.length,
    crc32: crc32(content), timestamp: EX.timestamp, ext7: EX.ext7, rand23: 5,
  }))!;
  // The trunk file does not exist yet on this member: created at full size (§11.3).
  await slots.writeReplica(name, content, TRUNK_SIZE);
  const file = slots.fileOf(name.slot);
  assert.equal((await fs.stat(file)).size, TRUNK_SIZE);
  assert.equal(slots.stat(name)?.size, content.length);
  // Written again over itself (a resent record): no EEXIST.
  await slots.writeReplica(name, content, TRUNK_SIZE);
  assert.deepEqual(await streamToBuffer(slotReadStream(file, name.slot, 0, content.length)), content);
  await assert.rejects(slots.writeReplica(name, Buffer.from('short'), TRUNK_SIZE), (e: unknown) => e instanceof FdfsError && e.code === 'EINVAL');
  assert.equal(await slots.remove(name), true);
  assert.equal(slots.stat(name), null);
  await zeroSlot(file, name.slot);
});
