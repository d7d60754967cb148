import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from '../lib/protocol/crc32.ts';
import { ERRNO, FdfsError } from '../lib/protocol/errno.ts';
import { TRUNK_LOGIC_LEN, decodeFileName, parseLogicName } from '../lib/protocol/filename.ts';
import { SMALL_FILE, type ContentSource, type FileRef, type StorageEngine } from '../lib/storage/engine/engine.ts';
import { PlainEngine } from '../lib/storage/engine/plain-engine.ts';
import { TrunkEngine } from '../lib/storage/engine/trunk-engine.ts';
import { FileNameGenerator } from '../lib/storage/file-names.ts';
import { StorePaths } from '../lib/storage/store-paths.ts';
import { writeSlotSync } from '../lib/storage/trunk/slot-io.ts';
import { parseTrunkName } from '../lib/storage/trunk/trunk-name.ts';
import type { TrunkParameters } from '../lib/storage/trunk/types.ts';
import { MemorySlotAllocator } from './helpers/memory-slot-allocator.ts';
import { storageEngineConformance, type EngineFixture } from './helpers/storage-engine-conformance.ts';

// The trunk engine (PROTOCOL.md §11.2, §11.4, §11.11). First the shared engine conformance suite,
// wrapping a real plain engine, with trunk slots big enough that every packable content of the suite
// (empty to 3 × SMALL_FILE) goes into a slot; then the trunk specifics, with an in-memory allocator
// standing for the trunk server (27/28/29) and a recording fake for the plain engine.

const TRUNK_FILE_SIZE = 4 * 1024 * 1024;
const SLOT_MIN = 256;

function params(over: Partial<TrunkParameters> = {}): TrunkParameters {
  const t = { hour: 2, minute: 0 } as unknown as TrunkParameters['createFileTimeBase'];
  return {
    slotMinSize: SLOT_MIN, slotMaxSize: 1024 * 1024, trunkFileSize: TRUNK_FILE_SIZE, allocAlignmentSize: 0,
    freeSpaceMerge: false, deleteUnusedTrunkFiles: false, createFileAdvance: false, createFileTimeBase: t,
    createFileInterval: 86400, createFileSpaceThreshold: 0, initCheckOccupying: false, initReloadFromBinlog: false,
    compressBinlogMinInterval: 0, compressBinlogInterval: 0, compressBinlogTimeBase: t, binlogMaxBackups: 0,
    ...over,
  };
}


let conformanceAllocator: MemorySlotAllocator | null = null;

async function trunkFixture(): Promise<EngineFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fdfs-trunk-conf-'));
  const storePaths = new StorePaths({ paths: [{ path: dir, readonly: false }], subdirCount: 2 });
  await storePaths.init();
  const names = new FileNameGenerator({ subdirCount: 2, mode: 0, rotateCount: 1 });
  names.source = { ip: '127.0.0.9' };
  const plain = new PlainEngine({ storePaths, names });
  const allocator = new MemorySlotAllocator(TRUNK_FILE_SIZE, SLOT_MIN);
  conformanceAllocator = allocator;
  const engine = new TrunkEngine({
    plain, storePaths, trunk: () => params({ slotMaxSize: 1024 * 1024 }), allocator: () => allocator, source: () => names.source,
  });
  let n = 0;
  return {
    engine,
    storePathIndex: 0,
    ref(logicName) {
      const parsed = parseLogicName(logicName)!;
      return { logicName, parsed, path: storePaths.filePath(parsed.storePathIndex, parsed.high, parsed.low, parsed.base) };
    },
    // Content stored by name has a size the name cannot know in advance: plain names (the suite
    // then checks the pass-through); trunk-named replicas are tested below.
    freshName: () => names.makeName({ storePathIndex: 0, high: 1, low: 0, timestamp: 1_700_000_000 + ++n, size: n, crc32: n, ext: 'dat', kind: 'normal' }),
    close: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

storageEngineConformance('trunk files', trunkFixture);

test('the conformance suite above stored its packable contents in trunk slots', () => {
  const a = conformanceAllocator!;
  const asked = new Set(a.allocs.map((x) => x.size));
  for (const size of [0, 1000, SMALL_FILE, SMALL_FILE * 3 + 17]) assert.ok(asked.has(size + 24), `a slot for ${size} bytes`);
  assert.ok(a.confirms.filter((c) => c.status === 0).length >= 4);
  assert.ok(a.frees.length >= 1, 'a client remove gave a slot back');
});

/** Records what reaches the plain engine; answers as for a file it does not have. */
function fakePlain(calls: string[]): StorageEngine {
  const answers: Record<string, unknown> = { stat: null, remove: false, readLink: null, sweep: 3 };
  return new Proxy({ kind: 'plain' } as unknown as StorageEngine, {
    get(target, prop) {
      if (prop === 'kind') return 'plain';
      if (prop === 'then') return undefined;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        if (prop === 'receive') return Promise.resolve({ plainIncoming: true, args });
        if (prop === 'open' || prop === 'crc32') return Promise.reject(new FdfsError('ENOENT', 'no such file'));
        if (prop === 'claimName') return { name: 'plain-claim' };
        return Promise.resolve(prop in answers ? answers[String(prop)] : 'plain');
      };
    },
  });
}

