import { Buffer } from 'node:buffer';
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { fdfsCommand } from '../lib/util/daemon-process.ts';
import { readTar } from '../lib/batch/tar-input.ts';
import { readManifest, type ManifestRecord } from '../lib/batch/manifest.ts';
import { EXPORT_MANIFEST_NAME } from '../lib/batch/put.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { startCluster, runCli, tempDir, waitFor, type Cluster } from './helpers/cluster.ts';
import { readTree } from './helpers/files.ts';

// The batch tools as a user runs them: real tracker and storage processes, the `fdfs` CLI as a
// child process, files compared byte for byte.

let cluster: Cluster;
let work: string;
const cli = (args: string[], opts: { input?: Buffer | string; timeoutMs?: number } = {}) =>
  runCli(['--tracker', cluster.trackerAddr, ...args], { timeoutMs: 120000, ...opts });

async function storageActive(c: Cluster): Promise<boolean> {
  const r = await runCli(['--tracker', c.trackerAddr, 'list', '--json']);
  return r.code === 0 && r.stdout.includes('"ACTIVE"');
}

before(async () => {
  cluster = await startCluster({ storages: 1 });
  work = tempDir('fdfs-batch-');
  await waitFor('storage ACTIVE', () => storageActive(cluster), 30000, 200);
});

after(async () => {
  await cluster?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function makeTree(root: string, n: number, opts: { big?: number } = {}): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const rel = `d${i % 4}/s${i % 3}/f${i}.dat`;
    const data = crypto.randomBytes(64 + ((i * 997) % 5000));
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
    files.set(rel, data);
  }
  fs.writeFileSync(path.join(root, 'empty'), '');
  files.set('empty', Buffer.alloc(0));
  if (opts.big) {
    const data = crypto.randomBytes(opts.big);
    fs.writeFileSync(path.join(root, 'big.bin'), data);
    files.set('big.bin', data);
  }
  return files;
}

function assertSameTree(actual: Map<string, Buffer>, expected: Map<string, Buffer>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [k, v] of expected) assert.ok(actual.get(k)!.equals(v), `${k} differs`);
}

async function manifestOf(file: string): Promise<ManifestRecord[]> {
  const out: ManifestRecord[] = [];
  for await (const r of readManifest(file)) out.push(r);
  return out;
}

async function tarToMap(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const e of readTar(Readable.from([buf]), { bufferLimit: 1 << 30 })) out.set(e.path, e.data!);
  return out;
}

