import { Buffer } from 'node:buffer';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { putFiles, EXPORT_MANIFEST_NAME, type PutClient } from '../lib/batch/put.ts';
import { getFiles, type GetClient } from '../lib/batch/get.ts';
import { readManifest, formatManifestLine, type ManifestRecord } from '../lib/batch/manifest.ts';
import { readTar } from '../lib/batch/tar-input.ts';
import type { BatchEvent } from '../lib/batch/progress.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { buildLogicName, makeExt7, makeSizeField } from '../lib/protocol/filename.ts';
import { readTree } from './helpers/files.ts';

// put/get against an in-memory fake of FdfsClient: the batch logic (manifest, resume, retries,
// verification, paths) without a cluster. test/batch-cluster.test.ts runs the real thing.

type UploadSource = Parameters<PutClient['upload']>[0];

class FakeCluster implements PutClient, GetClient {
  readonly files = new Map<string, Buffer>();
  uploads = 0;
  downloads: Array<{ fileId: string; offset: number }> = [];
  /** Return an error to fail this upload attempt (n counts every attempt). */
  uploadFault: ((n: number, size: number) => Error | null) | null = null;
  /** Corrupt what the "storage" keeps (its name then carries the wrong CRC). */
  corruptUpload: ((n: number) => boolean) | null = null;
  /** Cut a download after this many bytes (once per file). */
  cutDownloadAt: number | null = null;
  #cut = new Set<string>();
  /** Serve different bytes than stored (same length). */
  serveWrong: Set<string> = new Set();
  #seq = 0;

  async upload(source: UploadSource, opts: { ext?: string; size?: number } = {}): Promise<string> {
    const n = ++this.uploads;
    let data: Buffer;
    if (source instanceof Uint8Array) data = Buffer.from(source);
    else if (typeof source === 'string') data = fs.readFileSync(source);
    else {
      const chunks: Buffer[] = [];
      let got = 0;
      for await (const c of source as AsyncIterable<Uint8Array>) {
        chunks.push(Buffer.from(c));
        got += c.length;
        if (opts.size !== undefined && got >= opts.size) break;
      }
      data = Buffer.concat(chunks);
      if (opts.size !== undefined && data.length !== opts.size) throw new FdfsError('EIO', 'content short');
    }
    const fault = this.uploadFault?.(n, data.length);
    if (fault) throw fault;
    const stored = this.corruptUpload?.(n) ? Buffer.concat([data.subarray(0, Math.max(0, data.length - 1)), Buffer.from([0x55])]).subarray(0, data.length) : data;
    const seq = ++this.#seq;
    const name = buildLogicName({
      storePathIndex: 0, high: seq >> 8 & 0xff, low: seq & 0xff,
      header: { source: { ip: '127.0.0.2' }, timestamp: 1700000000 + seq, sizeField: makeSizeField('normal', stored.length, seq), crc32: crc32(stored) },
      ext7: makeExt7(opts.ext ?? ''),
    });
    const id = `group1/${name}`;
    this.files.set(id, stored);
    return id;
  }

  async delete(fileId: string): Promise<void> {
    if (!this.files.delete(fileId)) throw new FdfsError('ENOENT', 'no such file', { subject: fileId });
  }

  async download(fileId: string, opts: { offset?: number; length?: number } = {}): Promise<Readable> {
    const data = this.files.get(fileId);
    if (!data) throw new FdfsError('ENOENT', 'no such file', { subject: fileId });
    const offset = opts.offset ?? 0;
    this.downloads.push({ fileId, offset });
    let body = data.subarray(offset);
    if (this.serveWrong.has(fileId)) body = Buffer.from(body).fill(0x41);
    const cut = this.cutDownloadAt;
    if (cut !== null && !this.#cut.has(fileId) && body.length > cut) {
      this.#cut.add(fileId);
      const first = body.subarray(0, cut);
      return new Readable({
        read() {
          this.push(first);
          this.destroy(new FdfsError('ECONNRESET', 'connection reset by peer', { subject: fileId }));
        },
      });
    }
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 64 * 1024) chunks.push(body.subarray(i, i + 64 * 1024));
    return Readable.from(chunks, { objectMode: false });
  }

  async fileInfo(fileId: string): ReturnType<GetClient['fileInfo']> {
    const data = this.files.get(fileId);
    if (!data) throw new FdfsError('ENOENT', 'no such file', { subject: fileId });
    return { fileId, type: 'normal' as const, size: data.length, crc32: crc32(data), timestamp: 1700000000, sourceIp: '', fromServer: true };
  }
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-xfer-'));
}