/** A content source over a buffer, delivered in pieces of `piece` bytes (as a socket would). */
function sourceOf(buf: Buffer, piece = buf.length || 1): ContentSource & { consumed(): number } {
  let pos = 0;
  return {
    get remaining() { return buf.length - pos; },
    get buffered() { return Math.min(piece, buf.length - pos); },
    async read(n: number) {
      if (n > buf.length - pos) throw new FdfsError('EINVAL', 'short body');
      const b = buf.subarray(pos, pos + n);
      pos += n;
      return b;
    },
    async readSome(max: number) {
      const n = Math.min(max, piece, buf.length - pos);
      if (n === 0) throw new FdfsError('ENOTCONN', 'peer went away');
      const b = buf.subarray(pos, pos + n);
      pos += n;
      return b;
    },
    consumed: () => pos,
  };
}

function content(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

interface Member {
  engine: TrunkEngine;
  allocator: MemorySlotAllocator;
  paths: StorePaths;
  plainCalls: string[];
  trunk: TrunkParameters | undefined;
  ref(name: string): FileRef;
}

async function member(t: { after(fn: () => Promise<void>): void }, opts: { allocator?: boolean; trunk?: TrunkParameters | undefined } = {}): Promise<Member> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fdfs-trunk-engine-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const paths = new StorePaths({ paths: [{ path: dir, readonly: false }], subdirCount: 4 });
  await paths.init();
  const allocator = new MemorySlotAllocator(TRUNK_FILE_SIZE, SLOT_MIN);
  const plainCalls: string[] = [];
  const m: Member = {
    allocator, paths, plainCalls, trunk: 'trunk' in opts ? opts.trunk : params(),
    engine: undefined as unknown as TrunkEngine,
    ref(name: string): FileRef {
      const parsed = parseLogicName(name)!;
      return { logicName: name, parsed, path: paths.filePath(parsed.storePathIndex, parsed.high, parsed.low, parsed.base) };
    },
  };
  m.engine = new TrunkEngine({
    plain: fakePlain(plainCalls),
    storePaths: paths,
    trunk: () => m.trunk,
    allocator: () => (opts.allocator === false ? undefined : allocator),
    source: () => ({ ip: '192.168.1.10' }),
    random: { rand23: () => 0x123456, digit: () => '4' },
  });
  return m;
}

async function upload(m: Member, body: Buffer, ext = 'jpg', startTime = 1700000000, piece?: number): Promise<string> {
  const incoming = await m.engine.receive(sourceOf(body, piece), { to: 'new', storePathIndex: 0, startTime, packable: true }, { size: body.length });
  return (await incoming.commit({ kind: 'normal', ext })).name;
}

async function readAll(m: Member, name: string, position = 0, length?: number): Promise<Buffer> {
  const reader = await m.engine.open(m.ref(name));
  const parts: Buffer[] = [];
  for await (const c of reader.stream(position, length ?? reader.size - position)) parts.push(c);
  return Buffer.concat(parts);
}

function isErr(code: string) {
  return (e: unknown) => e instanceof FdfsError && e.code === code;
}

