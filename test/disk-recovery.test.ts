import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { encodeFileRequest, decodeFetchResponse } from '../lib/protocol/tracker-queries.ts';
import { encodePathBinlogRequest } from '../lib/protocol/path-binlog.ts';
import { fdfsCommand } from '../lib/util/daemon-process.ts';
import { startCluster, tempDir, waitFor, type Cluster } from './helpers/cluster.ts';
import { readTree } from './helpers/files.ts';
import {
  addrOf, appendOn, deleteOn, members, setMetaOn, split, uploadTo, waitActive, waitConverged, withConn, type Addr, type FileState,
} from './helpers/replication.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { uploadSlaveFile } from '../lib/client/storage-client.ts';

// Disk recovery (PROTOCOL.md §5.11) with real processes: a member whose store path was wiped
// rebuilds it from its peer, byte for byte, is listed RECOVERY and routed no reads meanwhile, and
// a kill -9 in the middle of the copy resumes at the next start.

let cluster: Cluster;
const stores = tempDir('fdfs-stores-');
const storePath = (i: number) => path.join(stores, `store${i + 1}`);
const expected = new Map<string, FileState | null>();
let addrs: Addr[];

before(async () => {
  cluster = await startCluster({
    storages: 2,
    // Slaves become symlinks (§3.3): the recovery re-creates links too (L/l records, §5.8).
    tracker: { store_slave_file_use_link: true },
    storageEach: (i) => {
      fs.mkdirSync(storePath(i), { recursive: true });
      return { store_path0: storePath(i) };
    },
  });
  await waitActive(cluster, 2);
  addrs = cluster.storages.map(addrOf);
  const put = async (a: Addr, data: Buffer, opts: { appender?: boolean } = {}) => {
    const id = await uploadTo(a, data, opts);
    expected.set(id, { size: data.length, crc: crc32(data) });
    return id;
  };
  // Files of both origins (so storage 2's copy holds upper- and lower-case records), a big one,
  // an appended appender file, metadata, and a deleted file that must not come back.
  for (let i = 0; i < 240; i++) await put(addrs[i % 2]!, crypto.randomBytes(1024 + (i * 397) % 30000));
  await put(addrs[0]!, crypto.randomBytes(3 * 1024 * 1024 + 17));
  const app = await put(addrs[1]!, crypto.randomBytes(5000), { appender: true });
  const more = crypto.randomBytes(7000);
  await appendOn(addrs[1]!, app, more);
  expected.set(app, { size: 12000, crc: -1 });
  await setMetaOn(addrs[0]!, [...expected.keys()][3]!, { width: '1024', owner: 'recovery' });
  const master = [...expected.keys()][5]!;
  const slaveData = crypto.randomBytes(3333);
  const slave = await withConn(addrs[0]!, async (c) => {
    const r = await uploadSlaveFile(c, split(master).name, '_s', 'bin', { size: slaveData.length, chunks: () => slaveData }, master);
    return `${r.group}/${r.logicName}`;
  });
  expected.set(slave, { size: slaveData.length, crc: crc32(slaveData) });
  const gone = await put(addrs[0]!, crypto.randomBytes(2000));
  await deleteOn(addrs[0]!, gone);
  expected.set(gone, null);
  // Appender content is known only from the storage that has it.
  const whole = await readWhole(addrs[1]!, app);
  expected.set(app, { size: whole.length, crc: crc32(whole) });
  await waitConverged(addrs, expected, 60_000);
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cluster?.stop();
  fs.rmSync(stores, { recursive: true, force: true });
});

async function readWhole(a: Addr, id: string): Promise<Buffer> {
  const c = await ClientConnection.connect(a.host, a.port);
  try {
    const { group, name } = split(id);
    const { startDownload } = await import('../lib/client/storage-client.ts');
    const n = await startDownload(c, group, name, 0, 0, id);
    return await c.reader.readExact(n);
  } finally {
    c.close();
  }
}

const children: ChildProcess[] = [];

