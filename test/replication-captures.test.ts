import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStorageConfig } from '../lib/config/storage-config.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD, commandName } from '../lib/protocol/codes.ts';
import { errnoName } from '../lib/protocol/errno.ts';
import { decodeHeader, encodeHeader } from '../lib/protocol/header.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';
import { RECEIVED_FILE } from '../lib/storage/sync/receiver.ts';
import { exchanges, haveCaptures, loadCapture, packetBody, type CapturePacket } from './helpers/captures.ts';

// The receiving side of replication against what FastDFS 6.16.1 storages really send: every
// storage→storage request of captures/storage-sync.json (initial copy, live replication both
// ways) and captures/storage-resync.json (full re-copy to a member that still has the files) is
// replayed, in recorded order and on as many connections as recorded, into two empty fdfs
// storages standing in for s1 and s2. Our answers must match the recorded ones, with one
// deliberate difference: a successful SYNC_RENAME_FILE gets an empty body, not 6.16.1's echo
// of the request (captures/README.md #1). The requests carry the C sender's quirks: stale bytes
// after the group name (#2), header status 17 without content, REPORT_SERVER_ID on some
// connections only.

const skip = haveCaptures() ? false : 'captures not available (../shared/captures)';

interface Receiver { server: StorageServer; dir: string; port: number }
const receivers = new Map<string, Receiver>();

async function startReceiver(ip: string): Promise<Receiver> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-sync-capture-'));
  const config = loadStorageConfig({
    overrides: { group_name: 'group1', base_path: dir, bind_addr: '127.0.0.1', tracker_server: ['127.0.0.1:1'], subdir_count_per_path: 1 },
  }).config;
  const server = new StorageServer(config, undefined, {
    reporter: false, listenPort: 0, myIp: [ip], parameters: { reserved_storage_space: '0MB', use_storage_id: '0' },
  });
  const a = await server.start();
  return { server, dir, port: a.port };
}

before(async () => {
  if (skip) return;
  receivers.set('s1', await startReceiver('127.0.0.2'));
  receivers.set('s2', await startReceiver('127.0.0.3'));
});

after(async () => {
  for (const r of receivers.values()) {
    await r.server.stop();
    fs.rmSync(r.dir, { recursive: true, force: true });
  }
});

/** The request as recorded; an elided body gets its recorded head and tail around filler bytes. */
function requestBytes(p: CapturePacket & { hex_tail?: string }): Buffer {
  const body = packetBody(p);
  if (!p.elided) return body;
  const full = Buffer.alloc(p.body_len);
  body.copy(full, 0);
  if (p.hex_tail) {
    const tail = Buffer.from(p.hex_tail, 'hex');
    tail.copy(full, full.length - tail.length);
  }
  return full;
}

async function replay(file: string, stats: Map<string, number>): Promise<void> {
  const cap = loadCapture(file);
  const conns = new Map<string, ClientConnection>();
  const all = exchanges(cap).filter((ex) => ex.conn.server_role.startsWith('storage')).sort((a, b) => a.req.t - b.req.t);
  try {
    for (const { req, res, conn } of all) {
      const who = conn.server_role.includes('s1') ? 's1' : 's2';
      const key = `${file}#${conn.id}`;
      let c = conns.get(key);
      if (!c) {
        c = await ClientConnection.connect('127.0.0.1', receivers.get(who)!.port);
        conns.set(key, c);
      }
      const body = requestBytes(req);
      await c.write(Buffer.concat([encodeHeader(body.length, req.cmd, req.status), body]));
      if (req.cmd === CMD.QUIT) continue;
      const h = decodeHeader(await c.reader.readExact(10));
      const answer = h.length > 0 ? await c.reader.readExact(h.length) : Buffer.alloc(0);
      const where = `${file} conn ${conn.id} t=${req.t} ${commandName(req.cmd)} ${req.notes?.slice(0, 120) ?? ''}`;
      assert.ok(res, where);
      assert.equal(errnoName(h.status), errnoName(res.status), where);
      if (req.cmd === CMD.SYNC_RENAME_FILE && h.status === 0) {
        assert.equal(answer.length, 0, 'we answer a rename with an empty body (6.16.1 echoes the request)');
      } else if (req.cmd === CMD.QUERY_FILE_INFO && h.status === 0) {
        // File size as recorded (mtime and source too: the source timestamp was kept as mtime).
        assert.deepEqual(answer.subarray(0, 16), packetBody(res).subarray(0, 16), where);
      } else {
        assert.equal(answer.length, res.body_len, where);
      }
      stats.set(commandName(req.cmd), (stats.get(commandName(req.cmd)) ?? 0) + 1);
    }
  } finally {
    for (const c of conns.values()) c.close();
  }
}