test('§11.2: a small upload goes into a slot, named from its location; read back, stat, crc', async (t) => {
  const m = await member(t);
  const body = content(12345);
  const name = await upload(m, body);
  assert.equal(name.length, TRUNK_LOGIC_LEN);
  const d = decodeFileName(name)!;
  assert.equal(d.isTrunk, true);
  assert.equal(d.timestamp, 1700000000, 'timestamp = upload start (§11.2 step 5)');
  assert.equal(d.size, 12345);
  assert.equal(d.crc32, crc32(body));
  assert.equal(name.slice(0, 10), 'M00/01/01/', 'HH/HH = the trunk file directory');
  assert.equal(name.slice(-7), '444.jpg', 'EXT7 as for normal names (§6.5)');
  assert.deepEqual(d.trunk, { id: 1, offset: 0, slotSize: 12345 + 24 });
  assert.deepEqual(m.allocator.confirms.map((c) => c.status), [0]);
  assert.deepEqual(m.plainCalls, []);

  assert.deepEqual(await m.engine.stat(m.ref(name)), { type: 'file', size: 12345, mtime: 1700000000 });
  assert.deepEqual(await readAll(m, name), body);
  assert.deepEqual(await readAll(m, name, 1000, 2345), body.subarray(1000, 3345));
  const reader = await m.engine.open(m.ref(name));
  const into = Buffer.alloc(110);
  reader.readSync(into, 10, 12245, 100);
  assert.deepEqual(into.subarray(10), body.subarray(12245));
  assert.throws(() => reader.readSync(into, 0, 12300, 100), isErr('EIO'));
  reader.close();
  assert.equal(await m.engine.crc32(m.ref(name)), crc32(body));

  // The trunk file holds header + content at the slot; the name's `-m` file would sit beside the name's path.
  const trunkFile = path.join(m.paths.subdir(0, 1, 1), '000001');
  assert.equal((await fs.stat(trunkFile)).size, TRUNK_FILE_SIZE);
  const disk = await fs.readFile(trunkFile);
  assert.equal(disk[0], 0x46);
  assert.deepEqual(disk.subarray(24, 24 + 12345), body);
});

test('§11.2: S + 24 ≤ slot_max_size decides; empty files too; appenders, unpackable and trunk-off go to the plain engine', async (t) => {
  const m = await member(t, { trunk: params({ slotMaxSize: 64 * 1024 }) });
  assert.equal(m.engine.packs(64 * 1024 - 24), true);
  assert.equal(m.engine.packs(64 * 1024 - 23), false);
  const fit = await upload(m, content(64 * 1024 - 24));
  assert.equal(decodeFileName(fit)!.isTrunk, true);
  const empty = await upload(m, Buffer.alloc(0), '');
  assert.equal(decodeFileName(empty)!.isTrunk, true);
  assert.deepEqual(await m.engine.stat(m.ref(empty)), { type: 'file', size: 0, mtime: 1700000000 });
  assert.deepEqual(await readAll(m, empty), Buffer.alloc(0));
  assert.deepEqual(decodeFileName(empty)!.trunk!.slotSize, SLOT_MIN, 'smallest slot');
  assert.deepEqual(m.plainCalls, []);

  const tooBig = await m.engine.receive(sourceOf(content(64 * 1024 - 23)), { to: 'new', storePathIndex: 0, startTime: 1, packable: true }, { size: 64 * 1024 - 23 });
  assert.equal((tooBig as unknown as { plainIncoming: boolean }).plainIncoming, true);
  await m.engine.receive(sourceOf(content(10)), { to: 'new', storePathIndex: 0, startTime: 1, packable: false }, { size: 10 });
  m.trunk = undefined;
  await m.engine.receive(sourceOf(content(10)), { to: 'new', storePathIndex: 0, startTime: 1, packable: true }, { size: 10 });
  assert.deepEqual(m.plainCalls, ['receive', 'receive', 'receive']);
  // Stored trunk files stay readable while the tracker says trunk mode is off.
  assert.deepEqual(await m.engine.stat(m.ref(fit)), { type: 'file', size: 64 * 1024 - 24, mtime: 1700000000 });
});

test('a slot larger than the small-file threshold is streamed in, CRC computed on the way', async (t) => {
  const m = await member(t);
  const body = content(700 * 1024, 9);
  const name = await upload(m, body, 'bin', 1700000001, 64 * 1024);
  assert.equal(decodeFileName(name)!.crc32, crc32(body));
  assert.deepEqual(await readAll(m, name), body);
  assert.deepEqual(await readAll(m, name, 300 * 1024, 5), body.subarray(300 * 1024, 300 * 1024 + 5));
});

test('§11.2 step 1: no trunk server ⇒ EAGAIN before the body is read', async (t) => {
  const m = await member(t, { allocator: false });
  const src = sourceOf(content(100));
  await assert.rejects(m.engine.receive(src, { to: 'new', storePathIndex: 0, startTime: 1, packable: true }, { size: 100 }), isErr('EAGAIN'));
  assert.equal(src.consumed(), 0);
});