async function tarOf(files: Map<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer); })();
  for (const [name, data] of files) await new Promise<void>((r, j) => pack.entry({ name, mtime: new Date(1700000000 * 1000) }, data, (e) => (e ? j(e) : r())));
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** `fdfs …` with stdin left open for the test to feed. */
function spawnCli(args: string[]): { child: ChildProcessWithoutNullStreams; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const cmd = fdfsCommand();
  const child = spawn(cmd.command, [...cmd.args, '--tracker', cluster.trackerAddr, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
  return { child, done };
}

function lineCount(file: string): number {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

describe('fdfs put / get', () => {
  test('a directory goes up and comes back byte-identical', async () => {
    const src = path.join(work, 'tree');
    const files = makeTree(src, 120, { big: 3 * 1024 * 1024 + 11 });
    fs.symlinkSync(path.join(src, 'empty'), path.join(src, 'a-link'));
    const manifest = path.join(work, 'tree.jsonl');
    const put = await cli(['put', src, '--manifest', manifest, '--concurrency', '6', '--exclude', '*.tmp']);
    assert.equal(put.code, 0, put.stderr);
    // Not a terminal: one line per stored file, the summary and the skipped symlink on stderr.
    const lines = put.stdout.trim().split('\n');
    assert.equal(lines.length, files.size);
    assert.match(lines[0]!, /^stored\t\S+\tgroup1\/M00\//);
    assert.match(put.stderr, /warning: a-link: skipped symbolic link/);
    assert.match(put.stderr, new RegExp(`put: ${files.size} stored, 0 skipped, 0 failed`));
    const recs = await manifestOf(manifest);
    assert.equal(recs.length, files.size);
    for (const r of recs) assert.equal(r.crc32, crc32(files.get(r.path)!));

    const out = path.join(work, 'tree-back');
    const get = await cli(['get', manifest, '--out', out, '-j', '5']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stderr, new RegExp(`get: ${files.size} written`));
    assertSameTree(readTree(out), files);

    // --resume on a complete tree verifies and skips everything.
    const again = await cli(['get', manifest, '--out', out, '--resume', '--quiet']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, new RegExp(`get: 0 written, ${files.size} skipped, 0 failed`));

    // --json: one object per file and a summary.
    const js = await cli(['get', recs[0]!.fileId, '--tar', path.join(work, 'one.tar'), '--json']);
    assert.equal(js.code, 0, js.stderr);
    const objs = js.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(objs.at(-1).type, 'summary');
    assert.equal(objs.at(-1).ok, 1);
  });

  test('tar archives: a .tar.gz file and a stream on stdin; get --tar - writes a tar to stdout', async () => {
    const files = new Map<string, Buffer>([
      ['x/a.txt', Buffer.from('alpha')],
      ['x/y/b.bin', crypto.randomBytes(70000)],
      ['large.iso', crypto.randomBytes(2 * 1024 * 1024 + 3)],
    ]);
    const tarBuf = await tarOf(files);
    const gz = path.join(work, 'in.tar.gz');
    fs.writeFileSync(gz, zlib.gzipSync(tarBuf));
    const m1 = path.join(work, 'gz.jsonl');
    const r1 = await cli(['put', gz, '-m', m1]);
    assert.equal(r1.code, 0, r1.stderr);
    const m2 = path.join(work, 'stdin.jsonl');
    const r2 = await cli(['put', '-', '-m', m2], { input: tarBuf });
    assert.equal(r2.code, 0, r2.stderr);
    const cmd = fdfsCommand();
    for (const m of [m1, m2]) {
      const recs = await manifestOf(m);
      assert.deepEqual(recs.map((r) => r.path).sort(), [...files.keys()].sort());
      const { stdout, stderr, code } = await new Promise<{ stdout: Buffer; stderr: string; code: number | null }>((resolve, reject) => {
        const child = spawn(cmd.command, [...cmd.args, '--tracker', cluster.trackerAddr, 'get', m, '--tar', '-']);
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (c) => out.push(c));
        child.stderr.on('data', (c) => err.push(c));
        child.on('error', reject);
        child.on('close', (c) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), code: c }));
      });
      assert.equal(code, 0, stderr);
      // Per-file lines go to stderr when stdout carries the archive.
      assert.match(stderr, /written\tx\/a\.txt\t/);
      assertSameTree(await tarToMap(stdout), files);
    }
  });

  test('a killed run resumes: nothing lost, nothing stored twice in the manifest', async () => {
    const src = path.join(work, 'many');
    const files = makeTree(src, 600);
    const manifest = path.join(work, 'many.jsonl');
    const run = spawnCli(['put', src, '-m', manifest, '--concurrency', '1', '--quiet']);
    run.child.stdin.end();
    await waitFor('some files stored', () => lineCount(manifest) >= 40, 60000, 5);
    run.child.kill('SIGKILL');
    const killed = await run.done;
    assert.equal(killed.code, null, 'killed before it finished');
    const partial = await manifestOf(manifest);
    assert.ok(partial.length >= 40 && partial.length < files.size, String(partial.length));

    const resumed = await cli(['put', src, '-m', manifest, '--resume', '--quiet']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`put: ${files.size - partial.length} stored, ${partial.length} skipped, 0 failed`));
    const recs = await manifestOf(manifest);
    const paths = recs.map((r) => r.path);
    assert.equal(new Set(paths).size, paths.length, 'no path twice');
    assert.deepEqual([...paths].sort(), [...files.keys()].sort());
    const out = path.join(work, 'many-back');
    const get = await cli(['get', manifest, '--out', out, '--quiet']);
    assert.equal(get.code, 0, get.stderr);
    assertSameTree(readTree(out), files);
  });

  test('a storage that fails mid-run: failures reported, exit 1, acknowledged files kept; --resume completes', async () => {
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 24; i++) files.set(`p/${i}.bin`, crypto.randomBytes(1000 + i));
    const tarBuf = await tarOf(files);
    // Split the archive after the 8th entry (512-byte header + padded data each).
    let cut = 0;
    let k = 0;
    for (const data of files.values()) {
      if (k++ === 8) break;
      cut += 512 + Math.ceil(data.length / 512) * 512;
    }
    const manifest = path.join(work, 'failing.jsonl');
    const run = spawnCli(['put', '-', '-m', manifest, '--concurrency', '2', '--retries', '1']);
    run.child.stdin.write(tarBuf.subarray(0, cut));
    await waitFor('first files stored', () => lineCount(manifest) >= 8, 30000, 10);
    await cluster.storages[0]!.kill9();
    run.child.stdin.end(tarBuf.subarray(cut));
    const r = await run.done;
    assert.equal(r.code, 1, r.stderr);
    const stored = await manifestOf(manifest);
    assert.ok(stored.length >= 8 && stored.length < files.size, String(stored.length));
    assert.match(r.stderr, new RegExp(`put: ${stored.length} stored, 0 skipped, ${files.size - stored.length} failed`));
    assert.match(r.stderr, /failed: p\/\d+\.bin: E[A-Z]+/);

    await cluster.startStorage(0);
    await waitFor('storage ACTIVE again', () => storageActive(cluster), 30000, 200);
    // Every acknowledged file survived the crash.
    const out = path.join(work, 'failing-back');
    const g1 = await cli(['get', manifest, '--out', out, '--quiet']);
    assert.equal(g1.code, 0, g1.stderr);
    const resumed = await cli(['put', '-', '-m', manifest, '--resume', '--quiet'], { input: tarBuf });
    assert.equal(resumed.code, 0, resumed.stderr);
    const g2 = await cli(['get', manifest, '--out', out, '--resume', '--quiet']);
    assert.equal(g2.code, 0, g2.stderr);
    assertSameTree(readTree(out), files);
  });

  test('hostile manifest paths are refused by the CLI', async () => {
    const one = path.join(work, 'one.txt');
    fs.writeFileSync(one, 'content');
    const m = path.join(work, 'hostile-src.jsonl');
    assert.equal((await cli(['put', one, '-m', m, '--quiet'])).code, 0);
    const rec = (await manifestOf(m))[0]!;
    const evil = path.join(work, 'hostile.jsonl');
    fs.writeFileSync(evil, ['../../outside.txt', '/etc/fdfs-abs.txt', 'ok.txt']
      .map((p) => JSON.stringify({ ...rec, path: p })).join('\n') + '\n');
    const out = path.join(work, 'hostile-out');
    const r = await cli(['get', evil, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failed: \.\.\/\.\.\/outside\.txt.*EINVAL/);
    assert.match(r.stderr, /failed: \/etc\/fdfs-abs\.txt.*EINVAL/);
    assert.deepEqual(fs.readdirSync(out), ['ok.txt']);
    assert.ok(!fs.existsSync(path.join(work, '..', 'outside.txt')));
    assert.ok(!fs.existsSync('/etc/fdfs-abs.txt'));
  });
});