test('recorded 6.16.1 sync requests get the answers a 6.16.1 storage gave', { skip }, async () => {
  const stats = new Map<string, number>();
  await replay('storage-sync.json', stats);
  await replay('storage-resync.json', stats);
  if (process.env.FDFS_TEST_VERBOSE) process.stderr.write(`${JSON.stringify([...stats])}\n`);
  for (const cmd of ['REPORT_SERVER_ID', 'SYNC_CREATE_FILE', 'SYNC_UPDATE_FILE', 'SYNC_DELETE_FILE', 'SYNC_APPEND_FILE',
    'SYNC_MODIFY_FILE', 'SYNC_TRUNCATE_FILE', 'SYNC_RENAME_FILE', 'QUERY_FILE_INFO', 'ACTIVE_TEST']) {
    assert.ok((stats.get(cmd) ?? 0) > 0, `${cmd} was exercised`);
  }
});

test('replicas are logged lower case with the source timestamp, which is also their mtime (§5.2, §7.2)', { skip }, async () => {
  const s2 = receivers.get('s2')!;
  const binlog = fs.readFileSync(path.join(s2.dir, 'data', 'sync', 'binlog.000'), 'latin1');
  // The first file of the initial copy (captures: 16 at t=21.258, timestamp 1795595841).
  assert.match(binlog, /^1795595841 c M00\/00\/00\/fwAAAmsGnkGATEe2AAAAKt11vBM623\.txt$/m);
  assert.match(binlog, /^1795595843 u M00\/00\/00\/fwAAAmsGnkKAQZPRAAAEAKYGZSk915\.jpg-m$/m);
  assert.match(binlog, /^1795595889 m M00\/00\/00\/fwAAAmsGnnGEbAqRAAAAAAnvMvc958\.txt 48 32$/m);
  assert.doesNotMatch(binlog, /^\d+ [CDUAMTLR] /m, 'nothing of this is logged as our own change');
  const st = fs.statSync(path.join(s2.dir, 'data', '00', '00', 'fwAAAmsGnkGATEe2AAAAKt11vBM623.txt'));
  assert.equal(Math.floor(st.mtimeMs / 1000), 1795595841);
  const s1 = receivers.get('s1')!;
  const b1 = fs.readFileSync(path.join(s1.dir, 'data', 'sync', 'binlog.000'), 'latin1');
  // 40 SYNC_RENAME_FILE from s2 after its REGENERATE_APPENDER_FILENAME.
  assert.match(b1, /^1795595889 r M00\/00\/00\/fwAAA2sGnnGAQRZsAAAAEuY8FBE604\.txt M00\/00\/00\/fwAAA2sGnm6ECqYNAAAAAA_-AcM604\.txt$/m);
});

test('progress is kept per reporting source for SYNC_REPORT (§4.7)', { skip }, async () => {
  const s2 = receivers.get('s2')!;
  await s2.server.stop();
  const saved = fs.readFileSync(path.join(s2.dir, 'data', 'sync', RECEIVED_FILE), 'latin1');
  // Every connection from s1 sent REPORT_SERVER_ID "127.0.0.2"; the newest record it pushed was
  // of 1795595889. We claim one second less (records of a second may come out of order).
  assert.match(saved, /^127\.0\.0\.2=1795595888$/m);
});