test('§11.2 step 2: an occupied slot ⇒ EEXIST, confirmed with 17 so the allocator keeps it used', async (t) => {
  const m = await member(t);
  const first = await upload(m, content(1000));
  const slot = parseTrunkName(first)!.slot;
  m.allocator.forced = slot;
  await assert.rejects(upload(m, content(500, 2)), isErr('EEXIST'));
  assert.deepEqual(m.allocator.confirms.at(-1), { slot, status: ERRNO.EEXIST });
  assert.deepEqual(await readAll(m, first), content(1000), 'the file in the slot is untouched');
});

test('§11.2 step 4: a body cut off mid-slot, a discarded content and a failed 28 leave a zeroed, freed slot', async (t) => {
  const m = await member(t);
  const trunkFile = (): Promise<Buffer> => fs.readFile(path.join(m.paths.subdir(0, 1, 1), '000001'));
  // Cut off after 400 KiB of 600 KiB (streamed path).
  const body = content(600 * 1024);
  const src = sourceOf(body.subarray(0, 400 * 1024), 100 * 1024);
  Object.defineProperty(src, 'remaining', { get: () => 600 * 1024 });
  await assert.rejects(m.engine.receive(src, { to: 'new', storePathIndex: 0, startTime: 1, packable: true }, { size: body.length }), isErr('ENOTCONN'));
  assert.equal(m.allocator.confirms.at(-1)!.status, ERRNO.ENOTCONN);
  const slot1 = m.allocator.confirms.at(-1)!.slot;
  assert.ok((await trunkFile()).subarray(slot1.offset, slot1.offset + slot1.size).every((b) => b === 0));

  const incoming = await m.engine.receive(sourceOf(content(5000)), { to: 'new', storePathIndex: 0, startTime: 1, packable: true }, { size: 5000 });
  await incoming.discard();
  await incoming.discard();
  const slot2 = m.allocator.confirms.at(-1)!.slot;
  assert.notEqual(m.allocator.confirms.at(-1)!.status, 0);
  assert.ok((await trunkFile()).subarray(slot2.offset, slot2.offset + slot2.size).every((b) => b === 0));

  m.allocator.failConfirm = true;
  await assert.rejects(upload(m, content(3000)), isErr('ECONNREFUSED'));
  const slot3 = m.allocator.confirms.at(-1)!.slot;
  assert.ok((await trunkFile()).subarray(slot3.offset, slot3.offset + slot3.size).every((b) => b === 0), 'no readable file behind a failed upload');
});

test('§11.11 delete: a client delete zeroes the slot and frees it (29); a sync delete only zeroes; then ENOENT', async (t) => {
  const m = await member(t);
  const a = await upload(m, content(2000));
  const b = await upload(m, content(3000));
  assert.equal(await m.engine.remove(m.ref(a), { origin: 'client' }), true);
  assert.deepEqual(m.allocator.frees, [parseTrunkName(a)!.slot]);
  assert.equal(await m.engine.remove(m.ref(a), { origin: 'client' }), false);
  assert.equal(m.allocator.frees.length, 1);
  assert.equal(await m.engine.stat(m.ref(a)), null);
  await assert.rejects(m.engine.open(m.ref(a)), isErr('ENOENT'));
  assert.equal(await m.engine.remove(m.ref(b), { origin: 'sync' }), true);
  assert.equal(m.allocator.frees.length, 1, 'no 29 for a sync delete');
  assert.deepEqual(m.plainCalls, []);
});

