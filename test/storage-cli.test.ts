import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { PacketServer, type Handler } from '../lib/net/packet-server.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { fixed } from '../lib/protocol/fields.ts';
import { decodeFileName } from '../lib/protocol/filename.ts';
import { decodeFileIdResponse, encodeDownloadRequest, encodeUploadRequest } from '../lib/protocol/storage-requests.ts';
import { startDaemon, type Daemon } from '../lib/util/daemon-process.ts';
import { freePort, runCli, writeConf } from './helpers/cluster.ts';

// `fdfs storage start` as a user runs it, against a stand-in tracker that answers only the
// start-up requests (60 GET_MY_IP with the address it sees, 75 parameters). Two storages of one
// group share a port on distinct loopback addresses.

let dir: string;
let tracker: PacketServer<null>;
let trackerPort: number;
const seenFrom: string[] = [];
const daemons: Daemon[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-storage-cli-'));
  const handlers = new Map<number, Handler<null>>([
    [CMD.STORAGE_GET_MY_IP, (req) => { seenFrom.push(req.conn.remoteIp); return Buffer.from(req.conn.remoteIp); }],
    [CMD.STORAGE_PARAMETER_REQ, () => Buffer.from('use_storage_id=0\nid_type_in_filename=ip\nresponse_ip_addr_size=16\nstore_path=0\nreserved_storage_space=1MB\n')],
  ]);
  tracker = new PacketServer<null>({ name: 'fake-tracker', handlers, state: null, networkTimeout: 30, maxBodyLength: 65536, closeOnEinval: false });
  trackerPort = (await tracker.listen(0, '127.0.0.1')).port;
});

after(async () => {
  for (const d of daemons) await d.stop();
  await tracker?.close(100);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function uploadTo(d: Daemon, content: Buffer): Promise<string> {
  const c = await ClientConnection.connect(d.host, d.port);
  try {
    const r = decodeFileIdResponse(await c.request(CMD.UPLOAD_FILE, [encodeUploadRequest({ storePathIndex: -1, fileSize: content.length, ext: 'txt' }), content]));
    return r.logicName;
  } finally {
    c.close();
  }
}

async function downloadFrom(d: Daemon, name: string): Promise<Buffer> {
  const c = await ClientConnection.connect(d.host, d.port);
  try {
    return await c.request(CMD.DOWNLOAD_FILE, encodeDownloadRequest(0, 0, 'group1', name));
  } finally {
    c.close();
  }
}

test('two storages of one group on one port, distinct bind addresses; SIGTERM stops cleanly', async () => {
  const ips = ['127.0.0.2', '127.0.0.3'];
  const port = await freePort(ips);
  const started: Daemon[] = [];
  for (const ip of ips) {
    const base = path.join(dir, ip);
    fs.mkdirSync(base);
    const conf = writeConf(path.join(dir, `${ip}.conf`), {
      group_name: 'group1', bind_addr: ip, port, base_path: base, tracker_server: `127.0.0.1:${trackerPort}`,
      subdir_count_per_path: 4, heart_beat_interval: 2,
    });
    const d = await startDaemon({ label: ip, args: ['storage', 'start', '-c', conf], stderr: () => {} });
    daemons.push(d);
    started.push(d);
    assert.equal(d.readyLine, `storage listening on ${ip}:${port} (group1)`);
  }
  // the trackers saw each storage come from its bind address, so names carry that address
  assert.ok(seenFrom.includes('127.0.0.2') && seenFrom.includes('127.0.0.3'), seenFrom.join(','));
  for (const [i, d] of started.entries()) {
    const content = Buffer.from(`stored on ${ips[i]}\n`);
    const name = await uploadTo(d, content);
    assert.deepEqual(decodeFileName(name)!.source, { ip: ips[i] });
    assert.deepEqual(await downloadFrom(d, name), content);
  }
  // an acknowledged upload is in the binlog once SIGTERM has stopped the daemon
  const name = await uploadTo(started[0]!, Buffer.from('last one'));
  assert.equal(await started[0]!.stop(), 0);
  const binlog = fs.readFileSync(path.join(dir, '127.0.0.2', 'data', 'sync', 'binlog.000'), 'latin1');
  assert.ok(binlog.includes(` C ${name}\n`));
  assert.match(fs.readFileSync(path.join(dir, '127.0.0.2', 'data', 'storage_stat.dat'), 'latin1'), /success_upload_count=2\n/);
  assert.equal(await started[1]!.stop(), 0);
});

test('--port 0 and command-line flags override the conf file', async () => {
  const base = path.join(dir, 'flags');
  fs.mkdirSync(base);
  const store = path.join(dir, 'flags-store');
  fs.mkdirSync(store);
  // the conf names things the flags replace (group, address, port, paths, tracker)
  const conf = writeConf(path.join(dir, 'flags.conf'), {
    group_name: 'group9', bind_addr: '127.0.0.9', port: 1, base_path: path.join(dir, 'nowhere'),
    tracker_server: '127.0.0.1:1', subdir_count_per_path: 2,
  });
  const d = await startDaemon({
    label: 'flags',
    args: ['storage', 'start', '-c', conf, '--group', 'g2', '--bind', '127.0.0.4', '--port', '0', '--base-path', base,
      '--store-path', store, '--tracker', `127.0.0.1:${trackerPort}`],
    stderr: () => {},
  });
  daemons.push(d);
  assert.match(d.readyLine, /^storage listening on 127\.0\.0\.4:\d+ \(g2\)$/);
  assert.notEqual(d.port, 0);
  assert.deepEqual(fs.readdirSync(path.join(store, 'data')).filter((n) => !n.startsWith('.')).sort(), ['00', '01']);
  assert.ok(fs.existsSync(path.join(base, 'data', 'sync', 'binlog.000')));
  const c = await ClientConnection.connect(d.host, d.port);
  try {
    const r = decodeFileIdResponse(await c.request(CMD.UPLOAD_FILE, [encodeUploadRequest({ storePathIndex: 0, fileSize: 2, ext: '' }), Buffer.from('hi')]));
    assert.equal(r.group, 'g2');
    assert.ok(fs.existsSync(path.join(store, 'data', r.logicName.slice(4))));
    await assert.rejects(c.request(CMD.DOWNLOAD_FILE, [fixed('', 16), fixed('group1', 16), Buffer.from(r.logicName)]), { code: 'EINVAL' });
  } finally {
    c.close();
  }
  assert.equal(await d.stop(), 0);
});

test('a bad conf is a one-line error and exit code 2; a missing store path exits 1', async () => {
  const conf = writeConf(path.join(dir, 'bad.conf'), { base_path: dir, tracker_server: '127.0.0.1:1', heart_beat_interval: 'abc' });
  const r = await runCli(['storage', 'start', '-c', conf]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /bad\.conf:3: heart_beat_interval = abc/);

  const missing = await runCli(['storage', 'start', '--group', 'group1', '--base-path', dir, '--store-path', path.join(dir, 'nope'),
    '--tracker', `127.0.0.1:${trackerPort}`, '--port', '0', '--bind', '127.0.0.1']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /store_path0 .*nope does not exist/);
});
