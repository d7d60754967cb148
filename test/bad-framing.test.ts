import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { loadStorageConfig } from '../lib/config/storage-config.ts';
import { loadTrackerConfig } from '../lib/config/tracker-config.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';
import { TrackerServer } from '../lib/tracker/tracker-server.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { encodeHeader, decodeHeader } from '../lib/protocol/header.ts';
import { fixed } from '../lib/protocol/fields.ts';

// Malformed framing against both daemons (issue "The spine", bad input; PROTOCOL.md §1.1, §1.4):
// negative or absurd lengths, a pkg_len larger than what follows, a header cut short, a client
// that goes silent. Each ends in an errno status or a close — never a crash, never a hang: the
// server keeps serving other connections afterwards.

let dir: string;
let storage: StorageServer;
let tracker: TrackerServer;
let sAddr: { host: string; port: number };
let tAddr: { host: string; port: number };

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-framing-'));
  fs.mkdirSync(path.join(dir, 's'));
  fs.mkdirSync(path.join(dir, 't'));
  const sc = loadStorageConfig({ overrides: { group_name: 'group1', base_path: path.join(dir, 's'), bind_addr: '127.0.0.1',
    tracker_server: ['127.0.0.1:1'], subdir_count_per_path: 1, network_timeout: 1 } }).config;
  storage = new StorageServer(sc, undefined, { reporter: false, listenPort: 0, myIp: ['127.0.0.1'],
    parameters: { reserved_storage_space: '0MB', use_storage_id: '0', response_ip_addr_size: '16' } });
  sAddr = await storage.start();
  const tc = loadTrackerConfig({ overrides: { base_path: path.join(dir, 't'), bind_addr: '127.0.0.1', port: 0, network_timeout: 1 } }).config;
  tracker = new TrackerServer(tc);
  tAddr = await tracker.start();
});

after(async () => {
  await storage?.stop();
  await tracker?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Raw socket: send bytes, collect what comes back until the server closes (bounded). */
function exchange(addr: { host: string; port: number }, bytes: Buffer, waitMs = 5000): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(addr.port, addr.host);
    const got: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); resolve({ reply: Buffer.concat(got), closed: false }); }, waitMs);
    s.on('data', (c) => got.push(c));
    s.on('close', () => { clearTimeout(timer); resolve({ reply: Buffer.concat(got), closed: true }); });
    s.on('error', () => {});
    s.write(bytes);
  });
}

async function stillServes(addr: { host: string; port: number }): Promise<void> {
  const c = await ClientConnection.connect(addr.host, addr.port);
  try { assert.equal((await c.request(CMD.ACTIVE_TEST)).length, 0); } finally { c.close(); }
}

for (const role of ['storage', 'tracker'] as const) {
  const addrOf = () => (role === 'storage' ? sAddr : tAddr);

  test(`${role}: a negative pkg_len gets EINVAL and the connection is closed`, async () => {
    const h = Buffer.from('ffffffffffffff00' + '6f00', 'hex');
    const { reply, closed } = await exchange(addrOf(), h);
    assert.ok(closed);
    assert.equal(reply.length, 10);
    assert.deepEqual(decodeHeader(reply), { length: 0, cmd: CMD.RESP, status: 22 });
    await stillServes(addrOf());
  });

  test(`${role}: pkg_len larger than what follows, then silence ⇒ closed after network_timeout`, async () => {
    const started = Date.now();
    const { reply, closed } = await exchange(addrOf(), Buffer.concat([role === 'storage' ? encodeHeader(1000, CMD.DOWNLOAD_FILE) : encodeHeader(60, CMD.SERVICE_QUERY_FETCH_ONE), Buffer.alloc(20)]), 10000);
    assert.ok(closed, 'closed, not left hanging');
    assert.equal(reply.length, 0, 'no answer to a request that never completed');
    assert.ok(Date.now() - started < 9000);
    await stillServes(addrOf());
  });

  test(`${role}: a header cut short then silence ⇒ closed`, async () => {
    const { reply, closed } = await exchange(addrOf(), Buffer.from([0, 0, 0]), 10000);
    assert.ok(closed);
    assert.equal(reply.length, 0);
    await stillServes(addrOf());
  });

  test(`${role}: an unknown command is EINVAL`, async () => {
    const { reply } = await exchange(addrOf(), encodeHeader(0, 250), 1500);
    assert.equal(decodeHeader(reply).status, 22);
    await stillServes(addrOf());
  });
}

test('storage: a download request larger than buff_size is EINVAL and closed (§1.1)', async () => {
  const big = Buffer.alloc(300 * 1024);
  const { reply, closed } = await exchange(sAddr, Buffer.concat([encodeHeader(big.length, CMD.DOWNLOAD_FILE), big]));
  assert.ok(closed);
  assert.equal(decodeHeader(reply).status, 22);
});

test('tracker: an oversized package closes the connection; a short group field is EINVAL and keeps it', async () => {
  const { closed } = await exchange(tAddr, Buffer.concat([encodeHeader(1024 * 1024, CMD.SERVICE_QUERY_STORE_WITH_GROUP_ONE), Buffer.alloc(1024 * 1024)]));
  assert.ok(closed);
  const c = await ClientConnection.connect(tAddr.host, tAddr.port);
  try {
    await assert.rejects(c.request(CMD.SERVICE_QUERY_STORE_WITH_GROUP_ONE, fixed('group1', 10)), /EINVAL/);
  } finally { c.close(); }
});

test('storage: an idle connection that has carried a request is not closed for idleness (§1.4)', async () => {
  const c = await ClientConnection.connect(sAddr.host, sAddr.port);
  try {
    await c.request(CMD.ACTIVE_TEST);
    // Two network_timeout periods of silence, then the same connection still works.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await c.request(CMD.ACTIVE_TEST)).length, 0);
  } finally { c.close(); }
});
