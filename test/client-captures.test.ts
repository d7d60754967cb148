import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD, storageStatusName } from '../lib/protocol/codes.ts';
import { errnoName, FdfsError } from '../lib/protocol/errno.ts';
import { FieldReader } from '../lib/protocol/fields.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { decodeFileName, splitFileId } from '../lib/protocol/filename.ts';
import { decodeMetadata } from '../lib/protocol/metadata.ts';
import { decodeGroupStats, decodeStorageBrief, decodeStorageStatRecords } from '../lib/protocol/records.ts';
import { decodeFileIdResponse, decodeFileInfoResponse } from '../lib/protocol/storage-requests.ts';
import { decodeFetchIdsResponse, decodeParameters } from '../lib/protocol/storage-tracker.ts';
import { decodeFetchResponse, decodeStoreAllResponse, decodeStoreOneResponse } from '../lib/protocol/tracker-queries.ts';
import { parseStorageIds } from '../lib/config/storage-ids.ts';
import { decodeStorageClusterStat, decodeTrackerClusterStat, decodeVolumeStat } from '../lib/client/monitor-records.ts';
import { ConnectionPool } from '../lib/client/pool.ts';
import { TrackerClient } from '../lib/client/tracker-client.ts';
import * as storage from '../lib/client/storage-client.ts';

// Real 6.16.1 traffic (captures/client-*.json, ids-client.json): every reply a C tracker or storage
// sent a C client goes through our client-side decoders, and a few recorded conversations are
// replayed against our client, whose requests must be the C client's bytes.

const here = path.dirname(fileURLToPath(import.meta.url));
function capturesDir(): string {
  for (const c of [process.env.FDFS_CAPTURES, '/work/shared/captures', path.join(here, '../../../shared/captures'), path.join(here, '../../shared/captures')]) {
    if (c && fs.existsSync(path.join(c, 'client-upload.json'))) return c;
  }
  return '';
}
const DIR = capturesDir();
const FILES = ['client-upload.json', 'client-download.json', 'client-metadata.json', 'client-query.json', 'client-appender.json',
  'client-delete.json', 'client-monitor.json', 'ids-client.json'];

interface Packet {
  conn: number; dir: 'c2s' | 's2c'; cmd: number; status: number; body_len: number; hex: string; notes: string;
  in_reply_to?: string; elided?: boolean; content_offset?: number; action?: string;
}
interface Capture { connections: Array<{ id: number; action?: string }>; packets: Packet[] }

function load(name: string): Capture {
  return JSON.parse(fs.readFileSync(path.join(DIR, name), 'utf8')) as Capture;
}

const body = (p: Packet) => Buffer.from(p.hex, 'hex').subarray(10);
const skip = DIR ? false : 'captures not found (set FDFS_CAPTURES)';