/** Start storage i without waiting for its ready line (a recovering storage is not ready yet). */
function spawnStorage(i: number, onLine: (line: string) => void): { child: ChildProcess; ready: Promise<void>; exited: Promise<unknown> } {
  const cmd = fdfsCommand();
  const child = spawn(cmd.command, [...cmd.args, 'storage', 'start', '-c', cluster.storageConfs[i]!], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  createInterface({ input: child.stderr! }).on('line', (l) => { onLine(l); if (process.env.FDFS_TEST_VERBOSE) process.stderr.write(`[s${i + 1}] ${l}\n`); });
  const exited = new Promise((r) => child.once('exit', r));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => { if (/listening on/.test(l)) resolve(); });
    void exited.then((code) => reject(new Error(`storage ${i + 1} exited (${String(code)}) before it was ready`)));
  });
  ready.catch(() => {});
  return { child, ready, exited };
}

async function statusOf(ip: string): Promise<string | undefined> {
  return (await members(cluster)).find((m) => m.ip === ip)?.status;
}

/** Where the tracker sends a reader of `id` (102). */
async function fetchTarget(id: string): Promise<string> {
  const { group, name } = split(id);
  const c = await ClientConnection.connect('127.0.0.1', cluster.tracker.port);
  try {
    return decodeFetchResponse(await c.request(CMD.SERVICE_QUERY_FETCH_ONE, encodeFileRequest(group, name))).servers[0]?.ip ?? "";
  } finally {
    c.close();
  }
}

function wipe(i: number): void {
  for (const e of fs.readdirSync(storePath(i))) fs.rmSync(path.join(storePath(i), e), { recursive: true, force: true });
}

function sameTrees(): void {
  const a = readTree(path.join(storePath(0), 'data'));
  const b = readTree(path.join(storePath(1), 'data'));
  const pick = (m: Map<string, Buffer>) => new Map([...m].filter(([k]) => /^[0-9A-F]{2}\/[0-9A-F]{2}\/[^.]/.test(k)));
  const pa = pick(a);
  const pb = pick(b);
  assert.ok(pa.size >= 244, `storage 1 holds ${pa.size} files`);
  assert.deepEqual([...pb.keys()].sort(), [...pa.keys()].sort(), 'same file names on both members');
  for (const [k, v] of pa) assert.ok(v.equals(pb.get(k)!), `${k} differs`);
  const links = (dir: string) => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isSymbolicLink())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name))).sort();
  const la = links(path.join(storePath(0), 'data'));
  assert.ok(la.length >= 1, 'storage 1 holds the slave symlink');
  assert.deepEqual(links(path.join(storePath(1), 'data')), la, 'same symlinks on both members');
  const left = [...b.keys()].filter((k) => /recovery|\.tmp$/.test(k));
  assert.deepEqual(left, [], 'no recovery work file or temp file left');
}

