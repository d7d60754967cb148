import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { crc32 } from '../../lib/protocol/crc32.ts';
import { FdfsError } from '../../lib/protocol/errno.ts';
import { bufferSource } from '../../lib/storage/engine/buffer-source.ts';
import {
  SMALL_FILE, type ContentSource, type FileRef, type IncomingFile, type StorageEngine,
} from '../../lib/storage/engine/engine.ts';

// The storage engine's contract (lib/storage/engine/engine.ts), one test per promise, run against
// every implementation: storageEngineConformance('plain', plainFactory) in
// test/storage-engine-conformance.test.ts; a trunk engine adds its own factory there.

export interface EngineFixture {
  engine: StorageEngine;
  /** The store path new content goes to. */
  storePathIndex: number;
  /** A FileRef for a valid logic name (what handlers/common.ts locate() makes). */
  ref(logicName: string): FileRef;
  /** A fresh name that no file has, for content stored by name (SYNC_CREATE 16, a slave 21). */
  freshName(): string;
  close(): Promise<void>;
}

export type EngineFactory = () => Promise<EngineFixture>;

/** Content delivered in pieces with a pause between them, as a socket does. */
export function trickleSource(buf: Buffer, piece = 64 * 1024): ContentSource {
  let pos = 0;
  let arrived = 0;
  return {
    get remaining() { return buf.length - pos; },
    get buffered() { return arrived - pos; },
    read: async (n) => {
      const out = buf.subarray(pos, pos + n);
      pos += out.length;
      arrived = Math.max(arrived, pos);
      return out;
    },
    readSome: async (max) => {
      if (pos >= arrived) {
        await new Promise((r) => setImmediate(r));
        arrived = Math.min(buf.length, arrived + piece);
      }
      const out = buf.subarray(pos, Math.min(arrived, pos + max));
      pos += out.length;
      return out;
    },
  };
}

/** A body that says `declared` bytes but whose peer goes away after `buf`. */
export function cutOffSource(buf: Buffer, declared: number): ContentSource {
  const inner = trickleSource(buf);
  const gone = () => new FdfsError('ECONNRESET', 'peer went away');
  return {
    get remaining() { return declared - (buf.length - inner.remaining); },
    get buffered() { return inner.buffered; },
    read: async (n) => { if (n > inner.remaining) throw gone(); return inner.read(n); },
    readSome: async (max) => { if (inner.remaining === 0) throw gone(); return inner.readSome(max); },
  };
}

async function readAll(engine: StorageEngine, f: FileRef, position = 0, length?: number): Promise<Buffer> {
  const r = await engine.open(f);
  const n = length ?? r.size - position;
  const parts: Buffer[] = [];
  for await (const chunk of r.stream(position, n)) parts.push(chunk);
  return Buffer.concat(parts);
}

function content(n: number): Buffer {
  return randomBytes(n);
}