/** Checks one s2c packet against its notes; returns what it checked, for the count at the end. */
function checkReply(p: Packet, request: Packet | undefined): string {
  const b = body(p);
  const notes = p.notes;
  const cmd = p.in_reply_to ? (CMD as Record<string, number>)[p.in_reply_to] : undefined;
  if (p.status !== 0) {
    // One status, no body read: the name the notes give is ours too.
    const m = /^error (\d+) \((\w+)\)/.exec(notes);
    assert.ok(m, notes);
    assert.equal(errnoName(p.status), m[2]);
    return 'error';
  }
  switch (cmd) {
    case CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE:
    case CMD.SERVICE_QUERY_STORE_WITH_GROUP_ONE: {
      const t = decodeStoreOneResponse(b);
      const m = /group "(\w+)", storage ip "([^"]+)", port (\d+), store_path_index (\d+)/.exec(notes)!;
      assert.deepEqual(t, { group: m[1], ip: m[2], port: Number(m[3]), storePathIndex: Number(m[4]) });
      return 'store-one';
    }
    case CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ALL:
    case CMD.SERVICE_QUERY_STORE_WITH_GROUP_ALL: {
      const t = decodeStoreAllResponse(b);
      const m = /group "(\w+)", (\d+) servers \[([^\]]*)\], store_path_index (\d+)/.exec(notes)!;
      assert.equal(t.group, m[1]);
      assert.deepEqual(t.servers.map((s) => `${s.ip}:${s.port}`), m[3]!.split(', '));
      assert.equal(t.storePathIndex, Number(m[4]));
      return 'store-all';
    }
    case CMD.SERVICE_QUERY_FETCH_ONE:
    case CMD.SERVICE_QUERY_UPDATE:
    case CMD.SERVICE_QUERY_FETCH_ALL: {
      const t = decodeFetchResponse(b);
      const m = /group "(\w+)", (\d+) server\(s\) \[([^\]]*)\]/.exec(notes)!;
      assert.equal(t.group, m[1]);
      assert.deepEqual(t.servers.map((s) => `${s.ip}:${s.port}`), m[3]!.split(', '));
      return 'fetch';
    }
    case CMD.UPLOAD_FILE:
    case CMD.UPLOAD_APPENDER_FILE:
    case CMD.UPLOAD_SLAVE_FILE:
    case CMD.REGENERATE_APPENDER_FILENAME: {
      const r = decodeFileIdResponse(b);
      const m = /group "(\w+)", file "([^"]+)" \[name: source (?:server id (\d+)|([\d.]+)), ts (\d+), (\w+), size-field 0x([0-9a-f]+)(?: => size (\d+))?, crc32 0x([0-9a-f]+)\]/.exec(notes)!;
      assert.ok(m, notes);
      assert.equal(r.group, m[1]);
      assert.equal(r.logicName, m[2]);
      const d = decodeFileName(r.logicName)!;
      assert.ok(d, r.logicName);
      assert.deepEqual(d.source, m[3] ? { id: Number(m[3]) } : { ip: m[4] });
      assert.equal(d.timestamp, Number(m[5]));
      assert.equal(d.type, m[6]);
      assert.equal(d.sizeField, BigInt(`0x${m[7]}`));
      if (m[8] !== undefined) assert.equal(d.nameSize, Number(m[8]));
      assert.equal(d.crc32, parseInt(m[9]!, 16));
      return 'file-id';
    }
    case CMD.QUERY_FILE_INFO: {
      const i = decodeFileInfoResponse(b);
      const m = /file_size (\d+), timestamp\(mtime\) (\d+), crc32 i64 (-?\d+) \(low 32 bits 0x([0-9a-f]+)\), source ip "([^"]*)"/.exec(notes)!;
      assert.deepEqual(i, { size: Number(m[1]), timestamp: Number(m[2]), crc32: parseInt(m[4]!, 16), sourceIp: m[5] });
      return 'file-info';
    }
    case CMD.GET_METADATA: {
      const meta = decodeMetadata(b);
      const m = /^meta: (.*) \(records/.exec(notes)!;
      assert.deepEqual(meta.map(([k, v]) => `${k}=${v}`), m[1]!.split('; '));
      return 'metadata';
    }
    case CMD.DOWNLOAD_FILE: {
      assert.equal(Number(/^(\d+) content bytes/.exec(notes)![1]), p.body_len);
      if (!p.elided) assert.equal(b.length, p.body_len);
      // A whole-file download must carry the content whose CRC the name records.
      const req = request ? body(request) : undefined;
      if (req && !p.elided) {
        const r = new FieldReader(req);
        const offset = r.i64();
        const bytes = r.i64();
        r.str(16);
        const d = decodeFileName(r.text());
        if (offset === 0 && bytes === 0 && d && d.type === 'normal') assert.equal(crc32(b), d.crc32);
      }
      return 'download';
    }
    case CMD.SERVER_LIST_ALL_GROUPS:
    case CMD.SERVER_LIST_ONE_GROUP: {
      const groups = decodeGroupStats(b);
      const recs = [...notes.matchAll(/\{group "(\w+)", total_mb (\d+), free_mb (\d+), reserved_mb (\d+), trunk_free_mb (\d+), storage_count (\d+), storage_port (\d+)/g)];
      assert.equal(groups.length, recs.length);
      groups.forEach((g, i) => {
        const m = recs[i]!;
        assert.deepEqual([g.group_name, g.total_mb, g.free_mb, g.reserved_mb, g.trunk_free_mb, g.storage_count, g.storage_port],
          [m[1], ...m.slice(2, 8).map(Number)]);
      });
      return 'groups';
    }
    case CMD.SERVER_LIST_STORAGE: {
      const list = decodeStorageStatRecords(b);
      const recs = [...notes.matchAll(/\{status (\d+) (\w+), rw_mode (\d+), id "([^"]*)", ip "([^"]*)", src_id "([^"]*)", version "([^"]*)", join_time (\d+)/g)];
      assert.equal(list.length, recs.length);
      list.forEach((s, i) => {
        const m = recs[i]!;
        assert.deepEqual([s.status, storageStatusName(s.status), s.rw_mode, s.id, s.ip_addr, s.src_id, s.version, s.join_time],
          [Number(m[1]), m[2], Number(m[3]), m[4], m[5], m[6], m[7], Number(m[8])]);
      });
      const hb = [...notes.matchAll(/last_heart_beat_time=(\d+)/g)].map((x) => Number(x[1]));
      assert.deepEqual(list.map((s) => s.stat.last_heart_beat_time), hb);
      return 'storages';
    }
    case CMD.SERVER_GET_LEADER:
      assert.equal(b.toString('latin1'), /leader "([^"]+)"/.exec(notes)![1]);
      return 'leader';
    case CMD.SERVER_TRACKER_CLUSTER_STAT: {
      const t = decodeTrackerClusterStat(b);
      assert.equal(t.length, Number(/count (\d+)/.exec(notes)![1]));
      assert.equal(t[0]!.host, '127.0.0.4:22160', 'stale bytes after the NUL are not part of the host');
      assert.equal(t[0]!.isLeader, true);
      assert.equal(t[0]!.version, '6.16.1');
      assert.equal(t[0]!.upTime, Number(/up_time (\d+)/.exec(notes)![1]));
      return 'tracker-stat';
    }
    case CMD.SERVER_STORAGE_CLUSTER_STAT: {
      const s = decodeStorageClusterStat(b);
      assert.equal(s.storages.length, Number(/count (\d+)/.exec(notes)![1]));
      assert.deepEqual(s.storages.map((x) => [x.id, x.host, x.status]), [['127.0.0.2', '127.0.0.2:23060', 7], ['127.0.0.3', '127.0.0.3:23060', 7]]);
      assert.deepEqual(s.storages.map((x) => x.lastHeartbeatTime), [...notes.matchAll(/last_heartbeat_time (\d+)/g)].map((x) => Number(x[1])));
      return 'storage-stat';
    }
    case CMD.SERVER_STORAGE_VOLUMN_STAT: {
      const v = decodeVolumeStat(b);
      assert.equal(v.groups[0]!.group, 'group1');
      assert.equal(v.groups[0]!.availMb, Number(/avail_mb (\d+)/.exec(notes)![1]));
      assert.equal(v.groups[0]!.isDiskAvailable, true);
      return 'volume-stat';
    }
    case CMD.STORAGE_PARAMETER_REQ: {
      const params = decodeParameters(b);
      assert.equal(params.get('use_storage_id'), /use_storage_id=(\d)/.exec(notes)![1]);
      return 'parameters';
    }
    case CMD.STORAGE_FETCH_STORAGE_IDS: {
      const r = decodeFetchIdsResponse(b);
      assert.equal(r.total, Number(/total_count (\d+)/.exec(notes)![1]));
      assert.equal(r.lines.length, Number(/, count (\d+)/.exec(notes)![1]));
      const ids = parseStorageIds(r.lines.join('\n'), 'capture');
      assert.equal(ids.length, r.lines.length);
      return 'storage-ids';
    }
    case CMD.STORAGE_GET_STATUS: {
      const brief = decodeStorageBrief(new FieldReader(b));
      assert.equal(brief.status, Number(/status (\d+)/.exec(notes)![1]));
      return 'status';
    }
    case CMD.STORAGE_GET_SERVER_ID:
      assert.equal(b.toString('latin1'), /server id text "([^"]+)"/.exec(notes)![1]);
      return 'server-id';
    case CMD.SET_METADATA:
    case CMD.DELETE_FILE:
    case CMD.ACTIVE_TEST:
    case CMD.APPEND_FILE:
    case CMD.MODIFY_FILE:
    case CMD.TRUNCATE_FILE:
      assert.equal(p.body_len, 0);
      return 'empty';
    default:
      return 'other';
  }
}