test('a wiped store path is rebuilt from the peer, listed RECOVERY and routed no reads meanwhile', async () => {
  const ip = addrs[1]!.host;
  await cluster.storages[1]!.kill9();
  wipe(1);
  const ids = [...expected.keys()].filter((k) => expected.get(k));
  const lines: string[] = [];
  const s = spawnStorage(1, (l) => lines.push(l));
  // While it recovers: the tracker lists it RECOVERY and sends readers elsewhere.
  let sawRecovery = false;
  let routedHere = 0;
  let done = false;
  void s.ready.then(() => { done = true; }, () => { done = true; });
  while (!done) {
    if ((await statusOf(ip)) === 'RECOVERY') {
      sawRecovery = true;
      for (const id of ids.slice(0, 20)) {
        const target = await fetchTarget(id);
        // Counted only when the tracker still listed it RECOVERY after answering.
        if (target === ip && (await statusOf(ip)) === 'RECOVERY') routedHere++;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await s.ready;
  assert.ok(sawRecovery, 'the tracker listed the storage RECOVERY during the recovery');
  assert.equal(routedHere, 0, 'no reader was sent to the recovering storage');
  assert.ok(lines.some((l) => /disk recovery of store_path0 done: \d+ files/.test(l)), lines.join('\n'));
  await waitActive(cluster, 2, 30_000);
  await waitConverged(addrs, expected, 60_000);
  sameTrees();
  // The metadata file came back too.
  assert.ok(fs.readdirSync(path.join(storePath(1), 'data'), { recursive: true }).some((f) => String(f).endsWith('-m')));
  s.child.kill('SIGTERM');
  await s.exited;
});

test('kill -9 in the middle of the copy: the next start resumes without fetching the binlog again', async () => {
  await cluster.storages[1]!.kill9();
  wipe(1);
  const first: string[] = [];
  let s = spawnStorage(1, (l) => first.push(l));
  const data = path.join(storePath(1), 'data');
  const count = () => { try { return fs.readdirSync(data, { recursive: true }).filter((f) => /^[0-9A-F]{2}\/[0-9A-F]{2}\/[^.]/.test(String(f))).length; } catch { return 0; } };
  const mark = () => { try { return Number(/binlog_offset=(\d+)/.exec(fs.readFileSync(path.join(data, '.recovery.mark.0'), 'latin1'))?.[1] ?? 0); } catch { return 0; } };
  await waitFor('a recovery mark past the start', () => mark() > 0, 60_000, 2);
  s.child.kill('SIGKILL');
  await s.exited;
  const copied = count();
  assert.ok(copied < 244, `killed before the end (${copied} files there)`);
  const flag = fs.readFileSync(path.join(data, '.recovery.flag'), 'latin1');
  assert.match(flag, /fetch_binlog_done=1/);
  const second: string[] = [];
  s = spawnStorage(1, (l) => second.push(l));
  await s.ready;
  assert.ok(!second.some((l) => /fetching its binlog/.test(l)), 'the binlog was not fetched again');
  assert.ok(second.some((l) => /resumes at byte [1-9]/.test(l)), second.join('\n'));
  const again = Number(/done: (\d+) files/.exec(second.find((l) => /disk recovery of store_path0 done/.test(l)) ?? '')?.[1] ?? -1);
  assert.ok(again >= 0 && again < 244, `the resumed run copied only what was left (${again} files)`);
  await waitActive(cluster, 2, 30_000);
  await waitConverged(addrs, expected, 60_000);
  sameTrees();
  s.child.kill('SIGTERM');
  await s.exited;
});

test('FETCH_ONE_PATH_BINLOG: the create/link history of one path, framed with the 2^58 marker and a trailer', async () => {
  // Only a member of the group may fetch a binlog (issue 15: peer commands from strangers are refused).
  const stranger = await ClientConnection.connect(addrs[0]!.host, addrs[0]!.port);
  await assert.rejects(stranger.request(CMD.FETCH_ONE_PATH_BINLOG, encodePathBinlogRequest(cluster.group, 0)), /EACCES/);
  stranger.close();
  const member = { localAddress: addrs[1]!.host };
  const c = await ClientConnection.connect(addrs[0]!.host, addrs[0]!.port, member);
  const chunks: Buffer[] = [];
  c.socket.on('data', (b: Buffer) => chunks.push(b));
  await c.sendHeader(CMD.FETCH_ONE_PATH_BINLOG, 17, [encodePathBinlogRequest(cluster.group, 0)]);
  await new Promise((r) => c.socket.once('close', r));
  const all = Buffer.concat(chunks);
  assert.equal(all.readBigInt64BE(0), 2n ** 58n);
  assert.equal(all[8], CMD.RESP);
  assert.equal(all[9], 0);
  const text = all.subarray(10, all.length - 8);
  assert.equal(all.readBigInt64BE(all.length - 8), BigInt(text.length));
  const lines = text.toString('latin1').trim().split('\n');
  for (const l of lines) assert.match(l, /^\d+ ([Cc] M00\/[0-9A-F]{2}\/[0-9A-F]{2}\/\S+|[Ll] M00\/[0-9A-F]{2}\/[0-9A-F]{2}\/\S+ M00\/[0-9A-F]{2}\/[0-9A-F]{2}\/\S+)$/);
  assert.ok(lines.some((l) => / L /.test(l)), 'the slave symlink is an L record with its target');
  const names = new Set(lines.map((l) => l.split(' ')[2]));
  for (const [id, want] of expected) assert.equal(names.has(split(id).name), want !== null, id);
  // Another store path index is EINVAL.
  const d = await ClientConnection.connect(addrs[0]!.host, addrs[0]!.port, member);
  await assert.rejects(d.request(CMD.FETCH_ONE_PATH_BINLOG, encodePathBinlogRequest(cluster.group, 3)), /EINVAL/);
  d.close();
});
