import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { runCli } from './helpers/cluster.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { FakeStorage, FakeTracker, closedPort, groupStat, storageRecord } from './client-fakes.ts';

// The client commands of `fdfs` as a user runs them, against a fake tracker and storage.

let storage: FakeStorage;
let tracker: FakeTracker;
let work: string;
const cli = (args: string[], opts: Parameters<typeof runCli>[1] = {}) =>
  runCli(['--tracker', tracker.address, ...args], { ...opts, env: { FDFS_TRACKER: '', ...opts.env } });

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-client-cli-'));
  storage = await new FakeStorage('127.0.0.3').start();
  tracker = await new FakeTracker({
    storage: { ip: storage.ip, port: storage.port },
    groups: [groupStat('group1', { storage_port: storage.port, storage_count: 2 })],
    storages: [storageRecord('127.0.0.3', storage.port), storageRecord('127.0.0.4', storage.port, { status: 5, src_id: '127.0.0.3' })],
  }).start();
});

after(async () => {
  await tracker.close();
  await storage.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function oneErrorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  return lines[0]!;
}

test('upload, download, info, meta, delete', async () => {
  const src = path.join(work, 'photo.jpg');
  const content = crypto.randomBytes(300_000);
  fs.writeFileSync(src, content);

  const up = await cli(['upload', src, '--meta', 'width=160', '--meta', 'author=ann']);
  assert.equal(up.code, 0, up.stderr);
  const fileId = up.stdout.trim();
  assert.match(fileId, /^group1\/M00\/00\/[0-9A-F]{2}\/[A-Za-z0-9_-]{27}\d{3}\.jpg$/);

  const cwdDest = path.join(work, 'dl');
  fs.mkdirSync(cwdDest);
  const down = await cli(['download', fileId, cwdDest]);
  assert.equal(down.code, 0, down.stderr);
  assert.ok(fs.readFileSync(path.join(cwdDest, path.basename(fileId))).equals(content), 'into a directory: the name part of the file ID');

  const ranged = await cli(['download', fileId, '-', '--offset', '1000', '--length', '10']);
  assert.equal(ranged.code, 0, ranged.stderr);
  assert.equal(ranged.stdout, content.subarray(1000, 1010).toString());

  const info = await cli(['info', fileId, '--json']);
  assert.equal(info.code, 0, info.stderr);
  const i = JSON.parse(info.stdout);
  assert.equal(i.type, 'normal');
  assert.equal(i.size, content.length);
  assert.equal(i.crc32, crc32(content));
  assert.equal(i.crc32Hex, `0x${crc32(content).toString(16).padStart(8, '0')}`);
  assert.equal(i.sourceIp, '127.0.0.2');
  assert.match(i.created, /^\d{4}-\d\d-\d\dT/);

  const text = await cli(['info', fileId]);
  assert.match(text.stdout, /^type: +normal$/m);
  assert.match(text.stdout, new RegExp(`^crc32: +${i.crc32Hex}$`, 'm'));

  const meta = await cli(['meta', 'get', fileId]);
  assert.equal(meta.code, 0, meta.stderr);
  assert.deepEqual(meta.stdout.trim().split('\n'), ['author=ann', 'width=160']);
  const merge = await cli(['meta', 'set', fileId, 'height=80', 'note=a=b', '--merge']);
  assert.equal(merge.code, 0, merge.stderr);
  const meta2 = await cli(['meta', 'get', fileId, '--json']);
  assert.deepEqual(JSON.parse(meta2.stdout), { author: 'ann', height: '80', note: 'a=b', width: '160' });
  const over = await cli(['meta', 'set', fileId, 'only=1']);
  assert.equal(over.code, 0, over.stderr);
  assert.equal((await cli(['meta', 'get', fileId])).stdout, 'only=1\n');

  const del = await cli(['delete', fileId]);
  assert.equal(del.code, 0, del.stderr);
  const gone = await cli(['download', fileId, path.join(work, 'gone.bin')]);
  assert.equal(gone.code, 1);
  const line = oneErrorLine(gone.stderr);
  assert.match(line, /^fdfs: ENOENT: /);
  assert.ok(line.includes(fileId), line);
  assert.equal(fs.existsSync(path.join(work, 'gone.bin')), false);
});

test('upload several files and stdin; --json', async () => {
  const a = path.join(work, 'a.txt');
  const b = path.join(work, 'b.verylongext');
  fs.writeFileSync(a, 'aaa');
  fs.writeFileSync(b, 'bbb');
  const r = await cli(['upload', a, b, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Array<{ source: string; fileId: string }>;
  assert.equal(out.length, 2);
  assert.match(out[0]!.fileId, /\.txt$/);
  assert.match(out[1]!.fileId, /\d{7}$/, 'an extension longer than 6 is dropped, as fdfs_upload_file does');

  const s = await cli(['upload', '-', '--ext', 'bin'], { input: Buffer.from('from stdin\n') });
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout.trim(), /\.bin$/);
  const back = await cli(['download', s.stdout.trim(), '-']);
  assert.equal(back.stdout, 'from stdin\n');

  const missing = await cli(['upload', path.join(work, 'nope.txt'), a]);
  assert.equal(missing.code, 1);
  assert.match(oneErrorLine(missing.stderr), /^fdfs: ENOENT: .*nope\.txt/);
  assert.equal(missing.stdout.trim().split('\n').length, 1, 'the other file is still uploaded');
});

test('list shows groups and storages, readable and as JSON', async () => {
  const r = await cli(['list']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^group1: 2 storages/m);
  assert.match(r.stdout, /ACTIVE +127\.0\.0\.3:\d+ +127\.0\.0\.3 .*\d+s ago/);
  assert.match(r.stdout, /OFFLINE +127\.0\.0\.4:\d+/);
  const j = await cli(['list', 'group1', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const groups = JSON.parse(j.stdout).groups;
  assert.equal(groups[0].group_name, 'group1');
  assert.deepEqual(groups[0].storages.map((s: { status: string }) => s.status), ['ACTIVE', 'OFFLINE']);
  const none = await cli(['list', 'nosuch']);
  assert.equal(none.code, 1);
  assert.match(oneErrorLine(none.stderr), /^fdfs: ENOENT: .*nosuch/);
});

test('trackers from FDFS_TRACKER and from -c client.conf; unreachable ones fail fast', async () => {
  const env = await runCli(['list', '--json'], { env: { FDFS_TRACKER: `127.0.0.1:${await closedPort()},${tracker.address}` } });
  assert.equal(env.code, 0, env.stderr);

  const conf = path.join(work, 'client.conf');
  fs.writeFileSync(conf, `tracker_server = ${tracker.address}\nconnect_timeout = 5\nnetwork_timeout = 10\n`);
  const c = await runCli(['list', '-c', conf], { env: { FDFS_TRACKER: '' } });
  assert.equal(c.code, 0, c.stderr);

  const bad = path.join(work, 'bad.conf');
  fs.writeFileSync(bad, 'tracker_server = \nconnect_timeout = abc\n');
  const b = await runCli(['list', '-c', bad], { env: { FDFS_TRACKER: '' } });
  assert.equal(b.code, 2, 'a config error exits 2, like a usage error');
  assert.match(oneErrorLine(b.stderr), /^fdfs: .*bad\.conf:\d+/);

  const port = await closedPort();
  const t0 = Date.now();
  const u = await runCli(['--tracker', `127.0.0.1:${port}`, 'info', 'group1/M00/00/00/fwAAAmsGnl-AcZFRAAAAKt11vBM733.txt', '--server'], { env: { FDFS_TRACKER: '' } });
  assert.ok(Date.now() - t0 < 10000);
  assert.equal(u.code, 1);
  assert.match(oneErrorLine(u.stderr), new RegExp(`^fdfs: ECONNREFUSED: .*127\\.0\\.0\\.1:${port}`));
});

test('bad input: invalid file IDs and metadata are EINVAL, one line each', async () => {
  const bad = await cli(['download', 'group1/M00/00/00/../../etc/passwd', path.join(work, 'x')]);
  assert.equal(bad.code, 1);
  assert.match(oneErrorLine(bad.stderr), /^fdfs: EINVAL: .*etc\/passwd/);
  const meta = await cli(['meta', 'set', 'group1/M00/00/00/fwAAAmsGnl-AcZFRAAAAKt11vBM733.txt', 'novalue']);
  assert.equal(meta.code, 1);
  assert.match(oneErrorLine(meta.stderr), /^fdfs: EINVAL: .*novalue/);
  const del = await cli(['delete', 'nogroup', 'x/y']);
  assert.equal(del.code, 1);
  assert.equal(del.stderr.trim().split('\n').length, 2, 'one line per failed file ID');
});