describe('captured 6.16.1 replies through the client decoders', { skip }, () => {
  const seen = new Map<string, number>();
  for (const file of FILES) {
    test(file, () => {
      const cap = load(file);
      const lastRequest = new Map<number, Packet>();
      for (const p of cap.packets) {
        if (p.dir === 'c2s') { lastRequest.set(p.conn, p); continue; }
        try {
          const kind = checkReply(p, lastRequest.get(p.conn));
          seen.set(kind, (seen.get(kind) ?? 0) + 1);
        } catch (err) {
          (err as Error).message = `${file} conn ${p.conn} (${p.in_reply_to}): ${(err as Error).message}\n  notes: ${p.notes}`;
          throw err;
        }
      }
    });
  }
  test('every kind of client reply was met', () => {
    for (const kind of ['store-one', 'store-all', 'fetch', 'file-id', 'file-info', 'metadata', 'download', 'groups', 'storages',
      'leader', 'tracker-stat', 'storage-stat', 'volume-stat', 'parameters', 'storage-ids', 'empty', 'error']) {
      assert.ok((seen.get(kind) ?? 0) > 0, `no ${kind} reply checked`);
    }
  });
});

// ---- replays: a server that expects the C client's request bytes and answers with the recorded reply ----

interface Exchange { request: Buffer; reply: Buffer }

