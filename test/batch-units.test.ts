import { Buffer } from 'node:buffer';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { compileGlob, compileGlobs } from '../lib/batch/glob.ts';
import { normalizeRelPath, safeJoin, SafeDirs } from '../lib/batch/safe-path.ts';
import { loadResumeIndex, ManifestWriter, parseManifestLine, readManifest, formatManifestLine } from '../lib/batch/manifest.ts';
import { runPool, withRetries, permanent } from '../lib/batch/scheduler.ts';
import { BatchStats, createReporter, formatSummary, formatBytes } from '../lib/batch/progress.ts';
import { walkDirectory } from '../lib/batch/walker.ts';
import { readTar, isTarName } from '../lib/batch/tar-input.ts';
import { TarWriter } from '../lib/batch/tar-output.ts';
import { parseSince } from '../lib/batch/list-files.ts';
import { crc32 } from '../lib/protocol/crc32.ts';

function tmp(prefix = 'fdfs-batch-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A tar archive in memory, built with tar-stream. */
async function makeTar(entries: Array<{ name: string; data?: Buffer; type?: 'file' | 'directory' | 'symlink' | 'fifo'; linkname?: string; mtime?: number }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const h = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mtime: new Date((e.mtime ?? 1700000000) * 1000) } as const;
      if ((e.type ?? 'file') === 'file') pack.entry(h, e.data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      else { pack.entry(h, (err) => (err ? reject(err) : resolve())); }
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function collect(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('glob', () => {
  test('slash-free patterns match the last segment anywhere', () => {
    const m = compileGlob('*.tmp');
    assert.ok(m.matches('a.tmp'));
    assert.ok(m.matches('x/y/a.tmp'));
    assert.ok(!m.matches('a.tmp/b'));
    assert.ok(compileGlob('node_modules').matches('src/node_modules'));
    assert.ok(compileGlob('build/').matches('x/build'));
  });
  test('patterns with a slash match the whole path; ** spans directories', () => {
    assert.ok(compileGlob('src/*.js').matches('src/a.js'));
    assert.ok(!compileGlob('src/*.js').matches('x/src/a.js'));
    assert.ok(!compileGlob('src/*.js').matches('src/d/a.js'));
    assert.ok(compileGlob('src/**/*.js').matches('src/a.js'));
    assert.ok(compileGlob('src/**/*.js').matches('src/d/e/a.js'));
    assert.ok(compileGlob('**/cache/**').matches('a/cache/b/c'));
    assert.ok(compileGlob('/top.txt').matches('top.txt'));
    assert.ok(!compileGlob('/top.txt').matches('d/top.txt'));
  });
  test('?, classes, braces and escapes', () => {
    assert.ok(compileGlob('a?.txt').matches('ab.txt'));
    assert.ok(!compileGlob('a?.txt').matches('a/.txt'));
    assert.ok(compileGlob('[abc].jpg').matches('b.jpg'));
    assert.ok(!compileGlob('[!abc].jpg').matches('b.jpg'));
    assert.ok(compileGlob('[!abc].jpg').matches('d.jpg'));
    assert.ok(compileGlob('[0-9]x').matches('7x'));
    assert.ok(compileGlob('*.{jpg,png}').matches('d/a.png'));
    assert.ok(!compileGlob('*.{jpg,png}').matches('a.gif'));
    assert.ok(compileGlob('a\\*b').matches('a*b'));
    assert.ok(!compileGlob('a\\*b').matches('axb'));
    assert.ok(compileGlob('a.b').matches('a.b') && !compileGlob('a.b').matches('axb'));
  });
  test('compileGlobs: any of several, none = nothing excluded', () => {
    const f = compileGlobs(['*.tmp', 'cache']);
    assert.ok(f('x.tmp') && f('d/cache') && !f('x.jpg'));
    assert.equal(compileGlobs([])('anything'), false);
  });
});

describe('safe paths', () => {
  test('normalizeRelPath refuses absolute paths, .. and NUL; tidies the rest', () => {
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', '..\\x', 'C:\\x', 'c:x', '\\\\host\\x', 'a\0b', '.', './']) {
      assert.equal(normalizeRelPath(bad), null, bad);
    }
    assert.equal(normalizeRelPath('./a//b/./c.jpg'), 'a/b/c.jpg');
    assert.equal(normalizeRelPath('a\\b'), 'a/b');
    assert.equal(normalizeRelPath('..foo/x..'), '..foo/x..');
  });
  test('safeJoin stays inside the root', () => {
    const root = tmp();
    assert.equal(safeJoin(root, 'a/b'), path.join(root, 'a', 'b'));
    assert.throws(() => safeJoin(root, '../x'), { code: 'EINVAL' });
    assert.throws(() => safeJoin(root, '/abs'), { code: 'EINVAL' });
    fs.rmSync(root, { recursive: true });
  });
  test('SafeDirs refuses a directory symlink that leads out of the root', async () => {
    const root = tmp();
    const outside = tmp();
    fs.symlinkSync(outside, path.join(root, 'link'));
    const dirs = new SafeDirs(root);
    await dirs.prepare(safeJoin(root, 'ok/file'));
    assert.ok(fs.statSync(path.join(root, 'ok')).isDirectory());
    await assert.rejects(dirs.prepare(safeJoin(root, 'link/file')), { code: 'EINVAL' });
    await assert.rejects(dirs.prepare(safeJoin(root, 'link/deeper/file')), { code: 'EINVAL' });
    assert.deepEqual(fs.readdirSync(outside), []);
    fs.rmSync(root, { recursive: true });
    fs.rmSync(outside, { recursive: true });
  });
});

describe('manifest', () => {
  const rec = { path: 'a/b.jpg', fileId: 'group1/M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', size: 12345, crc32: 0xaf083b2d, mtime: 1700000000 };
  test('line format is the documented one', () => {
    assert.equal(formatManifestLine(rec),
      '{"path":"a/b.jpg","fileId":"group1/M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg","size":12345,"crc32":2936552237,"mtime":1700000000}\n');
    assert.deepEqual(parseManifestLine(formatManifestLine(rec)), rec);
    assert.equal(typeof parseManifestLine('{"path":"x"'), 'string');
    assert.equal(typeof parseManifestLine('{"path":"x","fileId":"g/M00/x","size":-1,"crc32":0}'), 'string');
    assert.equal(typeof parseManifestLine('{"path":"x","fileId":"g/M00/x","size":1,"crc32":4294967296}'), 'string');
    assert.equal(typeof parseManifestLine('[1]'), 'string');
  });
  test('append, refuse to clobber, resume, and a torn last line', async () => {
    const dir = tmp();
    const file = path.join(dir, 'm.jsonl');
    const w = ManifestWriter.open(file);
    w.append(rec);
    w.append({ ...rec, path: 'c.txt', size: 1 });
    w.close();
    assert.throws(() => ManifestWriter.open(file), { code: 'EEXIST' });
    // A crash mid-write leaves a torn line: readers skip it, the next writer starts a new line.
    fs.appendFileSync(file, '{"path":"torn","fileId":"gr');
    const invalid: number[] = [];
    const idx = await loadResumeIndex(file, { onInvalid: (n) => invalid.push(n) });
    assert.deepEqual([...idx.keys()], ['a/b.jpg', 'c.txt']);
    assert.deepEqual(invalid, [3]);
    const w2 = ManifestWriter.open(file, { append: true });
    w2.append({ ...rec, path: 'd.txt' });
    w2.close();
    const all: string[] = [];
    for await (const r of readManifest(file)) all.push(r.path);
    assert.deepEqual(all, ['a/b.jpg', 'c.txt', 'd.txt']);
    assert.equal((await loadResumeIndex(path.join(dir, 'missing.jsonl'))).size, 0);
    fs.rmSync(dir, { recursive: true });
  });
  test('one run at a time per manifest; a killed run\'s lock is taken over', () => {
    const dir = tmp();
    const file = path.join(dir, 'm.jsonl');
    const a = ManifestWriter.open(file);
    assert.throws(() => ManifestWriter.open(file, { append: true }), { code: 'EBUSY' });
    a.append(rec);
    a.close();
    assert.ok(!fs.existsSync(`${file}.lock`));
    // A lock whose process is gone (kill -9) does not block --resume.
    fs.writeFileSync(`${file}.lock`, '99999999\n');
    const b = ManifestWriter.open(file, { append: true });
    b.close();
    fs.rmSync(dir, { recursive: true });
  });
  test('each record is on disk (in the OS) as soon as append returns', () => {
    const dir = tmp();
    const file = path.join(dir, 'm.jsonl');
    const w = ManifestWriter.open(file);
    w.append(rec);
    // No close, no flush: another reader of the file sees the line already.
    assert.equal(fs.readFileSync(file, 'utf8'), formatManifestLine(rec));
    w.close();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('scheduler', () => {
  test('runPool keeps at most N in flight and pulls items lazily', async () => {
    let inFlight = 0;
    let peak = 0;
    let pulled = 0;
    let done = 0;
    async function* gen() {
      for (let i = 0; i < 50; i++) {
        pulled++;
        // Never more than N items taken out ahead of the ones finished.
        assert.ok(pulled - done <= 4, `pulled ${pulled}, done ${done}`);
        yield i;
      }
    }
    await runPool(gen(), 4, async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      done++;
    });
    assert.equal(done, 50);
    assert.equal(peak, 4);
  });
  test('runPool stops on abort and rethrows a worker error', async () => {
    const ac = new AbortController();
    let n = 0;
    await runPool(Array.from({ length: 100 }, (_, i) => i), 2, async () => { if (++n === 5) ac.abort(); }, { signal: ac.signal });
    assert.ok(n >= 5 && n <= 7, String(n));
    await assert.rejects(runPool([1, 2, 3], 2, async (i) => { if (i === 2) throw new Error('boom'); }), /boom/);
  });
  test('withRetries: bounded, permanent errors not retried', async () => {
    let calls = 0;
    await assert.rejects(withRetries(async () => { calls++; throw new Error('x'); }, { retries: 2, baseDelayMs: 1 }), /x/);
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(withRetries(async () => { calls++; throw permanent(new Error('p')); }, { retries: 5, baseDelayMs: 1 }), /p/);
    assert.equal(calls, 1);
    const seen: number[] = [];
    assert.equal(await withRetries(async (a) => { if (a < 2) throw new Error('again'); return 'ok'; }, { retries: 3, baseDelayMs: 1, onRetry: (_e, a) => seen.push(a) }), 'ok');
    assert.deepEqual(seen, [1, 2]);
  });
});

describe('progress', () => {
  test('stats, summary line and byte formatting', () => {
    const s = new BatchStats('put');
    s.apply({ type: 'total', files: 3, bytes: 3000 });
    s.apply({ type: 'file', status: 'ok', path: 'a', fileId: 'g/M00/a', size: 1000, crc32: 1, attempts: 1 });
    s.apply({ type: 'file', status: 'skipped', path: 'b', size: 1000, reason: 'in manifest' });
    s.apply({ type: 'file', status: 'failed', path: 'c', error: 'ENOENT: x', code: 'ENOENT', attempts: 3 });
    const sum = s.summary();
    assert.deepEqual([sum.ok, sum.skipped, sum.failed, sum.bytes], [1, 1, 1, 1000]);
    assert.equal(sum.failures[0]!.code, 'ENOENT');
    assert.match(formatSummary({ ...sum, elapsedMs: 2000 }), /^put: 1 stored, 1 skipped, 1 failed, 1000 B in 2\.0 s/);
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10 * 1024 * 1024), '10.0 MiB');
  });
  test('reporters: lines, json, quiet, bar', () => {
    const sink = () => { const chunks: string[] = []; return { w: new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }), text: () => chunks.join('') }; };
    const ev = { type: 'file', status: 'ok', path: 'a.jpg', fileId: 'group1/M00/00/00/x.jpg', size: 5, crc32: 7, attempts: 1 } as const;
    const fail = { type: 'file', status: 'failed', path: 'b.jpg', error: 'EIO: broken', code: 'EIO', attempts: 3 } as const;
    for (const mode of ['lines', 'json', 'quiet', 'bar'] as const) {
      const out = sink();
      const err = sink();
      const stats = new BatchStats('put');
      const r = createReporter({ mode, stats, out: out.w, err: err.w, intervalMs: 100000 });
      stats.apply(ev); r.onEvent(ev);
      stats.apply(fail); r.onEvent(fail);
      r.finish(stats.summary());
      if (mode === 'lines') {
        assert.equal(out.text(), 'stored\ta.jpg\tgroup1/M00/00/00/x.jpg\n');
        assert.match(err.text(), /failed: b\.jpg: EIO: broken\nput: 1 stored, 0 skipped, 1 failed/);
      } else if (mode === 'json') {
        const lines = out.text().trim().split('\n').map((l) => JSON.parse(l));
        assert.equal(lines.length, 3);
        assert.equal(lines[0].fileId, 'group1/M00/00/00/x.jpg');
        assert.equal(lines[2].type, 'summary');
        assert.equal(lines[2].failed, 1);
      } else if (mode === 'quiet') {
        assert.equal(out.text(), '');
        assert.match(err.text(), /failed: b\.jpg/);
      } else {
        assert.equal(out.text(), '');
        assert.match(err.text(), /█/);
        assert.match(err.text(), /2 files/);
      }
    }
  });
  test('parseSince', () => {
    const now = Date.UTC(2024, 0, 2) ;
    assert.equal(parseSince('1700000000', now), 1700000000);
    assert.equal(parseSince('1d', now), now / 1000 - 86400);
    assert.equal(parseSince('90s', now), now / 1000 - 90);
    assert.equal(parseSince('2024-01-01T00:00:00Z', now), Date.UTC(2024, 0, 1) / 1000);
    assert.throws(() => parseSince('yesterday-ish', now), { code: 'EINVAL' });
  });
});

describe('directory walker', () => {
  test('regular files only; symlinks and special files skipped with a warning; excludes', async (t) => {
    const root = tmp();
    fs.mkdirSync(path.join(root, 'd/e'), { recursive: true });
    fs.mkdirSync(path.join(root, 'cache'));
    fs.writeFileSync(path.join(root, 'a.txt'), 'a');
    fs.writeFileSync(path.join(root, 'd/b.jpg'), 'bb');
    fs.writeFileSync(path.join(root, 'd/e/c.tmp'), 'ccc');
    fs.writeFileSync(path.join(root, 'cache/x'), 'x');
    fs.symlinkSync(path.join(root, 'a.txt'), path.join(root, 'link.txt'));
    fs.symlinkSync(path.join(root, 'd'), path.join(root, 'dirlink'));
    const sock = net.createServer();
    const sockPath = path.join(root, 'd/sock');
    await new Promise<void>((r) => sock.listen(sockPath, r));
    t.after(() => { sock.close(); fs.rmSync(root, { recursive: true, force: true }); });
    const warnings: string[] = [];
    const got: Array<[string, number]> = [];
    for await (const e of walkDirectory(root, { exclude: compileGlobs(['*.tmp', 'cache']), onWarning: (p, m) => warnings.push(`${p}: ${m}`) })) {
      got.push([e.path, e.size]);
      assert.equal(e.abs, path.join(root, ...e.path.split('/')));
    }
    got.sort();
    assert.deepEqual(got, [['a.txt', 1], ['d/b.jpg', 2]]);
    warnings.sort();
    assert.deepEqual(warnings, ['d/sock: skipped socket', 'dirlink: skipped symbolic link', 'link.txt: skipped symbolic link']);
  });
});

describe('tar input', () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const entries = [
    { name: 'dir', type: 'directory' as const },
    { name: './dir/a.txt', data: Buffer.from('hello') },
    { name: 'dir/big.bin', data: big, mtime: 1600000000 },
    { name: 'dir/link', type: 'symlink' as const, linkname: 'a.txt' },
    { name: '../evil.txt', data: Buffer.from('x') },
    { name: 'empty', data: Buffer.alloc(0) },
    { name: 'skip.tmp', data: Buffer.from('t') },
  ];

  async function readAll(input: Readable, warnings: string[]) {
    const out: Array<{ path: string; size: number; mtime: number; crc: number; streamed: boolean }> = [];
    for await (const e of readTar(input, { bufferLimit: 1024 * 1024, exclude: compileGlobs(['*.tmp']), onWarning: (n, m) => warnings.push(`${n}: ${m}`) })) {
      const data = e.data ?? (await collect(e.stream!));
      assert.equal(data.length, e.size);
      out.push({ path: e.path, size: e.size, mtime: e.mtime, crc: crc32(data), streamed: !e.data });
    }
    return out;
  }

  test('plain, gzip and a stream in small chunks give the same regular-file entries', async () => {
    const buf = await makeTar(entries);
    for (const input of [
      () => Readable.from([buf]),
      () => Readable.from([zlib.gzipSync(buf)]),
      // stdin-like: many small chunks with pauses
      () => { const p = new PassThrough(); (async () => { for (let i = 0; i < buf.length; i += 1000) { p.write(buf.subarray(i, i + 1000)); if (i % 100000 === 0) await new Promise((r) => setImmediate(r)); } p.end(); })(); return p; },
    ]) {
      const warnings: string[] = [];
      const got = await readAll(input(), warnings);
      assert.deepEqual(got.map((g) => [g.path, g.size, g.streamed]), [['dir/a.txt', 5, false], ['dir/big.bin', big.length, true], ['empty', 0, false]]);
      assert.equal(got[1]!.crc, crc32(big));
      assert.equal(got[1]!.mtime, 1600000000);
      assert.deepEqual(warnings, ['dir/link: skipped symlink entry', '../evil.txt: skipped: unsafe entry name']);
    }
    assert.ok(isTarName('x.tar') && isTarName('x.TAR.GZ') && isTarName('x.tgz') && !isTarName('x.gz'));
  });

  test('a streamed entry the consumer abandons is skipped, the archive goes on', async () => {
    const buf = await makeTar([{ name: 'big1', data: big }, { name: 'after', data: Buffer.from('ok') }]);
    const seen: string[] = [];
    for await (const e of readTar(Readable.from([buf]), { bufferLimit: 1000 })) {
      seen.push(e.path);
      if (e.path === 'big1') {
        // Read a little, then give up (an upload that failed).
        const it = e.stream![Symbol.asyncIterator]();
        await it.next();
        e.stream!.destroy();
      } else {
        assert.equal((e.data ?? (await collect(e.stream!))).toString(), 'ok');
      }
    }
    assert.deepEqual(seen, ['big1', 'after']);
  });

  test('a corrupt archive is an error, not a hang', async () => {
    await assert.rejects(async () => {
      for await (const e of readTar(Readable.from([Buffer.alloc(1024, 1)]))) void e;
    });
  });
});