export function storageEngineConformance(label: string, factory: EngineFactory): void {
  describe(`storage engine conformance: ${label}`, () => {
    let fx: EngineFixture;
    let engine: StorageEngine;
    const now = () => Math.floor(Date.now() / 1000);
    before(async () => {
      fx = await factory();
      engine = fx.engine;
    });
    after(async () => {
      await fx.close();
    });

    async function store(data: Buffer, kind: 'normal' | 'appender' = 'normal', packable = kind === 'normal'): Promise<FileRef> {
      const incoming = await engine.receive(bufferSource(data), { to: 'new', storePathIndex: fx.storePathIndex, startTime: now(), packable }, { size: data.length });
      const stored = await incoming.commit({ kind, ext: 'bin' });
      assert.equal(stored.file.logicName, stored.name);
      return stored.file;
    }

    /** Content stored by name, as SYNC_CREATE does. */
    async function storeAs(data: Buffer, name = fx.freshName()): Promise<FileRef> {
      const f = fx.ref(name);
      const incoming = await engine.receive(bufferSource(data), { to: 'name', file: f }, { size: data.length });
      await incoming.commitAs({ replace: false });
      return f;
    }

    /** No uncommitted content anywhere (both sweeps find nothing, even with every file counted as old). */
    async function assertNoLeftovers(): Promise<void> {
      const startedMs = Date.now() + 60_000;
      assert.equal(await engine.sweep({ startedMs, deep: false }) + await engine.sweep({ startedMs, deep: true }), 0, 'nothing uncommitted left behind');
    }

    for (const [what, size] of [['empty', 0], ['small', 1000], ['at the small-file threshold', SMALL_FILE], ['large', SMALL_FILE * 3 + 17]] as const) {
      test(`receive + commit (${what}, ${size} bytes): readable under the name it returns, with its size, CRC32 and bytes`, async () => {
        const data = content(size);
        const incoming = await engine.receive(trickleSource(data), { to: 'new', storePathIndex: fx.storePathIndex, startTime: now(), packable: true }, { size });
        assert.equal(incoming.size, size);
        assert.equal(incoming.crc32, crc32(data));
        const stored = await incoming.commit({ kind: 'normal', ext: 'jpg' });
        assert.ok(stored.timestamp > 0);
        const st = await engine.stat(stored.file);
        assert.equal(st?.type, 'file');
        assert.equal(st?.size, size);
        assert.deepEqual(await readAll(engine, stored.file), data);
        assert.equal(await engine.crc32(stored.file), crc32(data));
        await incoming.discard(); // a no-op after commit
        assert.equal(await engine.stat(stored.file).then((s) => s?.size), size, 'discard after commit keeps the file');
      });
    }

    test('receive counts each disk write through onBytes, and skips the CRC when asked', async () => {
      const data = content(SMALL_FILE + 5000);
      let counted = 0;
      const incoming = await engine.receive(trickleSource(data), { to: 'new', storePathIndex: fx.storePathIndex, startTime: now(), packable: false },
        { size: data.length, crc: false, onBytes: (n) => { counted += n; } });
      assert.equal(counted, data.length);
      assert.equal(incoming.crc32, 0);
      await incoming.discard();
    });

    test('two commits of the same content get two names', async () => {
      const data = content(100);
      const a = await store(data);
      const b = await store(data);
      assert.notEqual(a.logicName, b.logicName);
      assert.deepEqual(await readAll(engine, a), data);
      assert.deepEqual(await readAll(engine, b), data);
    });

    for (const [what, size] of [['small', 500], ['large', SMALL_FILE * 2]] as const) {
      test(`a cut-off body (${what}) rejects and leaves nothing behind`, async () => {
        const data = content(size);
        await assert.rejects(engine.receive(cutOffSource(data.subarray(0, size / 2), size),
          { to: 'new', storePathIndex: fx.storePathIndex, startTime: now(), packable: true }, { size }));
        const name = fx.freshName();
        await assert.rejects(engine.receive(cutOffSource(data.subarray(0, size / 2), size), { to: 'name', file: fx.ref(name) }, { size }));
        assert.equal(await engine.stat(fx.ref(name)), null);
        await assertNoLeftovers();
      });
    }

    test('discard drops received content: nothing readable, nothing left', async () => {
      for (const size of [10, SMALL_FILE + 1]) {
        const name = fx.freshName();
        const a = await engine.receive(bufferSource(content(size)), { to: 'name', file: fx.ref(name) }, { size });
        await a.discard();
        await a.discard();
        assert.equal(await engine.stat(fx.ref(name)), null);
        const b = await engine.receive(bufferSource(content(size)), { to: 'new', storePathIndex: fx.storePathIndex, startTime: now(), packable: true }, { size });
        await b.discard();
      }
      await assertNoLeftovers();
    });

    test('commitAs: a named target with mtime; replace false refuses a taken name (EEXIST), replace true replaces', async () => {
      const name = fx.freshName();
      const f = fx.ref(name);
      const first = content(300);
      const ts = 1_600_000_000;
      const a = await engine.receive(bufferSource(first), { to: 'name', file: f, mtime: ts }, { size: first.length });
      assert.equal(a.mtime, ts);
      await a.commitAs({ replace: false });
      assert.deepEqual(await engine.stat(f), { type: 'file', size: 300, mtime: ts });

      const second = content(SMALL_FILE + 100);
      const b = await engine.receive(bufferSource(second), { to: 'name', file: f }, { size: second.length });
      await assert.rejects(b.commitAs({ replace: false }), (e: FdfsError) => e.code === 'EEXIST');
      assert.deepEqual(await readAll(engine, f), first, 'the file that was there wins');
      await b.discard();

      for (const next of [content(SMALL_FILE + 100), content(7)]) {
        const c = await engine.receive(bufferSource(next), { to: 'name', file: f, mtime: ts + 1 }, { size: next.length });
        await c.commitAs({ replace: true });
        assert.deepEqual(await readAll(engine, f), next);
        assert.equal((await engine.stat(f))?.mtime, ts + 1);
      }
      await assertNoLeftovers();
    });

    test('writeAt: appends at the end, overwrites inside, sets mtime; ENOENT for a missing file', async () => {
      const base = content(1000);
      const f = await store(base, 'appender', false);
      const more = content(SMALL_FILE + 10);
      const r = await engine.writeAt(f, trickleSource(more), base.length, more.length);
      assert.equal(r.written, more.length);
      assert.ok(r.mtime > 0);
      assert.deepEqual(await readAll(engine, f), Buffer.concat([base, more]));
      const patch = content(50);
      const ts = 1_500_000_000;
      const r2 = await engine.writeAt(f, bufferSource(patch), 10, patch.length, { mtime: ts });
      assert.equal(r2.mtime, ts);
      const want = Buffer.concat([base, more]);
      patch.copy(want, 10);
      assert.deepEqual(await readAll(engine, f), want);
      assert.equal((await engine.stat(f))?.mtime, ts);
      await assert.rejects(engine.writeAt(fx.ref(fx.freshName()), bufferSource(patch), 0, patch.length), (e: FdfsError) => e.code === 'ENOENT');
    });

    test('writeAt cut off part-way: restoreSize takes back what it grew, without it the bytes stay', async () => {
      const base = content(100);
      const f = await store(base, 'appender', false);
      const more = content(SMALL_FILE * 2);
      await assert.rejects(engine.writeAt(f, cutOffSource(more.subarray(0, SMALL_FILE), more.length), 100, more.length, { restoreSize: 100 }));
      assert.equal((await engine.stat(f))?.size, 100);
      assert.deepEqual(await readAll(engine, f), base);
      await assert.rejects(engine.writeAt(f, cutOffSource(more.subarray(0, SMALL_FILE), more.length), 100, more.length));
      assert.ok(((await engine.stat(f))?.size ?? 0) > 100, 'written bytes stay without restoreSize');
    });

    test('truncate: shrinks, grows with zeros, returns the mtime (or sets the one given)', async () => {
      const base = content(1000);
      const f = await store(base, 'appender', false);
      const m = await engine.truncate(f, 400);
      assert.ok(m > 0);
      assert.deepEqual(await readAll(engine, f), base.subarray(0, 400));
      const ts = 1_400_000_000;
      assert.equal(await engine.truncate(f, 600, { mtime: ts }), ts);
      assert.deepEqual(await readAll(engine, f), Buffer.concat([base.subarray(0, 400), Buffer.alloc(200)]));
      assert.deepEqual(await engine.stat(f), { type: 'file', size: 600, mtime: ts });
      await assert.rejects(engine.truncate(fx.ref(fx.freshName()), 0), (e: FdfsError) => e.code === 'ENOENT');
    });

    test('link: a link reads as its target, stat tells it apart unless followed, readLink names the target; EEXIST when taken', async () => {
      const data = content(321);
      const target = await store(data, 'normal', false);
      const link = fx.ref(fx.freshName());
      await engine.link(link, target);
      assert.equal((await engine.stat(link))?.type, 'link');
      assert.deepEqual(await engine.stat(link, { follow: true }), await engine.stat(target));
      assert.equal((await engine.readLink(link))?.logicName, target.logicName);
      assert.equal(await engine.readLink(target), null, 'a file is no link');
      assert.deepEqual(await readAll(engine, link), data);
      await assert.rejects(engine.link(link, target), (e: FdfsError) => e.code === 'EEXIST');
      // A link whose target went away: there, but not followable.
      assert.equal(await engine.remove(target, { origin: 'client' }), true);
      assert.equal((await engine.stat(link))?.type, 'link');
      assert.equal(await engine.stat(link, { follow: true }), null);
      await assert.rejects(engine.open(link), (e: FdfsError) => e.code === 'ENOENT');
      assert.equal(await engine.remove(link, { origin: 'client' }), true);
    });

    test('rename: the content moves to the new name, the old one is gone', async () => {
      const data = content(SMALL_FILE + 1);
      const from = await store(data, 'appender', false);
      const claim = engine.claimName({ ...from.parsed, timestamp: now(), size: data.length, crc32: crc32(data), ext: 'bin', kind: 'normal' });
      try {
        assert.equal(await engine.stat(claim.file), null, 'a claimed name is free');
        await engine.rename(from, claim.file);
      } finally {
        claim.release();
      }
      assert.equal(await engine.stat(from), null);
      assert.deepEqual(await readAll(engine, claim.file), data);
    });

    test('claimName: names differ while claimed, and never name an existing file', async () => {
      const f = await store(content(10), 'appender', false);
      const r = { ...f.parsed, timestamp: now(), size: 10, crc32: 1, ext: 'txt', kind: 'normal' as const };
      const a = engine.claimName(r);
      const b = engine.claimName(r);
      assert.notEqual(a.name, b.name);
      assert.notEqual(a.name, f.logicName);
      a.release();
      b.release();
    });

    test('remove: true once, then false; stat ⇒ null, open ⇒ ENOENT, crc32 ⇒ ENOENT', async () => {
      const f = await store(content(77));
      assert.equal(await engine.remove(f, { origin: 'client' }), true);
      assert.equal(await engine.remove(f, { origin: 'client' }), false);
      assert.equal(await engine.stat(f), null);
      assert.equal(await engine.stat(f, { follow: true, quick: true }), null);
      await assert.rejects(engine.open(f), (e: FdfsError) => e.code === 'ENOENT');
      await assert.rejects(engine.crc32(f), (e: FdfsError) => e.code === 'ENOENT');
      const g = await storeAs(content(5));
      assert.equal(await engine.remove(g, { origin: 'sync' }), true);
      assert.equal(await engine.stat(g), null);
    });

    test('open: size and mtime; readSync of a range; a stream of any range, closed when the consumer stops early', async () => {
      const data = content(SMALL_FILE * 4 + 333);
      const f = await store(data, 'normal', false);
      const r = await engine.open(f);
      assert.equal(r.size, data.length);
      assert.equal(r.mtime, (await engine.stat(f))?.mtime);
      const out = Buffer.alloc(110);
      r.readSync(out, 10, 1000, 100);
      assert.deepEqual(out.subarray(10), data.subarray(1000, 1100));
      assert.throws(() => r.readSync(Buffer.alloc(200), 0, data.length - 100, 200), (e: FdfsError) => e.code === 'EIO');
      let n = 0;
      for await (const chunk of r.stream(5, SMALL_FILE * 3)) {
        assert.ok(chunk.length > 0);
        if (++n === 2) break; // return() closes the reader
      }
      assert.deepEqual(await readAll(engine, f, 12345, SMALL_FILE * 2 + 1), data.subarray(12345, 12345 + SMALL_FILE * 2 + 1));
      assert.deepEqual(await readAll(engine, f, data.length - 1, 1), data.subarray(data.length - 1));
      const empty = await engine.open(f);
      const parts = [];
      for await (const chunk of empty.stream(0, 0)) parts.push(chunk);
      assert.equal(parts.length, 0);
    });

    test('a stream of a file that shrinks meanwhile fails with EIO', async () => {
      const data = content(SMALL_FILE * 4);
      const f = await store(data, 'appender', false);
      const r = await engine.open(f);
      await engine.truncate(f, SMALL_FILE);
      await assert.rejects(async () => {
        for await (const chunk of r.stream(0, data.length)) assert.ok(chunk.length > 0);
      }, (e: FdfsError) => e.code === 'EIO');
    });

    test('sweep: content received and never committed (a kill -9) goes; files of this process and committed files stay', async () => {
      const keep = await store(content(10));
      const abandoned: IncomingFile[] = [];
      for (const size of [20, SMALL_FILE + 20]) {
        abandoned.push(await engine.receive(bufferSource(content(size)), { to: 'new', storePathIndex: fx.storePathIndex, startTime: now(), packable: false }, { size }));
        abandoned.push(await engine.receive(bufferSource(content(size)), { to: 'name', file: fx.ref(fx.freshName()) }, { size }));
      }
      // Modified before startedMs = left by an earlier process; at or after it = this process's.
      const past = Date.now() - 60_000;
      assert.equal(await engine.sweep({ startedMs: past, deep: false }) + await engine.sweep({ startedMs: past, deep: true }), 0);
      const startedMs = Date.now() + 60_000;
      const quick = await engine.sweep({ startedMs, deep: false });
      const deep = await engine.sweep({ startedMs, deep: true });
      assert.equal(quick + deep, abandoned.length);
      await assertNoLeftovers();
      assert.equal((await engine.stat(keep))?.size, 10);
    });
  });
}