/** Serves one connection: each request must equal the recorded one; mismatches are collected. */
async function replayServer(exchanges: Exchange[]): Promise<{ address: { host: string; port: number }; mismatches: string[]; close: () => Promise<void> }> {
  const mismatches: string[] = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let i = 0;
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 10) {
        const len = Number(buf.readBigInt64BE(0));
        if (buf.length < 10 + len) break;
        const req = buf.subarray(0, 10 + len);
        buf = buf.subarray(10 + len);
        const ex = exchanges[i++];
        if (!ex) { mismatches.push(`unexpected request ${req.toString('hex')}`); sock.destroy(); return; }
        if (!req.equals(ex.request)) {
          const at = req.findIndex((b, k) => b !== ex.request[k]);
          const around = (b: Buffer) => b.subarray(Math.max(0, at - 8), at + 24).toString('hex');
          mismatches.push(`request ${i}: first difference at byte ${at}: sent …${around(req)}…, C sent …${around(ex.request)}…`);
        }
        sock.write(ex.reply);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: { host: '127.0.0.1', port },
    mismatches,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.unref(); }),
  };
}

/** The request/reply pairs of one recorded connection (by action name and server role). */
function exchangesOf(file: string, action: string, conn?: number): Exchange[] {
  const cap = load(file);
  const ids = new Set(cap.connections.filter((c) => c.action === action && (conn === undefined || c.id === conn)).map((c) => c.id));
  const out: Exchange[] = [];
  let pending: Packet | undefined;
  for (const p of cap.packets) {
    if (!ids.has(p.conn)) continue;
    if (p.dir === 'c2s') pending = p;
    else if (pending) { out.push({ request: Buffer.from(pending.hex, 'hex'), reply: Buffer.from(p.hex, 'hex') }); pending = undefined; }
  }
  return out;
}

async function onReplay<T>(exchanges: Exchange[], fn: (conn: ClientConnection) => Promise<T>): Promise<T> {
  const srv = await replayServer(exchanges);
  const conn = await ClientConnection.connect(srv.address.host, srv.address.port, { connectTimeout: 5, networkTimeout: 5 });
  try {
    const out = await fn(conn);
    assert.deepEqual(srv.mismatches, []);
    return out;
  } finally {
    conn.destroy();
    await srv.close();
  }
}