describe('tar output', () => {
  test('buffer and streamed entries round-trip through readTar', async () => {
    const dir = tmp();
    const file = path.join(dir, 'out.tar');
    const w = TarWriter.toFile(file);
    const big = Buffer.alloc(2 * 1024 * 1024 + 3, 9);
    await Promise.all([
      w.addBuffer({ name: 'a/one.txt', mtime: 1700000000 }, Buffer.from('one')),
      w.addStream({ name: 'b/big.bin', size: big.length, mtime: 1700000001 }, async (sink) => {
        for (let i = 0; i < big.length; i += 65536) await sink.write(big.subarray(i, i + 65536));
      }),
      w.addBuffer({ name: 'c', mtime: 1700000002 }, Buffer.alloc(0)),
    ]);
    await w.finish();
    const got: Array<[string, number, number]> = [];
    for await (const e of readTar(fs.createReadStream(file), { bufferLimit: 1024 })) {
      const data = e.data ?? (await collect(e.stream!));
      got.push([e.path, data.length, e.mtime]);
      if (e.path === 'b/big.bin') assert.ok(data.equals(big));
    }
    assert.deepEqual(got, [['a/one.txt', 3, 1700000000], ['b/big.bin', big.length, 1700000001], ['c', 0, 1700000002]]);
    fs.rmSync(dir, { recursive: true });
  });

  test('a slow consumer holds the writer back (bounded memory)', async () => {
    let received = 0;
    let release: (() => void) | null = null;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(c, _e, cb) { received += c.length; release = cb; },
    });
    const w = new TarWriter(slow);
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    const producer = w.addStream({ name: 'x', size: 64 * 1024 * 64, mtime: 0 }, async (sink) => {
      for (let i = 0; i < 64; i++) { await sink.write(chunk); written += chunk.length; }
    });
    // Without reading, the producer must stall well before writing everything.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && written < 64 * 1024 * 64) {
      const before = written;
      await new Promise((r) => setTimeout(r, 20));
      if (written === before) break;
    }
    assert.ok(written < 64 * 1024 * 32, `producer ran ahead: ${written} bytes written, ${received} received`);
    // Now drain.
    const pump = setInterval(() => { const r = release; release = null; r?.(); }, 1);
    await producer;
    await w.finish();
    clearInterval(pump);
    assert.ok(received >= 64 * 1024 * 64);
  });
});