/** A tree with nested directories, an empty file, a file above the in-memory limit, odd names. */
function makeTree(root: string, n = 30): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const put = (rel: string, data: Buffer, mtime = 1650000000 + files.size) => {
    const abs = path.join(root, ...rel.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, data);
    fs.utimesSync(abs, mtime, mtime);
    files.set(rel, data);
  };
  for (let i = 0; i < n; i++) put(`d${i % 3}/sub${i % 2}/file-${i}.bin`, crypto.randomBytes(100 + i * 37));
  put('empty.txt', Buffer.alloc(0));
  put('big/large.dat', crypto.randomBytes(2 * 1024 * 1024 + 5));
  put('odd name ü.jpg', Buffer.from('unicode and spaces'));
  put('noext', Buffer.from('x'));
  return files;
}

async function manifestOf(file: string): Promise<ManifestRecord[]> {
  const out: ManifestRecord[] = [];
  for await (const r of readManifest(file)) out.push(r);
  return out;
}

describe('put and get (fake cluster)', () => {
  test('directory → manifest → directory is byte-identical, mtimes kept', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const src = path.join(dir, 'src');
    const files = makeTree(src);
    const cluster = new FakeCluster();
    const manifest = path.join(dir, 'm.jsonl');
    const events: BatchEvent[] = [];
    const s = await putFiles({ client: cluster, sources: [src], manifest, concurrency: 4, onEvent: (e) => events.push(e) });
    assert.equal(s.ok, files.size);
    assert.equal(s.failed, 0);
    assert.equal(s.bytes, [...files.values()].reduce((a, b) => a + b.length, 0));
    const recs = await manifestOf(manifest);
    assert.equal(recs.length, files.size);
    for (const r of recs) {
      const data = files.get(r.path)!;
      assert.ok(data, r.path);
      assert.equal(r.size, data.length);
      assert.equal(r.crc32, crc32(data));
      assert.ok(cluster.files.get(r.fileId)!.equals(data));
    }
    assert.equal(recs.find((r) => r.path === 'big/large.dat')!.mtime, fs.statSync(path.join(src, 'big/large.dat')).mtime.getTime() / 1000 | 0);
    assert.ok(recs.find((r) => r.path === 'd0/sub0/file-0.bin')!.fileId.endsWith('.bin'));
    assert.ok(events.some((e) => e.type === 'total' && e.files === files.size));

    const out = path.join(dir, 'out');
    const g = await getFiles({ client: cluster, sources: [manifest], out, concurrency: 3 });
    assert.equal(g.ok, files.size);
    assert.equal(g.failed, 0);
    const back = readTree(out);
    assert.deepEqual([...back.keys()].sort(), [...files.keys()].sort());
    for (const [k, v] of files) assert.ok(back.get(k)!.equals(v), k);
    for (const r of recs) assert.equal(Math.floor(fs.statSync(path.join(out, r.path)).mtimeMs / 1000), r.mtime);
    // No temporary files left behind.
    assert.ok(![...back.keys()].some((k) => k.endsWith('.part')));
  });

  test('an existing manifest is not clobbered; --resume skips what it holds', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const src = path.join(dir, 'src');
    const files = makeTree(src, 40);
    const cluster = new FakeCluster();
    const manifest = path.join(dir, 'm.jsonl');
    // Interrupted after a dozen files (Ctrl-C): the files in flight finish and are recorded.
    const ac = new AbortController();
    let stored = 0;
    const s1 = await putFiles({ client: cluster, sources: [src], manifest, concurrency: 3, signal: ac.signal,
      onEvent: (e) => { if (e.type === 'file' && e.status === 'ok' && ++stored === 12) ac.abort(); } });
    assert.ok(s1.interrupted);
    assert.ok(s1.ok >= 12 && s1.ok < files.size, String(s1.ok));
    assert.equal((await manifestOf(manifest)).length, s1.ok);
    await assert.rejects(putFiles({ client: cluster, sources: [src], manifest }), { code: 'EEXIST' });

    // A file changed since (new mtime) is uploaded again.
    const changed = path.join(src, 'd0/sub0/file-0.bin');
    const firstRecs = await manifestOf(manifest);
    const wasStored = firstRecs.some((r) => r.path === 'd0/sub0/file-0.bin');
    fs.utimesSync(changed, 1660000000, 1660000000);
    const s2 = await putFiles({ client: cluster, sources: [src], manifest, resume: true, concurrency: 5 });
    assert.equal(s2.failed, 0);
    assert.equal(s2.skipped, s1.ok - (wasStored ? 1 : 0));
    assert.equal(s2.ok + s2.skipped, files.size);
    const recs = await manifestOf(manifest);
    const latest = new Map(recs.map((r) => [r.path, r]));
    assert.deepEqual([...latest.keys()].sort(), [...files.keys()].sort());
    // Every path once, except the changed one which a later line supersedes.
    assert.equal(recs.length, files.size + (wasStored ? 1 : 0));
    assert.equal(latest.get('d0/sub0/file-0.bin')!.mtime, 1660000000);
    assert.equal(cluster.uploads, files.size + (wasStored ? 1 : 0));
  });

  test('failed attempts are retried; a file that keeps failing is reported, the rest go on', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(src, `f${i}`), Buffer.alloc(1000 + i, i));
    const cluster = new FakeCluster();
    // Sizes 1003 fail always; 1005 fails once; 1007 is stored corrupted once (CRC check catches it).
    const attempts = new Map<number, number>();
    cluster.uploadFault = (_n, size) => {
      attempts.set(size, (attempts.get(size) ?? 0) + 1);
      if (size === 1003) return new FdfsError('ECONNREFUSED', 'cannot connect', { subject: '127.0.0.2:23000' });
      if (size === 1005 && attempts.get(size) === 1) return new FdfsError('ECONNRESET', 'reset');
      return null;
    };
    let corrupted = 0;
    cluster.corruptUpload = () => cluster.uploads > 0 && corrupted++ === 0;
    const manifest = path.join(dir, 'm.jsonl');
    const events: BatchEvent[] = [];
    const s = await putFiles({ client: cluster, sources: [src], manifest, concurrency: 2, retries: 2, retryDelayMs: 1, onEvent: (e) => events.push(e) });
    assert.equal(s.failed, 1);
    assert.equal(s.ok, 9);
    assert.equal(s.failures[0]!.path, 'f3');
    assert.equal(s.failures[0]!.code, 'ECONNREFUSED');
    assert.equal(attempts.get(1003), 3);
    assert.ok(events.filter((e) => e.type === 'retry').length >= 3);
    const recs = await manifestOf(manifest);
    assert.deepEqual(recs.map((r) => r.path).sort(), ['f0', 'f1', 'f2', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9']);
    // The corrupted copy was deleted again; only verified files remain.
    assert.equal(cluster.files.size, 9);
    for (const r of recs) assert.equal(crc32(cluster.files.get(r.fileId)!), r.crc32);
  });

  test('tar sources: file, gzip file and a stream on stdin, big entries streamed', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const entries = new Map<string, Buffer>([
      ['a/one.txt', Buffer.from('one')],
      ['a/b/two.bin', crypto.randomBytes(5000)],
      ['big.iso', crypto.randomBytes(3 * 1024 * 1024 + 1)],
      ['zero', Buffer.alloc(0)],
    ]);
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    const packed = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
    for (const [name, data] of entries) await new Promise<void>((r, j) => pack.entry({ name, mtime: new Date(1690000000 * 1000) }, data, (e) => (e ? j(e) : r())));
    await new Promise<void>((r) => pack.entry({ name: 'a/link', type: 'symlink', linkname: 'one.txt' }, () => r()));
    pack.finalize();
    await packed;
    const tarBuf = Buffer.concat(chunks);
    fs.writeFileSync(path.join(dir, 'in.tar'), tarBuf);
    fs.writeFileSync(path.join(dir, 'in.tar.gz'), zlib.gzipSync(tarBuf));
    const stdin = new PassThrough();
    (async () => { for (let i = 0; i < tarBuf.length; i += 7000) { stdin.write(tarBuf.subarray(i, i + 7000)); await new Promise((r) => setImmediate(r)); } stdin.end(); })();
    for (const [label, sources, extra] of [
      ['tar', [path.join(dir, 'in.tar')], {}],
      ['gz', [path.join(dir, 'in.tar.gz')], {}],
      ['stdin', ['-'], { stdin }],
    ] as const) {
      const cluster = new FakeCluster();
      const manifest = path.join(dir, `${label}.jsonl`);
      const warnings: string[] = [];
      const s = await putFiles({ client: cluster, sources: [...sources], manifest, concurrency: 3, ...extra,
        onEvent: (e) => { if (e.type === 'warning') warnings.push(e.message); } });
      assert.equal(s.ok, entries.size, label);
      assert.equal(s.failed, 0, label);
      assert.deepEqual(warnings, ['skipped symlink entry'], label);
      const recs = await manifestOf(manifest);
      for (const r of recs) {
        assert.ok(cluster.files.get(r.fileId)!.equals(entries.get(r.path)!), `${label} ${r.path}`);
        assert.equal(r.mtime, 1690000000);
      }
      // Round trip into a tar archive and back.
      const outTar = path.join(dir, `${label}-out.tar`);
      const g = await getFiles({ client: cluster, sources: [manifest], tar: outTar, bufferLimit: 64 * 1024 });
      assert.equal(g.ok, entries.size);
      const back = new Map<string, Buffer>();
      for await (const e of readTar(fs.createReadStream(outTar), { bufferLimit: 1024 })) {
        const parts: Buffer[] = [];
        if (e.data) parts.push(e.data);
        else for await (const c of e.stream!) parts.push(c as Buffer);
        back.set(e.path, Buffer.concat(parts));
      }
      assert.deepEqual([...back.keys()].sort(), [...entries.keys()].sort());
      for (const [k, v] of entries) assert.ok(back.get(k)!.equals(v), k);
    }
  });

  test('hostile manifest paths are refused, nothing is written outside --out', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cluster = new FakeCluster();
    const id = await cluster.upload(Buffer.from('payload'), {});
    const rec = { fileId: id, size: 7, crc32: crc32(Buffer.from('payload')), mtime: 1700000000 };
    const hostile = ['../escape.txt', '/tmp/abs-escape.txt', 'a/../../escape2.txt', '..\\escape3.txt', 'C:\\escape4.txt', ''];
    const manifest = path.join(dir, 'evil.jsonl');
    fs.writeFileSync(manifest, [...hostile, 'fine/ok.txt'].map((p) => formatManifestLine({ path: p, ...rec })).join(''));
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    // A symlink planted inside the output directory must not carry writes out either.
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(out, 'trap'));
    fs.appendFileSync(manifest, formatManifestLine({ path: 'trap/inside.txt', ...rec }));
    const failed: string[] = [];
    const s = await getFiles({ client: cluster, sources: [manifest], out, onEvent: (e) => { if (e.type === 'file' && e.status === 'failed') failed.push(e.path); } });
    assert.equal(s.ok, 1);
    // The empty path is not even a record (manifest lines need a path).
    assert.equal(s.failed, hostile.length - 1 + 1);
    assert.deepEqual(failed.sort(), [...hostile.filter(Boolean), 'trap/inside.txt'].sort());
    assert.deepEqual(readTree(out).get('fine/ok.txt')?.toString(), 'payload');
    assert.deepEqual(fs.readdirSync(outside), []);
    assert.ok(!fs.existsSync(path.join(dir, 'escape.txt')));
    assert.ok(!fs.existsSync('/tmp/abs-escape.txt'));
    assert.ok(!fs.existsSync(path.join(path.dirname(dir), 'escape2.txt')));
    // The same paths never become tar entry names either.
    const t2 = path.join(dir, 'o.tar');
    const s2 = await getFiles({ client: cluster, sources: [manifest], tar: t2 });
    assert.equal(s2.ok, 2);
    const names: string[] = [];
    for await (const e of readTar(fs.createReadStream(t2))) names.push(e.path);
    assert.deepEqual(names.sort(), ['fine/ok.txt', 'trap/inside.txt']);
  });

  test('get continues a broken download at its offset, refuses wrong content, resumes a tree', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cluster = new FakeCluster();
    const big = crypto.randomBytes(1024 * 1024);
    const bigId = await cluster.upload(big, { ext: 'bin' });
    const badId = await cluster.upload(Buffer.from('the real content'), {});
    const okId = await cluster.upload(Buffer.from('small'), {});
    cluster.serveWrong.add(badId);
    cluster.cutDownloadAt = 300 * 1024;
    const out = path.join(dir, 'out');
    const events: BatchEvent[] = [];
    // File IDs as sources: size and CRC-32 come from the names.
    const s = await getFiles({ client: cluster, sources: [bigId, badId, okId], out, retries: 2, retryDelayMs: 1, onEvent: (e) => events.push(e) });
    assert.equal(s.ok, 2);
    assert.equal(s.failed, 1);
    assert.equal(s.failures[0]!.fileId, badId);
    assert.match(s.failures[0]!.error, /CRC-32 mismatch/);
    assert.ok(fs.readFileSync(path.join(out, bigId)).equals(big));
    assert.ok(!fs.existsSync(path.join(out, badId)));
    const bigFetches = cluster.downloads.filter((d) => d.fileId === bigId).map((d) => d.offset);
    assert.deepEqual(bigFetches, [0, 300 * 1024]);
    // --resume: verified files are skipped, a damaged one is fetched again.
    cluster.serveWrong.clear();
    fs.writeFileSync(path.join(out, okId), 'SMALL');
    const s2 = await getFiles({ client: cluster, sources: [bigId, badId, okId], out, resume: true });
    assert.deepEqual([s2.ok, s2.skipped, s2.failed], [2, 1, 0]);
    assert.equal(fs.readFileSync(path.join(out, okId), 'utf8'), 'small');
    await assert.rejects(getFiles({ client: cluster, sources: ['no-such-manifest-or-id'], out }), { code: 'ENOENT' });
    await assert.rejects(getFiles({ client: cluster, sources: [okId], tar: path.join(dir, 'x.tar'), resume: true }), { code: 'EINVAL' });
  });

  test('an archive made by export is checked against its manifest when loaded', async (t) => {
    const dir = tmp();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const good = Buffer.from('good file');
    const lines = formatManifestLine({ path: 'group1/M00/00/00/a.txt', fileId: 'group1/M00/00/00/a.txt', size: good.length, crc32: crc32(good), mtime: 1 })
      + formatManifestLine({ path: 'group1/M00/00/00/b.txt', fileId: 'group1/M00/00/00/b.txt', size: 3, crc32: 12345, mtime: 1 });
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    const packed = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
    pack.entry({ name: 'group1/M00/00/00/a.txt' }, good);
    pack.entry({ name: 'group1/M00/00/00/b.txt' }, Buffer.from('bad'));
    pack.entry({ name: EXPORT_MANIFEST_NAME }, Buffer.from(lines));
    pack.finalize();
    await packed;
    fs.writeFileSync(path.join(dir, 'export.tar'), Buffer.concat(chunks));
    const cluster = new FakeCluster();
    const manifest = path.join(dir, 'm.jsonl');
    const s = await putFiles({ client: cluster, sources: [path.join(dir, 'export.tar')], manifest });
    assert.equal(s.ok, 2);
    assert.equal(s.failed, 1);
    assert.equal(s.failures[0]!.path, 'group1/M00/00/00/b.txt');
    assert.equal(cluster.files.size, 2);
    assert.ok(!(await manifestOf(manifest)).some((r) => r.path === EXPORT_MANIFEST_NAME));
  });
});