describe('recorded conversations replayed against our client', { skip }, () => {
  const SMALL1 = Buffer.from('Hello FastDFS! This is a small test file.\n');

  test('UPLOAD_FILE of small1.txt: the same request bytes, the recorded file ID back', async () => {
    const ex = exchangesOf('client-upload.json', 'p1-upload-small', 1);
    const r = await onReplay(ex, (c) => storage.uploadFile(c, { storePathIndex: 0, ext: 'txt', content: { size: SMALL1.length, chunks: () => SMALL1 } }));
    assert.deepEqual(r, { group: 'group1', logicName: 'M00/00/00/fwAAAmsGnkGATEe2AAAAKt11vBM623.txt' });
  });

  test('DOWNLOAD_FILE whole and ranged', async () => {
    const whole = exchangesOf('client-download.json', 'download-whole', 1);
    const got = await onReplay(whole, async (c) => {
      const n = await storage.startDownload(c, 'group1', 'M00/00/00/fwAAAmsGnl-AcZFRAAAAKt11vBM733.txt', 0, 0, 'f');
      return c.reader.readExact(n);
    });
    assert.ok(got.equals(SMALL1));
    const ranged = exchangesOf('client-download.json', 'download-range', 3);
    const part = await onReplay(ranged, async (c) => {
      const n = await storage.startDownload(c, 'group1', 'M00/00/00/fwAAA2sGnl-AKPIFAAAAJRyevkE360.txt', 4, 10, 'f');
      return c.reader.readExact(n);
    });
    assert.equal(part.toString(), '456789abcd');
  });

  test('SET_METADATA O and M, GET_METADATA sorted, ENOENT without metadata', async () => {
    const name = 'M00/00/00/fwAAA2sGnmGAAu1SAAAEAKYGZSk792.jpg';
    const { encodeMetadata } = await import('../lib/protocol/metadata.ts');
    // The C tool sent its records in this order (client-metadata.json conn 7).
    await onReplay(exchangesOf('client-metadata.json', 'setmeta-overwrite', 7), (c) =>
      storage.setMetadata(c, 'group1', name, 'O', encodeMetadata([['width', '1024'], ['height', '768'], ['color', 'blue']]), 'f'));
    await onReplay(exchangesOf('client-metadata.json', 'setmeta-merge', 10), (c) =>
      storage.setMetadata(c, 'group1', name, 'M', encodeMetadata({ color: 'green', author: 'fdfs' }), 'f'));
    const blob = await onReplay(exchangesOf('client-metadata.json', 'getmeta-2', 12), (c) => storage.getMetadata(c, 'group1', name, 'f'));
    assert.deepEqual(decodeMetadata(blob), [['author', 'fdfs'], ['color', 'green'], ['height', '768'], ['width', '1024']]);
    const missing = exchangesOf('client-metadata.json', 'getmeta-missing-meta', 17).slice(0, 1);
    await assert.rejects(onReplay(missing, (c) => storage.getMetadata(c, 'group1', 'M00/00/00/fwAAA2sGnl-AKPIFAAAAJRyevkE360.txt', 'group1/x')),
      (e: unknown) => e instanceof FdfsError && e.code === 'ENOENT' && e.subject === 'group1/x');
  });

  test('no-op APPEND / MODIFY / TRUNCATE: the echoed body of a 6.16 storage is success (§3.9)', async () => {
    const name = 'M00/00/00/fwAAAmsGnnGEbAqRAAAAAAnvMvc958.txt';
    const empty = { size: 0, chunks: () => Buffer.alloc(0) };
    await onReplay(exchangesOf('errors.json', 'err-append-zero-bytes', 17), (c) => storage.appendFile(c, name, empty, 'f'));
    await onReplay(exchangesOf('errors.json', 'raw-storage-modify-zero'), (c) => storage.modifyFile(c, name, 0, empty, 'f'));
    await onReplay(exchangesOf('errors.json', 'raw-storage-truncate-noop'), async (c) => {
      await storage.truncateFile(c, name, 80, 'f');
      assert.equal(c.usable, true, 'the connection is still at a request boundary');
    });
  });

  test('QUERY_FILE_INFO of an appender and REGENERATE_APPENDER_FILENAME', async () => {
    const info = await onReplay(exchangesOf('client-query.json', 'file-info-appender', 4), (c) =>
      storage.queryFileInfo(c, 'group1', 'M00/00/00/fwAAAmsGnkKEKoJfAAAAAA_-AcM952.txt', 'f'));
    assert.deepEqual(info, { size: 12, timestamp: 1795595843, crc32: 0xe32a3103, sourceIp: '127.0.0.2' });
    const r = await onReplay(exchangesOf('client-appender.json', 'regenerate', 23), (c) =>
      storage.regenerateAppenderName(c, 'M00/00/00/fwAAA2sGnm6ECqYNAAAAAA_-AcM604.txt', 'f'));
    assert.equal(r.logicName, 'M00/00/00/fwAAA2sGnnGAQRZsAAAAEuY8FBE604.txt');
    assert.equal(decodeFileName(r.logicName)!.crc32, 0xe63c1411);
  });

  test('tracker queries on one connection: 104, 107, 106, 101, 102, 103, 105, 95', async () => {
    const ex = exchangesOf('client-query.json', 'raw-tracker-queries').slice(0, 8);
    const srv = await replayServer(ex);
    const pool = new ConnectionPool({ connectTimeout: 5, networkTimeout: 5 });
    const t = new TrackerClient([{ host: srv.address.host, port: srv.address.port }], pool);
    try {
      const name = 'M00/00/00/fwAAAmsGnl-AcZFRAAAAKt11vBM733.txt';
      assert.deepEqual(await t.queryStore('group1'), { group: 'group1', ip: '127.0.0.2', port: 23060, storePathIndex: 0 });
      assert.equal((await t.queryStoreAll('group1')).servers.length, 2);
      assert.equal((await t.queryStoreAll()).servers.length, 2);
      assert.equal((await t.queryStore()).ip, '127.0.0.3');
      assert.deepEqual(await t.queryFetch('group1', name), { ip: '127.0.0.3', port: 23060 });
      assert.deepEqual(await t.queryUpdate('group1', name), { ip: '127.0.0.2', port: 23060 });
      assert.equal((await t.queryFetchAll('group1', name)).length, 2);
      assert.equal(await t.getLeader(), '127.0.0.4:22160');
      assert.deepEqual(srv.mismatches, []);
      assert.equal(pool.connectCount, 1, 'one pooled tracker connection for all of them');
    } finally {
      pool.close();
      await srv.close();
    }
  });

  test('fdfs_monitor list: 91 then 92 with the same bytes', async () => {
    const ex = exchangesOf('client-monitor.json', 'monitor-list');
    const srv = await replayServer(ex);
    const pool = new ConnectionPool();
    const t = new TrackerClient([`127.0.0.1:${srv.address.port}`], pool);
    try {
      const groups = await t.listGroups();
      const list = await t.listStorages(groups[0]!.group_name);
      assert.deepEqual(list.map((s) => [s.id, s.src_id]), [['127.0.0.2', ''], ['127.0.0.3', '127.0.0.2']]);
      assert.deepEqual(srv.mismatches, []);
    } finally {
      pool.close();
      await srv.close();
    }
  });

  test('UPLOAD_SLAVE_FILE: master name, prefix, ext and content as the C client sends them', async () => {
    const ex = exchangesOf('client-upload.json', 'p1-fdfs_test-upload', 4);
    const master = 'M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915.jpg';
    // The 1024 content bytes are those of the recorded request, after its 38 + 44 fixed bytes.
    const content = ex[0]!.request.subarray(10 + 38 + master.length);
    assert.equal(content.length, 1024);
    const r = await onReplay(ex.slice(0, 1), (c) => storage.uploadSlaveFile(c, master, '_big', 'jpg', { size: content.length, chunks: () => content }, 'f'));
    assert.equal(r.logicName, 'M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915_big.jpg');
  });

  test('monitoring requests 96, 97, 98 carry the C tools\' filter bytes; 94 off the leader is EOPNOTSUPP', async () => {
    const stat96 = exchangesOf('client-monitor.json', 'tracker-stat').slice(1);
    const ex = [...stat96, ...exchangesOf('client-monitor.json', 'storage-stat'), ...exchangesOf('client-monitor.json', 'volumn-stat'),
      ...exchangesOf('client-monitor.json', 'set-trunk-server')];
    const srv = await replayServer(ex);
    const pool = new ConnectionPool();
    const t = new TrackerClient([`127.0.0.1:${srv.address.port}`], pool);
    try {
      assert.equal((await t.trackerClusterStat())[0]!.host, '127.0.0.4:22160');
      assert.equal((await t.storageClusterStat()).storages.length, 2);
      assert.equal((await t.volumeStat()).groups[0]!.availMb, 28413);
      await assert.rejects(t.setTrunkServer('group1'), (e: unknown) => e instanceof FdfsError && e.code === 'EOPNOTSUPP');
      assert.deepEqual(srv.mismatches, []);
    } finally {
      pool.close();
      await srv.close();
    }
  });

  test('file IDs of the captures split and decode as §2.4 / §6 say', () => {
    const id = 'group1/M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915.jpg';
    assert.deepEqual(splitFileId(id), { group: 'group1', logicName: 'M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915.jpg' });
    assert.equal(decodeFileName('M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915_big.jpg')!.type, 'slave');
  });
});