test('§11.11 replication: the replica lands at the same place with the same header; the trunk files are identical', async (t) => {
  const a = await member(t);
  const b = await member(t);
  const small = content(4321, 3);
  const large = content(512 * 1024, 4);
  const n1 = await upload(a, small);
  const n2 = await upload(a, large, 'bin');
  for (const [name, body] of [[n1, small], [n2, large]] as const) {
    const incoming = await b.engine.receive(sourceOf(body, 100 * 1024), { to: 'name', file: b.ref(name) }, { size: body.length });
    assert.equal(incoming.mtime, 1700000000);
    await incoming.commitAs({ replace: false });
    assert.deepEqual(await readAll(b, name), body);
  }
  assert.equal(b.allocator.confirms.length + b.allocator.frees.length, 0, 'the replica never asks the trunk server');
  const file = (m: Member): Promise<Buffer> => fs.readFile(path.join(m.paths.subdir(0, 1, 1), '000001'));
  assert.ok((await file(a)).equals(await file(b)), 'byte-identical trunk files');

  // Resent: EEXIST without replace, accepted with it.
  const again = await b.engine.receive(sourceOf(small), { to: 'name', file: b.ref(n1) }, { size: small.length });
  await assert.rejects(again.commitAs({ replace: false }), isErr('EEXIST'));
  await again.discard();
  const replace = await b.engine.receive(sourceOf(small), { to: 'name', file: b.ref(n1) }, { size: small.length });
  await replace.commitAs({ replace: true });
  // The content must be what the name declares.
  await assert.rejects(b.engine.receive(sourceOf(small.subarray(1)), { to: 'name', file: b.ref(n1) }, { size: small.length - 1 }), isErr('EINVAL'));

  // Deletes replicate as zeroed slots: identical again.
  await a.engine.remove(a.ref(n1), { origin: 'client' });
  await b.engine.remove(b.ref(n1), { origin: 'sync' });
  assert.ok((await file(a)).equals(await file(b)));
  assert.deepEqual(b.plainCalls, []);
});

test('trunk-stored files are never changed in place; plain names go to the plain engine', async (t) => {
  const m = await member(t);
  const name = await upload(m, content(100));
  const ref = m.ref(name);
  await assert.rejects(m.engine.writeAt(ref, sourceOf(Buffer.from('x')), 0, 1), isErr('EINVAL'));
  await assert.rejects(m.engine.truncate(ref, 0), isErr('EINVAL'));
  await assert.rejects(m.engine.rename(ref, m.ref('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg')), isErr('EINVAL'));
  assert.deepEqual(m.plainCalls, []);
  const plain = m.ref('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg');
  await m.engine.writeAt(plain, sourceOf(Buffer.from('x')), 0, 1);
  await m.engine.truncate(plain, 0);
  assert.equal(await m.engine.stat(plain), null);
  assert.equal(await m.engine.remove(plain, { origin: 'client' }), false);
  assert.equal(await m.engine.sweep({ startedMs: Date.now(), deep: false }), 3);
  assert.deepEqual(m.plainCalls, ['writeAt', 'truncate', 'stat', 'remove', 'sweep']);
  // A `-m` metadata name and a slave of a trunk master are plain names.
  await m.engine.stat(m.ref(`${name}-m`));
  assert.equal(m.plainCalls.at(-1), 'stat');
});

test('§11.4: an L slot is a link; followed once to the trunk file it names', async (t) => {
  const m = await member(t);
  const target = await upload(m, content(777));
  // A link slot (as a C peer's CREATE_LINK into a trunk would write), at a slot of its own.
  const slot = await m.allocator.alloc(target.length + 24, 0);
  const linkBody = Buffer.from(target);
  const ext7 = target.slice(-7);
  const { buildTrunkName } = await import('../lib/storage/trunk/trunk-name.ts');
  const linkName = buildTrunkName({ source: { ip: '192.168.1.10' }, slot, fileSize: linkBody.length, crc32: crc32(linkBody), timestamp: 1700000005, ext7, rand23: 7 });
  writeSlotSync(path.join(m.paths.subdir(0, 1, 1), '000001'), slot, linkBody, { type: 0x4c, crc32: crc32(linkBody), mtime: 1700000005, ext7 }, { checkUnused: true });
  assert.deepEqual(await m.engine.stat(m.ref(linkName)), { type: 'link', size: linkBody.length, mtime: 1700000005 });
  assert.deepEqual(await m.engine.stat(m.ref(linkName), { follow: true }), { type: 'file', size: 777, mtime: 1700000000 });
  assert.equal((await m.engine.readLink(m.ref(linkName)))!.logicName, target);
  assert.deepEqual(await readAll(m, linkName), content(777));
});

test('a download stream stopped early closes its descriptor without stray errors', async (t) => {
  const m = await member(t);
  const body = content(900 * 1024);
  const name = await upload(m, body);
  const reader = await m.engine.open(m.ref(name));
  for await (const chunk of reader.stream(0, body.length)) {
    assert.equal(chunk.length, 256 * 1024);
    break;
  }
  reader.close();
  // A reader closed by its stream rejects nothing more; a fresh one still reads.
  assert.deepEqual(await readAll(m, name, body.length - 10), body.subarray(body.length - 10));
});

