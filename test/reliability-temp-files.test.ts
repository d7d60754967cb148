import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStorageConfig } from '../lib/config/storage-config.ts';
import { writeFileAtomic } from '../lib/storage/binlog.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';
import { writeAtomic } from '../lib/tracker/persistence.ts';
import { TrackerStore } from '../lib/tracker/persistence.ts';
import { Cluster } from '../lib/tracker/cluster.ts';
import { silentLogger } from '../lib/util/log.ts';

// Issue 15 defect 3: temp files of failed writes (a full disk) and of uploads cut by kill -9 must
// not pile up, neither while running nor across restarts.

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-tmpfiles-'));
}

/** Content whose write fails half-way, as on a disk that fills up during the write. */
function failingContent(): Buffer {
  return (async function* () {
    yield 'half of it';
    throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  })() as unknown as Buffer;
}

test('writeFileAtomic removes its temp file when the write itself fails', async () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'peer.mark');
    fs.writeFileSync(file, 'old\n');
    for (let i = 0; i < 5; i++) await assert.rejects(writeFileAtomic(file, failingContent(), false), /no space/);
    assert.deepEqual(fs.readdirSync(dir), ['peer.mark'], 'no temp file left after 5 failed writes');
    assert.equal(fs.readFileSync(file, 'latin1'), 'old\n', 'the old content stays');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the tracker's writeAtomic removes its temp file when the write fails", async () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'storage_groups_new.dat');
    await assert.rejects(writeAtomic(file, failingContent() as unknown as string), /no space/);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('tracker start-up removes temp files of earlier failed writes', async () => {
  const dir = tmpDir();
  try {
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 'storage_servers_new.dat.tmp'), 'half');
    const store = new TrackerStore(dir, new Cluster(), false, silentLogger);
    await store.init();
    assert.deepEqual(fs.readdirSync(path.join(dir, 'data')).filter((n) => n.endsWith('.tmp')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A storage without trackers on a tiny layout (2 × 2 sub-directories) in `dir`. */
function trackerlessStorage(dir: string) {
  const config = loadStorageConfig({
    overrides: { group_name: 'group1', base_path: dir, bind_addr: '127.0.0.1', tracker_server: ['127.0.0.1:1'], subdir_count_per_path: 2 },
  }).config;
  const opts = { reporter: false as const, listenPort: 0, myIp: ['127.0.0.9'], parameters: { reserved_storage_space: '0MB' } };
  return { config, opts };
}

test('storage start-up removes mark, stat and upload temp files left by a full disk or kill -9', async () => {
  const dir = tmpDir();
  const { config, opts } = trackerlessStorage(dir);
  let server = new StorageServer(config, undefined, opts);
  try {
    await server.start();
    await server.stop();
    const data = path.join(dir, 'data');
    // A kill -9 never writes the clean-stop note that lets a start skip the deep sweep.
    const cleanStop = path.join(data, '.clean_stop');
    assert.ok(fs.existsSync(cleanStop), 'a clean stop leaves data/.clean_stop');
    fs.rmSync(cleanStop);
    const leftovers = [
      path.join(data, 'sync', '127.0.0.2_23000.mark.4242.k3j4h5.tmp'),
      path.join(data, 'storage_stat.dat.4242.abc123.tmp'),
      path.join(data, '.data_init_flag.4242.abc.tmp'),
      path.join(data, '01', '00', '.0123456789abcdef.tmp'),
      path.join(data, '00', '01', '.fedcba9876543210.tmp'),
    ];
    for (const f of leftovers) fs.writeFileSync(f, 'partial');
    const kept = path.join(data, '00', '00', 'wKgAAmdTd7GAAAAAAAAAAA.txt');
    fs.writeFileSync(kept, 'a stored file');
    server = new StorageServer(config, undefined, opts);
    await server.start();
    const swept = await server.uploadTempSweep;
    for (const f of leftovers) assert.ok(!fs.existsSync(f), `${path.relative(dir, f)} removed`);
    assert.equal(swept, 2, "both upload temp files swept");
    for (const f of leftovers) assert.ok(!fs.existsSync(f), `${path.relative(dir, f)} removed`);
    assert.ok(fs.existsSync(kept), 'stored files are left alone');
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the deep upload temp sweep runs only after a stop that was not clean', async () => {
  const dir = tmpDir();
  const { config, opts } = trackerlessStorage(dir);
  const data = path.join(dir, 'data');
  const temp = path.join(data, '01', '01', '.00112233445566ff.tmp');
  let server = new StorageServer(config, undefined, opts);
  try {
    // New store paths: nothing to sweep, and nothing is read.
    await server.start();
    assert.equal(await server.uploadTempSweep, 0);
    await server.stop();
    // After a clean stop the start trusts it: a temp planted meanwhile is not looked for.
    fs.writeFileSync(temp, 'partial');
    server = new StorageServer(config, undefined, opts);
    await server.start();
    assert.equal(await server.uploadTempSweep, 0);
    assert.ok(fs.existsSync(temp), 'no deep sweep after a clean stop');
    assert.ok(!fs.existsSync(path.join(data, '.clean_stop')), 'the note is consumed at start');
    // Without the note (a kill -9 while serving) the next start sweeps.
    await server.stop();
    fs.rmSync(path.join(data, '.clean_stop'));
    server = new StorageServer(config, undefined, opts);
    await server.start();
    assert.equal(await server.uploadTempSweep, 1);
    assert.ok(!fs.existsSync(temp));
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
