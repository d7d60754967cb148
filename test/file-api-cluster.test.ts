import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { freePort, runCli, startCluster, tempDir, waitFor, writeConf, type CliResult, type Cluster } from './helpers/cluster.ts';
import { fdfsCommand, startDaemon, type Daemon } from '../lib/util/daemon-process.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { FdfsClient } from '../lib/client/client.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { FieldReader, fixed } from '../lib/protocol/fields.ts';
import { decodeFileName } from '../lib/protocol/filename.ts';
import { decodeStorageBrief } from '../lib/protocol/records.ts';
import { decodeFileInfoResponse } from '../lib/protocol/storage-requests.ts';
import { encodeGroupAddress } from '../lib/protocol/storage-tracker.ts';
import { decodeStoreOneResponse, encodeFileRequest } from '../lib/protocol/tracker-queries.ts';
import { parseBinlogLine, type BinlogRecord } from '../lib/storage/binlog.ts';

// The whole FastDFS file API (issue 4) end to end on real processes, as a user drives it with the
// `fdfs` CLI: appender files, slave files (plain and as symlinks), two store paths, the reserve,
// storage ids, IPv6, a storage behind NAT with an inner and an outer address, and the start-up
// errors of a storage. Loopback only, ports chosen at run time, temporary folders.

const MB = 1024 * 1024;
/** The IPv6 tests need ::1 on the loopback interface. */
const noIpv6 = !Object.values(os.networkInterfaces()).flat().some((a) => a?.address === '::1') && 'no ::1 on this host';

/** `fdfs ARGS --tracker ADDR`. */
function cli(tracker: string, args: string[], input?: string | Buffer): Promise<CliResult> {
  return runCli([...args, '--tracker', tracker], { input });
}