test('a stale replica never overwrites a newer file in its slot; a newer one replaces a stale file', async (t) => {
  // Member A: X uploaded, deleted, its slot handed to Y. Member B receives Y first (from another
  // member), then the lagging `C X` and `D X`.
  const a = await member(t);
  const b = await member(t);
  for (const size of [3000, 400 * 1024]) {
    const x = content(size, 1);
    const y = content(size, 2);
    const nx = await upload(a, x, 'jpg', 1700000000);
    await a.engine.remove(a.ref(nx), { origin: 'client' });
    const ny = await upload(a, y, 'jpg', 1700000100);
    assert.deepEqual(parseTrunkName(ny)!.slot, parseTrunkName(nx)!.slot, 'the slot was reused');
    const replicate = async (m: Member, name: string, body: Buffer): Promise<void> => {
      const inc = await m.engine.receive(sourceOf(body, 64 * 1024), { to: 'name', file: m.ref(name) }, { size: body.length });
      await inc.commitAs({ replace: true });
    };
    await replicate(b, ny, y);
    await replicate(b, nx, x);
    assert.deepEqual(await readAll(b, ny), y, `Y kept (${size} bytes)`);
    assert.equal(await b.engine.stat(b.ref(nx)), null);
    assert.equal(await b.engine.remove(b.ref(nx), { origin: 'sync' }), false);
    assert.deepEqual(await readAll(b, ny), y);

    // The other order: a member that missed `D X` still has X; Y's replica replaces it.
    const c = await member(t);
    await replicate(c, nx, x);
    await replicate(c, ny, y);
    assert.deepEqual(await readAll(c, ny), y);
    assert.equal(await c.engine.stat(c.ref(nx)), null);
  }
});

test('a trunk file removed behind the engine\'s back is created again on the next write', async (t) => {
  const m = await member(t);
  const first = await upload(m, content(1000));
  const file = path.join(m.paths.subdir(0, 1, 1), '000001');
  await fs.rm(file);
  assert.equal(await m.engine.stat(m.ref(first)), null);
  const body = content(2000, 5);
  const second = await upload(m, body);
  assert.deepEqual(await readAll(m, second), body);
  assert.equal((await fs.stat(file)).size, TRUNK_FILE_SIZE);
});

test('a commit refused for its extension gives the slot back', async (t) => {
  const m = await member(t);
  const incoming = await m.engine.receive(sourceOf(content(100)), { to: 'new', storePathIndex: 0, startTime: 1, packable: true }, { size: 100 });
  await assert.rejects(incoming.commit({ kind: 'normal', ext: '.md' }), isErr('EINVAL'));
  await incoming.discard();
  assert.equal(m.allocator.confirms.length, 1);
  assert.equal(m.allocator.confirms[0]!.status, ERRNO.EINVAL);
  const again = await upload(m, content(100, 3));
  assert.deepEqual(parseTrunkName(again)!.slot, m.allocator.confirms[0]!.slot, 'the slot is free again');
});

test('§3.3 a slave stored as a link to a trunk-stored master reads through the link', async () => {
  const fx = await trunkFixture();
  try {
    const data = content(3210, 7);
    const incoming = await fx.engine.receive(sourceOf(data), { to: 'new', storePathIndex: 0, startTime: 1700000000, packable: true }, { size: data.length });
    const master = (await incoming.commit({ kind: 'normal', ext: 'jpg' })).file;
    assert.equal(parseTrunkName(master.logicName) !== null, true);
    const { slaveFileName } = await import('../lib/protocol/filename.ts');
    const link = fx.ref(slaveFileName(master.logicName, '_s', 'jpg'));
    await fx.engine.link(link, master);
    assert.equal((await fx.engine.stat(link))?.type, 'link');
    assert.deepEqual(await fx.engine.stat(link, { follow: true }), { type: 'file', size: data.length, mtime: 1700000000 });
    assert.equal((await fx.engine.readLink(link))?.logicName, master.logicName);
    const r = await fx.engine.open(link);
    const parts: Buffer[] = [];
    for await (const c of r.stream(0, r.size)) parts.push(c);
    assert.deepEqual(Buffer.concat(parts), data);
    assert.equal(await fx.engine.crc32(link), crc32(data));
    assert.equal(await fx.engine.remove(master, { origin: 'client' }), true);
    assert.equal(await fx.engine.stat(link, { follow: true }), null);
    await assert.rejects(fx.engine.open(link), isErr('ENOENT'));
  } finally {
    await fx.close();
  }
});