describe('fdfs ls / export', () => {
  test('ls lists the live files; export → put into another cluster → get is identical', async () => {
    const src = path.join(work, 'exp');
    const files = makeTree(src, 30, { big: 1024 * 1024 + 1 });
    const m = path.join(work, 'exp.jsonl');
    assert.equal((await cli(['put', src, '-m', m, '--quiet'])).code, 0);
    const recs = await manifestOf(m);
    const del = recs.find((r) => r.path === 'd0/s0/f0.dat')!;
    assert.equal((await cli(['delete', del.fileId])).code, 0);

    const ls = await cli(['ls', 'group1']);
    assert.equal(ls.code, 0, ls.stderr);
    const listed = new Map(ls.stdout.trim().split('\n').map((l) => { const [id, size, time] = l.split('\t'); return [id!, { size: Number(size), time: time! }]; }));
    for (const r of recs) {
      if (r === del) assert.ok(!listed.has(r.fileId), 'deleted file not listed');
      else {
        assert.equal(listed.get(r.fileId)?.size, r.size, r.path);
        assert.match(listed.get(r.fileId)!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      }
    }
    const lsJson = await cli(['ls', 'group1', '--json']);
    assert.equal(lsJson.code, 0, lsJson.stderr);
    const jl = lsJson.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(jl.length, listed.size);
    assert.equal(typeof jl[0].timestamp, 'number');
    const future = await cli(['ls', 'group1', '--since', String(Math.floor(Date.now() / 1000) + 3600)]);
    assert.equal(future.code, 0, future.stderr);
    assert.equal(future.stdout, '');

    const archive = path.join(work, 'group1.tar');
    const ex = await cli(['export', 'group1', '--tar', archive, '--quiet']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stderr, new RegExp(`export: ${listed.size} exported`));
    const entries = await tarToMap(fs.readFileSync(archive));
    assert.ok(entries.has(EXPORT_MANIFEST_NAME));
    // The group holds this test's files and those of the tests before it.
    assert.deepEqual([...entries.keys()].filter((n) => n !== EXPORT_MANIFEST_NAME).sort(), [...listed.keys()].sort());
    const byId = new Map(recs.filter((r) => r !== del).map((r) => [r.fileId, files.get(r.path)!]));
    for (const [id, data] of byId) assert.ok(entries.get(id)!.equals(data), id);
    const exportManifest = entries.get(EXPORT_MANIFEST_NAME)!.toString().trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(exportManifest.length, listed.size);
    for (const r of exportManifest) assert.equal(r.crc32, crc32(entries.get(r.path)!));

    // Another cluster: load the archive, then download everything and compare.
    const other = await startCluster({ storages: 1 });
    try {
      await waitFor('second cluster ACTIVE', () => storageActive(other), 30000, 200);
      const m2 = path.join(work, 'moved.jsonl');
      const load = await runCli(['--tracker', other.trackerAddr, 'put', archive, '-m', m2, '--quiet'], { timeoutMs: 60000 });
      assert.equal(load.code, 0, load.stderr);
      const moved = await manifestOf(m2);
      assert.equal(moved.length, listed.size);
      const out = path.join(work, 'moved-back');
      const get = await runCli(['--tracker', other.trackerAddr, 'get', m2, '--out', out, '--quiet'], { timeoutMs: 60000 });
      assert.equal(get.code, 0, get.stderr);
      const back = readTree(out);
      assert.equal(back.size, listed.size);
      // Paths in the new manifest are the old file IDs: the migration map.
      for (const [id, data] of byId) assert.ok(back.get(id)!.equals(data), id);
      assert.ok(moved.every((r) => listed.has(r.path) && r.fileId !== r.path));
    } finally {
      await other.stop();
    }
  });
});

describe('on Deno', () => {
  // The same TypeScript sources run on Deno 2 (the `deno` npm package is a devDependency).
  let root = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
  const denoBin = path.join(root, 'node_modules', '.bin', 'deno');
  const deno = { command: denoBin, args: ['run', '-A', path.join(root, 'cli', 'main.ts')] };

  test('put a directory and a tar on stdin, get them back, under Deno', { skip: !fs.existsSync(denoBin) && 'deno not installed' }, async () => {
    const src = path.join(work, 'deno-src');
    const files = makeTree(src, 20, { big: 2 * 1024 * 1024 + 7 });
    const run = (args: string[], input?: Buffer) => runCli(['--tracker', cluster.trackerAddr, ...args], { command: deno, timeoutMs: 120000, input });
    const m = path.join(work, 'deno.jsonl');
    const put = await run(['put', src, '-m', m, '--quiet']);
    assert.equal(put.code, 0, put.stderr);
    const out = path.join(work, 'deno-out');
    const get = await run(['get', m, '--out', out, '--quiet']);
    assert.equal(get.code, 0, get.stderr);
    assertSameTree(readTree(out), files);
    const archive = path.join(work, 'deno.tar');
    assert.equal((await run(['get', m, '--tar', archive, '--quiet'])).code, 0);
    const m2 = path.join(work, 'deno-stdin.jsonl');
    const again = await run(['put', '-', '-m', m2, '--quiet'], fs.readFileSync(archive));
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await manifestOf(m2)).map((r) => r.path).sort(), [...files.keys()].sort());
  });
});
