import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { crc32 } from '../lib/protocol/crc32.ts';
import { startCluster, runCli, tempDir, waitFor, type Cluster } from './helpers/cluster.ts';

// The user's story: a tracker and two storages of group1 as real processes, driven with the
// `fdfs` CLI exactly as the README shows.

let cluster: Cluster;
let work: string;
const cli = (...args: string[]) => runCli(['--tracker', cluster.trackerAddr, ...args]);

before(async () => {
  cluster = await startCluster({ storages: 2 });
  work = tempDir('fdfs-cli-');
  // Both storages ACTIVE before the first upload; bounded wait on the listed status.
  await waitFor('two ACTIVE storages', async () => {
    const r = await cli('list', '--json');
    if (r.code !== 0) return false;
    const groups = JSON.parse(r.stdout).groups as Array<{ storages: Array<{ status: string }> }>;
    return groups[0]?.storages.filter((s) => s.status === 'ACTIVE').length === 2;
  }, 20000, 200);
});

after(async () => {
  await cluster?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('upload, download, info, meta, delete round trip through the CLI', async () => {
  const src = path.join(work, 'hello.txt');
  const content = crypto.randomBytes(300_000);
  fs.writeFileSync(src, content);

  const up = await cli('upload', src, '--meta', 'author=ann', '--meta', 'width=160');
  assert.equal(up.code, 0, up.stderr);
  const fileId = up.stdout.trim();
  assert.match(fileId, /^group1\/M00\/[0-9A-F]{2}\/[0-9A-F]{2}\/[A-Za-z0-9_-]{27}[0-9]{3}\.txt$/);

  const dest = path.join(work, 'back.txt');
  const down = await cli('download', fileId, dest);
  assert.equal(down.code, 0, down.stderr);
  assert.ok(fs.readFileSync(dest).equals(content), 'downloaded bytes equal the upload');

  const ranged = await cli('download', fileId, '-', '--offset', '1000', '--length', '10');
  assert.equal(ranged.code, 0, ranged.stderr);

  const info = await cli('info', fileId, '--json');
  assert.equal(info.code, 0, info.stderr);
  const i = JSON.parse(info.stdout);
  assert.equal(i.size, content.length);
  assert.equal(i.crc32, crc32(content));

  const meta = await cli('meta', 'get', fileId);
  assert.equal(meta.code, 0, meta.stderr);
  assert.deepEqual(meta.stdout.trim().split('\n'), ['author=ann', 'width=160']);

  const merge = await cli('meta', 'set', fileId, 'height=80', '--merge');
  assert.equal(merge.code, 0, merge.stderr);
  const meta2 = await cli('meta', 'get', fileId);
  assert.deepEqual(meta2.stdout.trim().split('\n'), ['author=ann', 'height=80', 'width=160']);

  const del = await cli('delete', fileId);
  assert.equal(del.code, 0, del.stderr);
  const gone = await cli('download', fileId, path.join(work, 'gone.txt'));
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /ENOENT/);
  assert.ok(gone.stderr.includes(fileId), 'the error names the file ID');
  assert.equal(gone.stderr.trim().split('\n').length, 1, 'one line on stderr');
});

test('list shows group1 with both storages ACTIVE', async () => {
  const r = await cli('list');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /group1/);
  assert.equal((r.stdout.match(/ACTIVE/g) ?? []).length >= 2, true, r.stdout);
  assert.match(r.stdout, /127\.0\.0\.2/);
  assert.match(r.stdout, /127\.0\.0\.3/);
});

test('bad file IDs and unreachable trackers give one-line errors and non-zero exit', async () => {
  const bad = await cli('download', 'group1/M00/00/00/../../etc/passwd', path.join(work, 'x'));
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /EINVAL/);
  const wrongGroup = await cli('info', 'nogroup/M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', '--server');
  assert.notEqual(wrongGroup.code, 0);
  const unreachable = await runCli(['--tracker', '127.0.0.1:1', 'list']);
  assert.notEqual(unreachable.code, 0);
  assert.match(unreachable.stderr, /ECONNREFUSED.*127\.0\.0\.1:1/);
  assert.equal(unreachable.stderr.trim().split('\n').length, 1);
});

test('upload from stdin with --ext', async () => {
  const r = await runCli(['--tracker', cluster.trackerAddr, 'upload', '-', '--ext', 'bin'], { input: Buffer.from('from stdin\n') });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /\.bin$/);
  const d = await cli('download', r.stdout.trim(), '-');
  assert.equal(d.stdout, 'from stdin\n');
});
