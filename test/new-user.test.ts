import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { Buffer } from 'node:buffer';
import { runCli, startCluster, tempDir, waitFor, type Cluster } from './helpers/cluster.ts';
import { addrOf, storageBase, uploadTo, withConn, type Addr } from './helpers/replication.ts';
import { fdfsCommand, startDaemon } from '../lib/util/daemon-process.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { encodeHeader, decodeHeader } from '../lib/protocol/header.ts';
import { encodeTruncateRequest } from '../lib/protocol/storage-requests.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { FdfsClient } from '../lib/client/client.ts';
import { getFiles } from '../lib/batch/get.ts';

// Issue 14: what a new user met in the first hour, each told as the user did it.

let cluster: Cluster;
let work: string;
let storage: Addr;
const cli = (args: string[], opts: Parameters<typeof runCli>[1] = {}) =>
  runCli([...args, '--tracker', cluster.trackerAddr], { ...opts, env: { FDFS_TRACKER: '', ...opts.env } });

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  return lines[0]!;
}

function binlogLines(base: string): string[] {
  const dir = path.join(base, 'data', 'sync');
  return fs.readdirSync(dir).filter((f) => /^binlog\.\d+$/.test(f))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
}

before(async () => {
  work = tempDir('fdfs-new-user-');
  fs.writeFileSync(path.join(work, 'hello.txt'), 'hello, world\n');
  cluster = await startCluster({ storages: 1 });
  storage = addrOf(cluster.storages[0]!);
});

after(async () => {
  await cluster?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('defect 1: --ext .md gives a usable .md file; the storage refuses an ext that makes an invalid name', async () => {
  const up = await cli(['upload', path.join(work, 'hello.txt'), '--ext', '.md']);
  assert.equal(up.code, 0, up.stderr);
  const id = up.stdout.trim();
  assert.match(id, /[^.]\.md$/, 'one dot before the extension');
  const info = await cli(['info', id]);
  assert.equal(info.code, 0, info.stderr);
  const down = await cli(['download', id, '-']);
  assert.equal(down.stdout, 'hello, world\n');

  // Whatever client sends `.md` (a C client passes it through): EINVAL, nothing stored, no binlog line.
  const base = storageBase(cluster, 0);
  await waitFor('binlog flushed', () => binlogLines(base).some((l) => l.includes(id.split('/').slice(1).join('/'))));
  const linesBefore = binlogLines(base).length;
  for (const ext of ['.md', '..', 'a..b']) {
    await assert.rejects(uploadTo(storage, Buffer.from('x'), { ext }), (err: unknown) => err instanceof FdfsError && err.code === 'EINVAL' && err.remote, ext);
  }
  // A good upload after them is flushed like any other: the refused ones left nothing before it.
  const good = await uploadTo(storage, Buffer.from('good'), { ext: 'txt' });
  await waitFor('binlog flushed', () => binlogLines(base).some((l) => l.includes(good.split('/').slice(1).join('/'))));
  const lines = binlogLines(base);
  assert.equal(lines.length, linesBefore + 1, lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('..')), 'no binlog line names an invalid file');
  const stored: string[] = [];
  const data = path.join(base, 'data');
  for (const h of fs.readdirSync(data).filter((d) => /^[0-9A-F]{2}$/.test(d))) {
    for (const l of fs.readdirSync(path.join(data, h))) stored.push(...fs.readdirSync(path.join(data, h, l)));
  }
  assert.ok(!stored.some((f) => f.includes('..')), stored.join(' '));
});

test('defect 2: a command documented with - accepts it (export --tar -)', async () => {
  const r = await runCli(['export', cluster.group, '--tar', '-', '--tracker', cluster.trackerAddr, '--quiet'], { env: { FDFS_TRACKER: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.length >= 1024, 'a tar archive on stdout');
  assert.doesNotMatch(r.stderr, /Unknown argument/);
});

test('defect 3: a closed stdout (| head -1) ends the command quietly', async () => {
  const files = Array.from({ length: 40 }, (_, i) => {
    const f = path.join(work, `f${i}.txt`);
    fs.writeFileSync(f, `file ${i}\n`);
    return f;
  });
  // The shell pipeline a user types; exit status of fdfs read through a file.
  const cmd = fdfsCommand();
  const status = path.join(work, 'status');
  const quoted = [cmd.command, ...cmd.args, 'upload', ...files, '--tracker', cluster.trackerAddr].map((a) => `'${a}'`).join(' ');
  const r = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('sh', ['-c', `{ ${quoted} 2>${path.join(work, 'err')}; echo $? > ${status}; } | head -1`], { env: { ...process.env, FDFS_TRACKER: '' } });
    let stdout = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr: fs.readFileSync(path.join(work, 'err'), 'utf8') }));
  });
  await waitFor('fdfs exit status', () => fs.existsSync(status) && fs.readFileSync(status, 'utf8').trim() !== '');
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.equal(r.stderr, '', 'no stack trace');
  assert.equal(fs.readFileSync(status, 'utf8').trim(), '0');
});