/** A successful command: exit 0, nothing on stderr; its stdout. */
async function ok(p: Promise<CliResult>): Promise<string> {
  const r = await p;
  assert.equal(r.code, 0, `exit code 0 (stderr: ${r.stderr})`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

/** A failed command: exit 1, nothing on stdout, exactly one line on stderr matching `line`. */
async function fails(p: Promise<CliResult>, line: RegExp): Promise<string> {
  const r = await p;
  assert.equal(r.code, 1, `exit code 1 (stdout: ${r.stdout}, stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, line);
  return lines[0]!;
}

/** Until the tracker hands out a storage for uploads (the storage is ACTIVE and reported its disks). */
async function writable(host: string, port: number): Promise<void> {
  await waitFor('a writable storage', async () => {
    const c = await ClientConnection.connect(host, port);
    try { await c.request(CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE); return true; } finally { c.close(); }
  }, 30_000, 100);
}

function binlog(base: string): BinlogRecord[] {
  const file = path.join(base, 'data', 'sync', 'binlog.000');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'latin1').split('\n').filter(Boolean).map((l) => parseBinlogLine(l)!);
}

async function trackerRequest(host: string, port: number, cmd: number, body: Buffer | Buffer[] = []): Promise<Buffer> {
  const c = await ClientConnection.connect(host, port);
  try { return await c.request(cmd, body); } finally { c.close(); }
}

async function expectErrno(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof FdfsError && err.code === code);
}

/** Daemons started by one describe block; stopped (and their folder removed) at its end. */
class Procs {
  readonly list: Daemon[] = [];
  constructor(readonly dir: string) {}

  async start(label: string, args: string[]): Promise<Daemon> {
    const d = await startDaemon({
      label, args,
      stderr: (line) => { if (process.env.FDFS_TEST_VERBOSE) process.stderr.write(`[${label}] ${line}\n`); },
    });
    this.list.push(d);
    return d;
  }

  async stop(): Promise<void> {
    await Promise.all(this.list.map((d) => d.stop()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('appender and slave files with the CLI, on a storage with two store paths', () => {
  let cluster: Cluster;
  let extra: string;
  let tracker: string;
  let work: string;
  const base = () => path.join(cluster.dir, 'storage1');

  before(async () => {
    extra = tempDir('fdfs-path1-');
    work = tempDir('fdfs-files-');
    cluster = await startCluster({
      storages: 1,
      tracker: { store_path: 0 },
      storage: { store_path_count: 2, store_path1: extra },
    });
    tracker = cluster.trackerAddr;
    await writable('127.0.0.1', cluster.tracker.port);
  });
  after(async () => {
    await cluster?.stop();
    for (const d of [extra, work]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  const local = (name: string, content: string | Buffer) => {
    const p = path.join(work, name);
    fs.writeFileSync(p, content);
    return p;
  };

  test('upload --appender, append (a file and stdin), modify, truncate, regenerate', async () => {
    const id = (await ok(cli(tracker, ['upload', '--appender', local('part1.txt', 'part1-')]))).trim();
    assert.equal(decodeFileName(id.slice(id.indexOf('/') + 1))!.type, 'appender');
    assert.equal(await ok(cli(tracker, ['append', id, local('part2.txt', 'part2-')])), '');
    assert.equal(await ok(cli(tracker, ['append', id, '-'], 'part3\n')), '');
    assert.equal(await ok(cli(tracker, ['download', id, '-'])), 'part1-part2-part3\n');
    // The CRC of the whole content, as captures/README.md records for these three pieces.
    const info = await ok(cli(tracker, ['info', id]));
    assert.match(info, /^type: +appender$/m);
    assert.match(info, /^size: +18$/m);
    assert.match(info, /^crc32: +0xe63c1411$/m);

    assert.equal(await ok(cli(tracker, ['modify', id, '0', '-'], 'PART1')), '');
    assert.equal(await ok(cli(tracker, ['modify', id, '18', local('tail.txt', 'tail\n')])), '', 'modify at the end extends');
    assert.equal(await ok(cli(tracker, ['download', id, '-'])), 'PART1-part2-part3\ntail\n');
    assert.equal(await ok(cli(tracker, ['truncate', id, '11'])), '');
    assert.equal(await ok(cli(tracker, ['download', id, '-'])), 'PART1-part2');

    const fresh = (await ok(cli(tracker, ['regenerate', id]))).trim();
    assert.notEqual(fresh, id);
    const d = decodeFileName(fresh.slice(fresh.indexOf('/') + 1))!;
    assert.equal(d.type, 'normal');
    assert.equal(d.size, 11);
    assert.equal(d.crc32, crc32(Buffer.from('PART1-part2')));
    assert.equal(await ok(cli(tracker, ['download', fresh, '-'])), 'PART1-part2');
    await fails(cli(tracker, ['download', id, '-']), /^fdfs: ENOENT: .*\(group1\/M0/);

    // Each step left its binlog record (§7.2), in order.
    const logic = id.slice(id.indexOf('/') + 1);
    const recs = binlog(base()).filter((r) => r.name === logic || r.extra === logic || r.name === fresh.slice(7));
    assert.deepEqual(recs.map((r) => `${r.op} ${r.extra ?? ''}`), [
      'C ', 'A 6 6', 'A 12 6', 'M 0 5', 'M 18 5', 'T 23 11', `R ${logic}`,
    ]);
  });

  test('slave files: upload --master --prefix [--ext], info, download, delete', async () => {
    const master = (await ok(cli(tracker, ['upload', local('photo.jpg', Buffer.alloc(2048, 7))]))).trim();
    const thumb = Buffer.alloc(300, 9);
    const slave = (await ok(cli(tracker, ['upload', local('thumb.jpg', thumb), '--master', master, '--prefix', '_150x150']))).trim();
    assert.equal(slave, `${master.slice(0, -4)}_150x150.jpg`);
    const noExt = (await ok(cli(tracker, ['upload', '-', '--master', master, '--prefix', '_raw', '--ext', ''], thumb))).trim();
    assert.equal(noExt, `${master.slice(0, -4)}_raw`);
    const info = await ok(cli(tracker, ['info', slave]));
    assert.match(info, /^type: +slave$/m);
    assert.match(info, /^size: +300$/m);
    assert.match(info, new RegExp(`^crc32: +0x${crc32(thumb).toString(16).padStart(8, '0')}$`, 'm'));
    const got = await runCli(['download', slave, '-', '--tracker', tracker]);
    assert.equal(got.stdout, thumb.toString());
    assert.equal(await ok(cli(tracker, ['delete', slave, noExt])), '');
    await fails(cli(tracker, ['info', slave, '--server']), /^fdfs: ENOENT: /);
    assert.equal((await runCli(['download', master, '-', '--tracker', tracker])).stdout.length, 2048, 'the master stays');
  });

  test('bad input: the errno of PROTOCOL.md and one clear line', async () => {
    const normal = (await ok(cli(tracker, ['upload', local('normal.txt', 'a normal file')]))).trim();
    const app = (await ok(cli(tracker, ['upload', '--appender', local('app.txt', '0123456789')]))).trim();
    // §3.9: only appender files take appends, modifies, truncates and renames.
    for (const args of [['append', normal, local('x.txt', 'x')], ['modify', normal, '0', local('x.txt', 'x')], ['truncate', normal, '0'], ['regenerate', normal]]) {
      await fails(cli(tracker, args), new RegExp(`^fdfs: EINVAL: not an appender file .*\\(${normal}\\)$`));
    }
    // §3.10: modify past the end (6.16 answers EINVAL, errors.json raw-storage-modify-beyond-size).
    await fails(cli(tracker, ['modify', app, '11', local('x.txt', 'x')]), new RegExp(`^fdfs: EINVAL: offset 11 is beyond the end of the file \\(${app}\\)$`));
    // §3.11: truncate to a LARGER size is not an error in FastDFS 6.16 (the file grows with zero
    // bytes; the C server only logs a warning) and errors.json records no refusal, so although the
    // issue lists it under bad input, the spec wins: it succeeds.
    assert.equal(await ok(cli(tracker, ['truncate', app, '12'])), '');
    assert.deepEqual(Buffer.from((await runCli(['download', app, '-', '--tracker', tracker], {})).stdout, 'latin1'), Buffer.from('0123456789\0\0'));
    // §3.3: slave of a missing master, an existing slave, a bad prefix.
    const gone = `${normal.slice(0, 30)}AAAAAAA${normal.slice(37)}`;
    await fails(cli(tracker, ['upload', local('s.jpg', 's'), '--master', gone, '--prefix', '_s']), new RegExp(`^fdfs: ENOENT: master file does not exist \\(${gone}\\)$`));
    await ok(cli(tracker, ['upload', local('s.txt', 's'), '--master', normal, '--prefix', '_s']));
    await fails(cli(tracker, ['upload', local('s.txt', 's'), '--master', normal, '--prefix', '_s']), new RegExp(`^fdfs: EEXIST: slave file already exists \\(${normal.slice(0, -4)}_s.txt\\)$`));
    await fails(cli(tracker, ['upload', local('s.txt', 's'), '--master', normal, '--prefix', 'no/slash']), /^fdfs: EINVAL: slave prefix must be 1\.\.16 of /);
    await fails(cli(tracker, ['upload', local('s.txt', 's'), '--master', normal, '--prefix', 'far-too-long-prefix']), /^fdfs: EINVAL: slave prefix must be 1\.\.16 of /);
    // Local mistakes never reach a server.
    await fails(cli(tracker, ['truncate', app, '-1']), /^fdfs: EINVAL: SIZE must be a non-negative integer/);
    await fails(cli(tracker, ['append', app, path.join(work, 'missing.txt')]), /^fdfs: ENOENT: .*missing\.txt/);
  });

  test('two store paths: the tracker rotates uploads over M00 and M01; each path\'s disk usage is reported (§4.6, §8.3)', async () => {
    const paths = new Set<string>();
    for (let k = 0; k < 4; k++) {
      const id = (await ok(cli(tracker, ['upload', local(`rr${k}.txt`, `round robin ${k}`)]))).trim();
      paths.add(id.slice(7, 10));
      // The file is where its name says.
      const logic = id.slice(7);
      const root = logic.startsWith('M01/') ? extra : base();
      assert.ok(fs.existsSync(path.join(root, 'data', logic.slice(4))), `${id} stored under its store path`);
    }
    assert.deepEqual([...paths].sort(), ['M00', 'M01']);
    const list = JSON.parse(await ok(cli(tracker, ['list', '--json']))) as { groups: Array<{ store_path_count: number; storages: Array<{ store_path_count: number; total_mb: number }> }> };
    const s = list.groups[0]!.storages[0]!;
    assert.equal(list.groups[0]!.store_path_count, 2);
    assert.equal(s.store_path_count, 2);
    // Both paths live on the same file system here: the total is twice one path's (§4.6 sums the pairs).
    const st = fs.statfsSync(extra);
    assert.equal(s.total_mb, 2 * Math.floor((Number(st.blocks) * Number(st.bsize)) / MB));
  });

  test('without storage ids, an IPv6 storage\'s id is the §6.7 short code (70 GET_SERVER_ID)', async () => {
    const reply = await trackerRequest('127.0.0.1', cluster.tracker.port, CMD.STORAGE_GET_SERVER_ID,
      encodeGroupAddress('group1', '[2409:8a20:42d:2f40:587a:4c47:72c0:ad8e]:23000'));
    assert.equal(reply.toString('latin1'), '0EgUIgAAAAA.');
  });
});

describe('reserved_storage_space reached: the tracker stops choosing the storage (§8.1, §8.3)', () => {
  let cluster: Cluster;
  let work: string;
  before(async () => {
    work = tempDir('fdfs-full-');
    cluster = await startCluster({ storages: 1, tracker: { reserved_storage_space: '99.99%' } });
    // The storage is ACTIVE, but no upload target is handed out.
    await waitFor('storage active', async () => {
      const r = await runCli(['list', '--json', '--tracker', cluster.trackerAddr]);
      return r.code === 0 && (JSON.parse(r.stdout) as { groups: Array<{ writable_server_count: number }> }).groups[0]?.writable_server_count === 1;
    }, 30_000, 200);
  });
  after(async () => {
    await cluster?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('uploads get ENOSPC, one line; nothing is stored', async () => {
    const file = path.join(work, 'a.txt');
    fs.writeFileSync(file, 'no room');
    await fails(cli(cluster.trackerAddr, ['upload', file]), /^fdfs: ENOSPC: /);
    await fails(cli(cluster.trackerAddr, ['upload', '--appender', file]), /^fdfs: ENOSPC: /);
    assert.deepEqual(binlog(path.join(cluster.dir, 'storage1')), []);
  });
});

describe('storage ids (use_storage_id, id_type_in_filename = id) and slaves stored as symlinks', () => {
  let cluster: Cluster;
  let dir: string;
  let port: number;
  let tracker: string;
  const base = () => path.join(cluster.dir, 'storage1');

  before(async () => {
    dir = tempDir('fdfs-ids-');
    port = await freePort(['127.0.0.2', '127.0.0.3']);
    fs.writeFileSync(path.join(dir, 'storage_ids.conf'), `# id group address\n100001 group1 127.0.0.2:${port}\n100003 group2 127.0.0.9\n`);
    cluster = await startCluster({
      storages: 1,
      tracker: {
        use_storage_id: true, id_type_in_filename: 'id', storage_ids_filename: path.join(dir, 'storage_ids.conf'),
        store_slave_file_use_link: true,
      },
      storage: { port },
    });
    tracker = cluster.trackerAddr;
    await writable('127.0.0.1', cluster.tracker.port);
  });
  after(async () => {
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('new names carry the server id; file info resolves it to the IP locally or through the tracker', async () => {
    const file = path.join(dir, 'hello.txt');
    fs.writeFileSync(file, 'Hello FastDFS! This is a small test file.\n');
    const id = (await ok(cli(tracker, ['upload', file]))).trim();
    assert.deepEqual(decodeFileName(id.slice(7))!.source, { id: 100001 });

    // A client.conf with the id list: decoded locally (§3.8), nothing asked.
    const withIds = writeConf(path.join(dir, 'client-ids.conf'), {
      tracker_server: tracker, use_storage_id: true, storage_ids_filename: path.join(dir, 'storage_ids.conf'),
    });
    const local = await ok(runCli(['info', id, '-c', withIds]));
    assert.match(local, /^created: /m);
    assert.match(local, /^source ip: +127\.0\.0\.2$/m);
    assert.match(local, /^source id: +100001$/m);
    assert.match(local, /^size: +42$/m);
    // load_fdfs_parameters_from_tracker: the id list comes from the tracker (69).
    const fromTracker = writeConf(path.join(dir, 'client-tracker.conf'), { tracker_server: tracker, load_fdfs_parameters_from_tracker: true });
    assert.match(await ok(runCli(['info', id, '-c', fromTracker])), /^source ip: +127\.0\.0\.2$/m);
    // No id list at all: the storage resolves the id (22, §3.8).
    const asked = await ok(cli(tracker, ['info', id]));
    assert.match(asked, /^modified: /m);
    assert.match(asked, /^source ip: +127\.0\.0\.2$/m);
  });

  test('69, 70, 71, 109 answer from storage_ids.conf; an unknown address is ENOENT (§4.12, §4.13)', async () => {
    const client = new FdfsClient({ trackers: [tracker] });
    try {
      const ids = await client.tracker.fetchStorageIds();
      assert.deepEqual(ids.map((e) => `${e.id} ${e.group} ${e.hosts.join(',')}:${e.port}`), [`100001 group1 127.0.0.2:${port}`, '100003 group2 127.0.0.9:23000']);
    } finally { await client.close(); }
    const t = cluster.tracker.port;
    assert.equal((await trackerRequest('127.0.0.1', t, CMD.STORAGE_GET_SERVER_ID, encodeGroupAddress('group1', `127.0.0.2:${port}`))).toString(), '100001');
    await expectErrno(trackerRequest('127.0.0.1', t, CMD.STORAGE_GET_SERVER_ID, encodeGroupAddress('group1', `127.0.0.7:${port}`)), 'ENOENT');
    const brief = decodeStorageBrief(new FieldReader(await trackerRequest('127.0.0.1', t, CMD.STORAGE_GET_STATUS, encodeGroupAddress('group1', `127.0.0.2:${port}`))));
    assert.deepEqual({ status: brief.status, id: brief.id, ip: brief.ip, port: brief.port }, { status: 7, id: '100001', ip: '127.0.0.2', port });
    const portBuf = Buffer.alloc(4);
    portBuf.writeInt32BE(port);
    const group = await trackerRequest('127.0.0.1', t, CMD.STORAGE_GET_GROUP_NAME, [Buffer.from('127.0.0.2'), portBuf]);
    assert.equal(group.toString('latin1').replace(/\0+$/, ''), 'group1');
  });

  test('store_slave_file_use_link: the slave is a symlink (binlog C + L <slave> <target>); deleting it removes both', async () => {
    const masterFile = path.join(dir, 'photo.jpg');
    fs.writeFileSync(masterFile, Buffer.alloc(1024, 3));
    const master = (await ok(cli(tracker, ['upload', masterFile]))).trim();
    const thumb = Buffer.from('a linked thumbnail');
    const slave = (await ok(cli(tracker, ['upload', '-', '--master', master, '--prefix', '_big', '--ext', 'jpg'], thumb))).trim();
    assert.equal(slave, `${master.slice(0, -4)}_big.jpg`);
    const slavePath = path.join(base(), 'data', slave.slice(11));
    assert.ok(fs.lstatSync(slavePath).isSymbolicLink());
    const recs = binlog(base());
    const link = recs.find((r) => r.op === 'L' && r.name === slave.slice(7))!;
    assert.ok(link, 'L record with the slave name (the intended §7.2 form)');
    assert.ok(recs.some((r) => r.op === 'C' && r.name === link.extra), 'C record of the link target');
    const target = path.join(base(), 'data', link.extra!.slice(4));
    assert.deepEqual(fs.readFileSync(target), thumb);
    assert.match(await ok(cli(tracker, ['info', slave])), /^type: +slave$/m);
    assert.deepEqual(Buffer.from((await runCli(['download', slave, '-', '--tracker', tracker])).stdout), thumb);
    await ok(cli(tracker, ['delete', slave]));
    assert.ok(!fs.existsSync(target), 'target deleted (§3.5)');
    assert.throws(() => fs.lstatSync(slavePath));
    const dels = binlog(base()).filter((r) => r.op === 'D').map((r) => r.name);
    assert.deepEqual(dels.slice(-2), [link.extra, slave.slice(7)]);
  });

  test('a storage whose address is not in storage_ids.conf stops at start-up with one clear line', async () => {
    const sdir = path.join(dir, 'stranger');
    fs.mkdirSync(sdir);
    const conf = writeConf(path.join(dir, 'stranger.conf'), {
      group_name: 'group1', bind_addr: '127.0.0.3', port, base_path: sdir, tracker_server: tracker, subdir_count_per_path: 1,
    });
    const r = await runCli(['storage', 'start', '-c', conf], { timeoutMs: 30_000, env: { FDFS_LOG_LEVEL: 'error' } });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'no ready line');
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.match(last, new RegExp(`^fdfs storage: ENOENT: .*127\\.0\\.0\\.3:${port} \\(group group1\\) is not in the trackers' storage_ids\\.conf`));
  });
});

describe('IPv6: tracker and storage on ::1 (§0, §9.1)', { skip: noIpv6 }, () => {
  let procs: Procs;
  let tracker: Daemon;
  let storage: Daemon;
  let addr: string;

  before(async () => {
    procs = new Procs(tempDir('fdfs-ipv6-'));
    const dir = procs.dir;
    const sport = await freePort(['::1']);
    // §9.1: IPv6 needs use_storage_id and id_type_in_filename = id — the 4-byte source field of a
    // file name cannot hold an IPv6 address (§6.2) — so this cluster runs with storage ids.
    fs.writeFileSync(path.join(dir, 'storage_ids.conf'), `100001 group1 [::1]:${sport}\n`);
    fs.mkdirSync(path.join(dir, 't'));
    fs.mkdirSync(path.join(dir, 's'));
    const tconf = writeConf(path.join(dir, 'tracker.conf'), {
      bind_addr: '::1', port: 0, base_path: path.join(dir, 't'), reserved_storage_space: '1%',
      use_storage_id: true, id_type_in_filename: 'id', storage_ids_filename: path.join(dir, 'storage_ids.conf'),
    });
    tracker = await procs.start('tracker6', ['tracker', 'start', '-c', tconf]);
    addr = `[::1]:${tracker.port}`;
    const sconf = writeConf(path.join(dir, 'storage.conf'), {
      group_name: 'group1', bind_addr: '::1', port: sport, base_path: path.join(dir, 's'), tracker_server: addr,
      heart_beat_interval: 2, stat_report_interval: 5, subdir_count_per_path: 4,
    });
    storage = await procs.start('storage6', ['storage', 'start', '-c', sconf]);
    await writable('::1', tracker.port);
  });
  after(() => procs?.stop());

  test('ready lines, listings and errors show [addr]:port', async () => {
    assert.equal(tracker.readyLine, `tracker listening on [::1]:${tracker.port}`);
    assert.equal(storage.readyLine, `storage listening on [::1]:${storage.port} (group1)`);
    const list = await ok(cli(addr, ['list']));
    assert.match(list, new RegExp(`ACTIVE +\\[::1\\]:${storage.port} +100001 `));
    await fails(cli(addr, ['info', 'group1/M00/00/00/oYYBAGsGoG-ASgi3AAAAKt11vBM097.txt', '--server']), /^fdfs: ENOENT: /);
    await fails(runCli(['list', '--tracker', '[::1]:1']), /^fdfs: ECONNREFUSED: cannot connect to tracker \(\[::1\]:1\)$/);
  });

  test('response_ip_addr_size 46: 101 and 22 replies carry 46-byte IP fields (§0)', async () => {
    const reply = await trackerRequest('::1', tracker.port, CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE);
    assert.equal(reply.length, 70);
    assert.deepEqual(decodeStoreOneResponse(reply), { group: 'group1', ip: '::1', port: storage.port, storePathIndex: 0 });
    const file = path.join(procs.dir, 'v6.txt');
    fs.writeFileSync(file, 'over IPv6\n');
    const id = (await ok(cli(addr, ['upload', file]))).trim();
    const c = await ClientConnection.connect('::1', storage.port);
    try {
      const body = await c.request(CMD.QUERY_FILE_INFO, Buffer.concat([fixed('group1', 16), Buffer.from(id.slice(7))]));
      assert.equal(body.length, 70);
      assert.equal(decodeFileInfoResponse(body).sourceIp, '::1');
    } finally { c.close(); }
  });

  test('the file API over IPv6: upload, appender, slave, info, download', async () => {
    const file = path.join(procs.dir, 'a.txt');
    fs.writeFileSync(file, 'v6-');
    const app = (await ok(cli(addr, ['upload', '--appender', file]))).trim();
    await ok(cli(addr, ['append', app, '-'], 'appended\n'));
    assert.equal(await ok(cli(addr, ['download', app, '-'])), 'v6-appended\n');
    const slave = (await ok(cli(addr, ['upload', file, '--master', app, '--prefix', '_copy']))).trim();
    assert.equal(await ok(cli(addr, ['download', slave, '-'])), 'v6-');
    const info = await ok(cli(addr, ['info', app]));
    assert.match(info, /^source ip: +::1$/m);
    assert.match(info, /^source id: +100001$/m);
  });
});

describe('a storage behind NAT: storage_ids.conf with an inner and an outer address (§0)', { skip: noIpv6 }, () => {
  // What this proves, with loopback addresses only. §0 classifies 10.*, 172.16–31.*, 192.168.* as
  // inner, any other address of 8+ characters as "outer", and shorter ones as "unknown"; so every
  // 127.x address is "outer" and two of them cannot form an inner/outer pair (storage_ids.conf
  // refuses two addresses of one type). The pair here is `::1` (3 characters: type "unknown") as
  // the inner address and 127.0.0.2 ("outer") as the outer one. The storage listens on `::`, so it
  // is reachable at both, like a container reachable through its own address and its host's. The
  // tracker listens on `::` too: a client coming from 127.0.0.1 (outer) must be given the outer
  // address, a client coming from ::1 (not outer) the inner one — the rule that lets clients on
  // both sides of a NAT reach the same storage.
  let procs: Procs;
  let tport: number;
  let sport: number;

  before(async () => {
    procs = new Procs(tempDir('fdfs-nat-'));
    const dir = procs.dir;
    sport = await freePort(['::']);
    fs.writeFileSync(path.join(dir, 'storage_ids.conf'), `100001 group1 [::1,127.0.0.2]:${sport}\n`);
    fs.mkdirSync(path.join(dir, 't'));
    fs.mkdirSync(path.join(dir, 's'));
    const tconf = writeConf(path.join(dir, 'tracker.conf'), {
      bind_addr: '::', port: 0, base_path: path.join(dir, 't'), reserved_storage_space: '1%',
      use_storage_id: true, id_type_in_filename: 'id', storage_ids_filename: path.join(dir, 'storage_ids.conf'),
    });
    const t = await procs.start('tracker-nat', ['tracker', 'start', '-c', tconf]);
    tport = t.port;
    const sconf = writeConf(path.join(dir, 'storage.conf'), {
      group_name: 'group1', bind_addr: '::', client_bind: false, port: sport, base_path: path.join(dir, 's'),
      tracker_server: `[::1]:${tport}`, heart_beat_interval: 2, stat_report_interval: 5, subdir_count_per_path: 4,
    });
    await procs.start('storage-nat', ['storage', 'start', '-c', sconf]);
    await writable('::1', tport);
  });
  after(() => procs?.stop());

  test('each client is given the address of its own network type, and both reach the storage', async () => {
    const outerView = decodeStoreOneResponse(await trackerRequest('127.0.0.1', tport, CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE));
    const innerView = decodeStoreOneResponse(await trackerRequest('::1', tport, CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE));
    assert.equal(outerView.ip, '127.0.0.2');
    assert.equal(innerView.ip, '::1');

    const file = path.join(procs.dir, 'nat.txt');
    fs.writeFileSync(file, 'through the outer address\n');
    const fromOuter = (await ok(cli(`127.0.0.1:${tport}`, ['upload', file]))).trim();
    fs.writeFileSync(file, 'through the inner address\n');
    const fromInner = (await ok(cli(`[::1]:${tport}`, ['upload', file]))).trim();
    // Each side downloads the other's file, through its own address (102 answers per side too).
    assert.equal(await ok(cli(`[::1]:${tport}`, ['download', fromOuter, '-'])), 'through the outer address\n');
    assert.equal(await ok(cli(`127.0.0.1:${tport}`, ['download', fromInner, '-'])), 'through the inner address\n');
    const fetchOuter = decodeStoreOneResponse(Buffer.concat([
      await trackerRequest('127.0.0.1', tport, CMD.SERVICE_QUERY_FETCH_ONE, encodeFileRequest('group1', fromInner.slice(7))), Buffer.alloc(1),
    ]));
    assert.equal(fetchOuter.ip, '127.0.0.2');
    // The listings show each side its own address of the storage.
    assert.match(await ok(cli(`127.0.0.1:${tport}`, ['list'])), new RegExp(` 127\\.0\\.0\\.2:${sport} +100001 `));
    assert.match(await ok(cli(`[::1]:${tport}`, ['list'])), new RegExp(` \\[::1\\]:${sport} +100001 `));
  });
});

/** Whether any user may run `fdfs` from this checkout (every directory above it searchable, files readable). */
function othersCanRun(): boolean {
  const cmd = fdfsCommand();
  // The runtime must be executable by others, the entry script readable.
  const targets: Array<[string, number]> = [[cmd.command, 0o001], ...cmd.args.filter((a) => path.isAbsolute(a)).map((a): [string, number] => [a, 0o004])];
  for (const [t, bits] of targets) {
    try {
      if ((fs.statSync(t).mode & bits) !== bits) return false;
      for (let d = path.dirname(t); ; d = path.dirname(d)) {
        if ((fs.statSync(d).mode & 0o001) === 0) return false;
        if (d === path.dirname(d)) break;
      }
    } catch {
      return false;
    }
  }
  return true;
}

describe('a storage refuses to start on a missing or read-only store path (§9.2)', () => {
  const dir = tempDir('fdfs-paths-');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('missing: one clear line naming the path, exit 1', async () => {
    const base = path.join(dir, 'b1');
    fs.mkdirSync(base);
    const gone = path.join(dir, 'not-mounted');
    const r = await runCli(['storage', 'start', '--group', 'group1', '--bind', '127.0.0.1', '--port', '0', '--base-path', base,
      '--store-path', base, '--store-path', gone, '--tracker', '127.0.0.1:1'], { env: { FDFS_LOG_LEVEL: 'error' } });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim(), `fdfs storage: ENOENT: store_path1 ${gone} does not exist (${gone})`);
  });

  // root may write anywhere: as root the storage runs as "nobody", for whom the path is read-only.
  const asRoot = process.getuid?.() === 0;
  test('read-only: one clear line naming the path, exit 1', { skip: asRoot && !othersCanRun() && 'running as root, and "nobody" cannot run this checkout' }, async () => {
    fs.chmodSync(dir, 0o755);
    const base = path.join(dir, 'b2');
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(base);
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o555);
    if (asRoot) fs.chownSync(base, 65534, 65534);
    const conf = writeConf(path.join(dir, 'ro.conf'), {
      group_name: 'group1', bind_addr: '127.0.0.1', port: 23999, base_path: base, store_path_count: 2,
      store_path0: base, store_path1: ro, tracker_server: '127.0.0.1:1', subdir_count_per_path: 1,
    });
    fs.chmodSync(conf, 0o644);
    const cmd = fdfsCommand();
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(cmd.command, [...cmd.args, 'storage', 'start', '-c', conf, '--port', '0'], {
        env: { ...process.env, FDFS_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'],
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => { stdout += c; });
      child.stderr.on('data', (c: Buffer) => { stderr += c; });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('storage did not stop')); }, 30_000);
      child.on('error', reject);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim(), `fdfs storage: EROFS: store_path1 ${ro} is not writable (${ro})`);
  });
});