test('defect 7: meta get on a file without metadata prints nothing; on a missing file says so', async () => {
  const up = await cli(['upload', path.join(work, 'hello.txt')]);
  const id = up.stdout.trim();
  const none = await cli(['meta', 'get', id]);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, '');
  const json = await cli(['meta', 'get', id, '--json']);
  assert.deepEqual(JSON.parse(json.stdout), {});
  const del = await cli(['delete', id]);
  assert.equal(del.code, 0, del.stderr);
  const gone = await cli(['meta', 'get', id]);
  assert.equal(gone.code, 1);
  assert.equal(oneLine(gone.stderr), `fdfs: ENOENT: no such file (${id})`);
});

test('defect 8: messages say what went wrong in the user\'s words, never internals or temp paths', async () => {
  const group = await cli(['upload', path.join(work, 'hello.txt'), '--group', 'group2']);
  assert.equal(group.code, 1);
  assert.match(oneLine(group.stderr), /^fdfs: ENOENT: no such group \(group2, from 127\.0\.0\.1:\d+\)$/);

  const id = (await cli(['upload', path.join(work, 'hello.txt')])).stdout.trim();
  const past = await cli(['download', id, '-', '--offset', '100']);
  assert.equal(past.code, 1);
  assert.equal(oneLine(past.stderr), `fdfs: EINVAL: offset 100 is beyond the file size 13 (${id})`);

  const host = await runCli(['list', '--tracker', 'nosuchhost.invalid:22122', '--connect-timeout', '5'], { env: { FDFS_TRACKER: '' } });
  assert.equal(host.code, 1);
  assert.match(oneLine(host.stderr), /^fdfs: EHOSTUNREACH: host name nosuchhost\.invalid does not resolve \(nosuchhost\.invalid:22122\)$/);

  const stdin = await cli(['upload', '-', '--ext', 'toolong7'], { input: 'x' });
  assert.equal(stdin.code, 1);
  assert.doesNotMatch(stdin.stderr, /fdfs-stdin-|\/tmp\//);
  assert.match(oneLine(stdin.stderr), /\(stdin\)$/);

  const dest = path.join(work, 'no-such-dir', 'out.txt');
  const part = await cli(['download', id, dest]);
  assert.equal(part.code, 1);
  assert.doesNotMatch(part.stderr, /\.part/);
  assert.match(oneLine(part.stderr), /^fdfs: ENOENT: .*out\.txt/);

  // Internals stay out of every message above.
  for (const r of [group, past, host, stdin, part]) assert.doesNotMatch(r.stderr, /SERVICE_QUERY|DOWNLOAD_FILE|refused by/);
});

test('defect 9: a usage error is one line naming the help to read, exit 2', async () => {
  const r = await cli(['upload', path.join(work, 'hello.txt'), '--master', 'group1/M00/00/00/x.txt']);
  assert.equal(r.code, 2);
  assert.equal(oneLine(r.stderr), 'fdfs upload: --master needs --prefix (see fdfs upload --help)');
  const unknown = await cli(['list', '--bogus']);
  assert.equal(unknown.code, 2);
  assert.equal(oneLine(unknown.stderr), 'fdfs list: unknown argument --bogus (see fdfs list --help)');
  const none = await runCli([]);
  assert.equal(none.code, 2);
  assert.match(oneLine(none.stderr), /^fdfs: name a command \(see fdfs --help\)$/);
});

test('defect 10: unknown keys in client.conf are warned about, once, on stderr', async () => {
  const conf = path.join(work, 'client.conf');
  fs.writeFileSync(conf, `tracker_server = ${cluster.trackerAddr}\nconect_timeout = 5\n`);
  const r = await runCli(['list', '-c', conf], { env: { FDFS_TRACKER: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /conect_timeout/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('defect 11: storage start needs a group (exit 2, one line) and creates a missing base path', async () => {
  const base = path.join(work, 'new', 'storage-base');
  const r = await runCli(['storage', 'start', '--base-path', base, '--tracker', cluster.trackerAddr, '--port', '0', '--bind', '127.0.0.9'], { timeoutMs: 20000 });
  assert.equal(r.code, 2);
  assert.equal(oneLine(r.stderr), 'fdfs storage: --group or group_name (in a storage.conf given with -c) is required');

  const d = await startDaemon({
    label: 'storage-new-base',
    args: ['storage', 'start', '--group', 'group9', '--base-path', base, '--tracker', cluster.trackerAddr, '--port', '0', '--bind', '127.0.0.9'],
  });
  try {
    assert.ok(fs.statSync(path.join(base, 'data')).isDirectory());
  } finally {
    assert.equal(await d.stop(), 0);
  }
});

test('defect 11: get --resume over a complete tree skips it without reading the files back', async () => {
  const client = new FdfsClient({ trackers: [cluster.trackerAddr] });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await client.upload(Buffer.alloc(100_000 + i, i), { ext: 'bin' }));
    const out = path.join(work, 'resume-out');
    const first = await getFiles({ client, sources: ids, out });
    assert.equal(first.ok, 5);
    const reads = mock.method(fs, 'createReadStream');
    try {
      const again = await getFiles({ client, sources: ids, out, resume: true });
      assert.equal(again.skipped, 5);
      assert.equal(again.ok, 0);
      assert.equal(reads.mock.callCount(), 0, 'files with the size and mtime get set are not read again');
    } finally {
      reads.mock.restore();
    }
    // A file whose size or mtime differs is checked by its CRC, and fetched again if wrong.
    const one = path.join(out, ids[0]!);
    fs.writeFileSync(one, Buffer.alloc(100_000, 9));
    fs.utimesSync(one, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const fixed = await getFiles({ client, sources: ids, out, resume: true });
    assert.equal(fixed.ok, 1);
    assert.equal(fixed.skipped, 4);
    assert.ok(fs.readFileSync(one).equals(Buffer.alloc(100_000, 0)));
  } finally {
    await client.close();
  }
});

test('defect 12: a request declaring a longer package than it sent is answered only once it is all read', async () => {
  const id = await uploadTo(storage, Buffer.from('0123456789'), { appender: true, ext: 'log' });
  const logicName = id.slice(id.indexOf('/') + 1);
  const onDisk = path.join(storageBase(cluster, 0), 'data', logicName.slice(4));
  const sock = net.connect({ host: storage.host, port: storage.port });
  await once(sock, 'connect');
  const answers: Buffer[] = [];
  sock.on('data', (b: Buffer) => answers.push(b));
  try {
    const body = encodeTruncateRequest(logicName, 4);
    const extra = 8;
    // The header declares 8 bytes more than come now (what a known Java client does).
    sock.write(Buffer.concat([encodeHeader(body.length + extra, CMD.TRUNCATE_FILE, 0), body]));
    // The truncate itself is done once the fixed fields and name are read; an early answer would
    // be written right after. A round trip on another connection lets it arrive if it was sent.
    await waitFor('file truncated', () => fs.statSync(onDisk).size === 4);
    await withConn(storage, (o) => o.request(CMD.ACTIVE_TEST));
    assert.equal(Buffer.concat(answers).length, 0, 'no answer before the whole package arrived');
    // The rest of the package, then the next request: both answered, the second framed right.
    sock.write(Buffer.concat([Buffer.alloc(extra), encodeHeader(0, CMD.ACTIVE_TEST, 0)]));
    await waitFor('two answers', () => Buffer.concat(answers).length >= 20);
    const all = Buffer.concat(answers);
    assert.equal(decodeHeader(all.subarray(0, 10)).status, 0, 'truncate answered with status 0');
    const second = decodeHeader(all.subarray(10, 20));
    assert.equal(second.cmd, CMD.RESP);
    assert.equal(second.status, 0, 'the next request was framed right');
  } finally {
    sock.destroy();
  }
});
