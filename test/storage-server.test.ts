import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { loadStorageConfig, type StorageConfig } from '../lib/config/storage-config.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { fixed } from '../lib/protocol/fields.ts';
import { decodeFileName } from '../lib/protocol/filename.ts';
import { encodeHeader } from '../lib/protocol/header.ts';
import { decodeMetadata, encodeMetadata } from '../lib/protocol/metadata.ts';
import {
  decodeFileIdResponse, decodeFileInfoResponse, encodeDownloadRequest, encodeSetMetadataRequest, encodeUploadRequest,
} from '../lib/protocol/storage-requests.ts';
import { parseBinlogLine } from '../lib/storage/binlog.ts';
import { StorageServer } from '../lib/storage/storage-server.ts';

// A storage server run in-process without trackers (the start-up answers are given by hand),
// driven over real sockets the way a FastDFS client drives it.

const GROUP = 'group1';
let dir: string;
let config: StorageConfig;
let server: StorageServer;
let addr: { host: string; port: number };

function groupAndName(name: string, group = GROUP): Buffer {
  return Buffer.concat([fixed(group, 16), Buffer.from(name, 'latin1')]);
}

async function connect(): Promise<ClientConnection> {
  return ClientConnection.connect(addr.host, addr.port, { networkTimeout: 10 });
}

async function upload(conn: ClientConnection, content: Buffer, ext = 'txt', cmd: number = CMD.UPLOAD_FILE): Promise<string> {
  const body = await conn.request(cmd, [encodeUploadRequest({ storePathIndex: -1, fileSize: content.length, ext }), content]);
  const r = decodeFileIdResponse(body);
  assert.equal(r.group, GROUP);
  return r.logicName;
}

function download(conn: ClientConnection, name: string, offset = 0, length = 0, group = GROUP): Promise<Buffer> {
  return conn.request(CMD.DOWNLOAD_FILE, encodeDownloadRequest(offset, length, group, name));
}

async function expectErrno(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof FdfsError, `expected FdfsError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** True once the server closed the connection (bounded wait). */
async function closedByServer(conn: ClientConnection): Promise<boolean> {
  return conn.reader.waitForData().then((has) => !has, () => true);
}

function binlogLines(): string[] {
  const file = path.join(dir, 'data', 'sync', 'binlog.000');
  return fs.existsSync(file) ? fs.readFileSync(file, 'latin1').split('\n').filter(Boolean) : [];
}

/** Every regular file under the store path's data directory (temp files included). */
function dataFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name !== '.fastdfs_vars') out.push(path.relative(path.join(dir, 'data'), p));
    }
  };
  for (const hh of fs.readdirSync(path.join(dir, 'data')).filter((n) => /^[0-9A-F]{2}$/.test(n))) walk(path.join(dir, 'data', hh));
  return out.sort();
}

async function waitUntil(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-storage-'));
  config = loadStorageConfig({
    overrides: {
      group_name: GROUP, base_path: dir, bind_addr: '127.0.0.1', tracker_server: ['127.0.0.1:1'],
      subdir_count_per_path: 2, buff_size: '64KB',
    },
  }).config;
  server = new StorageServer(config, undefined, {
    reporter: false, listenPort: 0, myIp: ['127.0.0.9'],
    parameters: { reserved_storage_space: '0MB', use_storage_id: '0', response_ip_addr_size: '16' },
  });
  addr = await server.start();
});

after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('start-up lays out the store path and state files (§7)', () => {
  for (const hh of ['00/00', '00/01', '01/00', '01/01']) assert.ok(fs.statSync(path.join(dir, 'data', hh)).isDirectory(), hh);
  assert.ok(!fs.existsSync(path.join(dir, 'data', '02')));
  assert.match(fs.readFileSync(path.join(dir, 'data', '.data_init_flag'), 'latin1'), /^storage_join_time=\d+\nsync_old_done=0\n/);
  assert.match(fs.readFileSync(path.join(dir, 'data', 'sync', 'binlog_index.dat'), 'latin1'), /^current_write=0\ncurrent_compress=0\n$/);
  assert.match(fs.readFileSync(path.join(dir, 'data', '.fastdfs_vars'), 'latin1'), /^store_path_mark=[A-Za-z0-9_-]+\n$/);
});

test('upload, download whole and ranged, query info, delete (§3.1, §3.4, §3.5, §3.8)', async () => {
  const conn = await connect();
  try {
    const content = Buffer.from('Hello FastDFS! This is a small test file.\n');
    const before = Math.floor(Date.now() / 1000);
    const name = await upload(conn, content);
    assert.match(name, /^M00\/0[01]\/0[01]\/[A-Za-z0-9_-]{27}[0-9]{3}\.txt$/);
    const d = decodeFileName(name)!;
    assert.deepEqual(d.source, { ip: '127.0.0.9' });
    assert.equal(d.type, 'normal');
    assert.equal(d.size, 42);
    assert.equal(d.crc32, 0xdd75bc13);
    assert.ok(d.timestamp >= before - 1 && d.timestamp <= Math.floor(Date.now() / 1000));

    assert.deepEqual(await download(conn, name), content);
    assert.deepEqual(await download(conn, name, 6, 7), content.subarray(6, 13));
    assert.deepEqual(await download(conn, name, 20), content.subarray(20));
    // bytes beyond the end are clamped (§3.4)
    assert.deepEqual(await download(conn, name, 5, 1000), content.subarray(5));

    const info = decodeFileInfoResponse(await conn.request(CMD.QUERY_FILE_INFO, groupAndName(name)));
    assert.equal(info.size, 42);
    assert.equal(info.crc32, 0xdd75bc13);
    assert.equal(info.timestamp, d.timestamp, 'mtime = name timestamp');
    assert.equal(info.sourceIp, '127.0.0.9');

    const physical = path.join(dir, 'data', name.slice(4));
    assert.equal(Math.floor(fs.statSync(physical).mtimeMs / 1000), d.timestamp);

    await conn.request(CMD.DELETE_FILE, groupAndName(name));
    assert.ok(!fs.existsSync(physical));
    await expectErrno(download(conn, name), 'ENOENT');
    const lines = binlogLines().map((l) => parseBinlogLine(l)!);
    const mine = lines.filter((l) => l.name === name);
    assert.deepEqual(mine.map((l) => l.op), ['C', 'D']);
    assert.equal(mine[0]!.timestamp, d.timestamp, 'C line carries the mtime');
  } finally {
    conn.close();
  }
});

test('a 300 KiB upload streams through and back; an empty file downloads as an empty body', async () => {
  const conn = await connect();
  try {
    const big = randomBytes(300 * 1024 + 17);
    const name = await upload(conn, big, 'bin');
    assert.equal(decodeFileName(name)!.crc32, crc32(big));
    assert.deepEqual(await download(conn, name), big);
    const ranged = await download(conn, name, 100_000, 150_000);
    assert.deepEqual(ranged, big.subarray(100_000, 250_000));

    const empty = await upload(conn, Buffer.alloc(0), '');
    assert.match(empty, /\/[A-Za-z0-9_-]{27}[0-9]{7}$/, 'no extension: 7 random digits');
    assert.equal((await download(conn, empty)).length, 0);
  } finally {
    conn.close();
  }
});

test('metadata: overwrite, merge, get, delete with the data file (§3.6, §3.7)', async () => {
  const conn = await connect();
  try {
    const name = await upload(conn, Buffer.from('meta target'), 'jpg');
    // no metadata yet
    await expectErrno(conn.request(CMD.GET_METADATA, groupAndName(name)), 'ENOENT');
    assert.ok(conn.usable === false);
  } finally {
    conn.close();
  }
  const c2 = await connect();
  try {
    const name = await upload(c2, Buffer.from('meta target 2'), 'jpg');
    const setMeta = (flag: 'O' | 'M', meta: Record<string, string>) =>
      c2.request(CMD.SET_METADATA, encodeSetMetadataRequest(GROUP, name, flag, encodeMetadata(meta)));
    await setMeta('O', { width: '1024', height: '768', color: 'blue' });
    let got = await c2.request(CMD.GET_METADATA, groupAndName(name));
    assert.deepEqual(got, encodeMetadata([['color', 'blue'], ['height', '768'], ['width', '1024']]), 'sorted by name');
    await setMeta('M', { color: 'green', author: 'fdfs' });
    got = await c2.request(CMD.GET_METADATA, groupAndName(name));
    assert.deepEqual(decodeMetadata(got), [['author', 'fdfs'], ['color', 'green'], ['height', '768'], ['width', '1024']]);
    await setMeta('O', { k: 'v' });
    assert.deepEqual(decodeMetadata(await c2.request(CMD.GET_METADATA, groupAndName(name))), [['k', 'v']]);
    // O with an empty blob deletes the meta file
    await setMeta('O', {});
    assert.ok(!fs.existsSync(path.join(dir, 'data', name.slice(4) + '-m')));
    await setMeta('M', { a: '1' });

    await c2.request(CMD.DELETE_FILE, groupAndName(name));
    assert.ok(!fs.existsSync(path.join(dir, 'data', name.slice(4) + '-m')), 'meta file deleted with the data file');
    const ops = binlogLines().map((l) => parseBinlogLine(l)!).filter((l) => l.name.startsWith(name)).map((l) => `${l.op} ${l.name.slice(name.length) || '.'}`);
    assert.deepEqual(ops, ['C .', 'C -m', 'U -m', 'U -m', 'D -m', 'C -m', 'D .', 'D -m']);
  } finally {
    c2.close();
  }
});

test('set metadata of a missing file is ENOENT and the connection stays usable', async () => {
  const conn = await connect();
  try {
    const ghost = 'M00/00/00/fwAAAmsGnl-AcZFRAAAAZZZZZZZZZZ.txt';
    await expectErrno(conn.request(CMD.SET_METADATA, encodeSetMetadataRequest(GROUP, ghost, 'O', encodeMetadata({ a: 'b' }))), 'ENOENT');
  } finally {
    conn.close();
  }
});

test('missing file ⇒ ENOENT and the connection stays usable', async () => {
  const conn = await connect();
  try {
    const ghost = 'M00/00/00/fwAAAmsGnl-AcZFRAAAAZZZZZZZZZZ.txt';
    await assert.rejects(download(conn, ghost), { code: 'ENOENT' });
    // ClientConnection marks itself unusable after any error status (§1.1 client rule); the
    // server side must not have closed: the socket still carries an ACTIVE_TEST.
    await conn.write(encodeHeader(0, CMD.ACTIVE_TEST));
    const h = await conn.reader.readExact(10);
    assert.equal(h[9], 0);
    await conn.write(Buffer.concat([encodeHeader(60, CMD.DELETE_FILE), groupAndName(ghost)]));
    const h2 = await conn.reader.readExact(10);
    assert.equal(h2[9], 2);
    await conn.write(Buffer.concat([encodeHeader(60, CMD.QUERY_FILE_INFO), groupAndName(ghost)]));
    assert.equal((await conn.reader.readExact(10))[9], 2);
    // 6.16.1 answers ENOENT for a short name that does not exist (captures discrepancy 4)
    const short = groupAndName('M00/00/00/short');
    await conn.write(Buffer.concat([encodeHeader(short.length, CMD.QUERY_FILE_INFO), short]));
    assert.equal((await conn.reader.readExact(10))[9], 2);
    await conn.write(encodeHeader(0, CMD.ACTIVE_TEST));
    assert.equal((await conn.reader.readExact(10))[9], 0);
  } finally {
    conn.close();
  }
});

test('bad requests ⇒ EINVAL and the storage closes the connection (§1.1, §3)', async () => {
  const conn0 = await connect();
  const good = await upload(conn0, Buffer.from('x'));
  conn0.close();
  const badNames: Array<[string, string]> = [
    ['wrong group', 'group2'],
    ['..', 'M00/00/00/../../../etc/passwd'],
    ['.. in name', 'M00/00/00/..secret'],
    ['lower-case hh only', 'M00/0a/00/' + good.slice(10)],
    ['/ in name part', 'M00/00/00/abc/def'],
    ['too long', 'M00/00/00/' + 'A'.repeat(130)],
    ['path index ≥ store_path_count', 'M01/00/00/' + good.slice(10)],
    ['.', 'M00/00/00/.'],
    ['an upload temp file (dot name)', 'M00/00/00/.0123456789abcdef.tmp'],
    ['newline (binlog injection)', 'M00/00/00/abc\n1 C M00/00/00/x'],
    ['space', 'M00/00/00/abc def'],
    ['no Mxx prefix, bad layout', 'xx/yy/zz'],
  ];
  for (const [what, name] of badNames) {
    const conn = await connect();
    try {
      const p = what === 'wrong group' ? download(conn, good, 0, 0, 'group2') : download(conn, name);
      await expectErrno(p, 'EINVAL');
      assert.ok(await closedByServer(conn), `${what}: connection closed`);
    } finally {
      conn.close();
    }
  }
  // the same checks guard delete, metadata and query
  for (const cmd of [CMD.DELETE_FILE, CMD.GET_METADATA, CMD.QUERY_FILE_INFO]) {
    const conn = await connect();
    try {
      await expectErrno(conn.request(cmd, groupAndName('M00/00/00/../../x.txt')), 'EINVAL');
      assert.ok(await closedByServer(conn));
    } finally {
      conn.close();
    }
  }
  const conn = await connect();
  try {
    await expectErrno(conn.request(CMD.DELETE_FILE, groupAndName(good, 'group2')), 'EINVAL');
  } finally {
    conn.close();
  }
  // the file the bad requests aimed around is untouched
  const check = await connect();
  try {
    assert.deepEqual(await download(check, good), Buffer.from('x'));
  } finally {
    check.close();
  }
});

test('download offset beyond the end and negative offsets ⇒ EINVAL', async () => {
  const c0 = await connect();
  const name = await upload(c0, Buffer.from('0123456789'));
  c0.close();
  for (const [off, len] of [[10, 0], [142, 1], [-1, 0], [0, -5]] as const) {
    const conn = await connect();
    try {
      await expectErrno(download(conn, name, off, len), 'EINVAL');
      assert.ok(await closedByServer(conn));
    } finally {
      conn.close();
    }
  }
});

test('file_size ≠ pkg_len − 15 ⇒ EINVAL, nothing stored', async () => {
  const filesBefore = dataFiles();
  const linesBefore = binlogLines().length;
  const conn = await connect();
  try {
    const content = Buffer.from('twelve bytes');
    const fixedPart = encodeUploadRequest({ storePathIndex: 0, fileSize: content.length + 3, ext: 'txt' });
    await conn.write(Buffer.concat([encodeHeader(15 + content.length, CMD.UPLOAD_FILE), fixedPart, content]));
    const h = await conn.reader.readExact(10);
    assert.equal(h[9], 22);
    assert.ok(await closedByServer(conn));
  } finally {
    conn.close();
  }
  const c2 = await connect();
  try {
    // bad store path index, bad extension
    await expectErrno(c2.request(CMD.UPLOAD_FILE, [encodeUploadRequest({ storePathIndex: 3, fileSize: 1, ext: 'txt' }), Buffer.from('x')]), 'EINVAL');
  } finally {
    c2.close();
  }
  const c3 = await connect();
  try {
    await expectErrno(c3.request(CMD.UPLOAD_FILE, [encodeUploadRequest({ storePathIndex: 0, fileSize: 1, ext: 'a/b' }), Buffer.from('x')]), 'EINVAL');
  } finally {
    c3.close();
  }
  assert.deepEqual(dataFiles(), filesBefore);
  assert.equal(binlogLines().length, linesBefore);
});

test('a client that disconnects mid-upload leaves no file and no binlog line', async () => {
  const filesBefore = dataFiles();
  const linesBefore = binlogLines().length;
  const conn = await connect();
  const size = 1024 * 1024;
  const fixedPart = encodeUploadRequest({ storePathIndex: 0, fileSize: size, ext: 'bin' });
  await conn.write(Buffer.concat([encodeHeader(15 + size, CMD.UPLOAD_FILE), fixedPart, randomBytes(200 * 1024)]));
  // the temp file appears while the body streams in
  await waitUntil('temp file', () => dataFiles().some((f) => f.endsWith('.tmp')));
  conn.destroy();
  await waitUntil('temp file removed', () => !dataFiles().some((f) => f.endsWith('.tmp')));
  assert.deepEqual(dataFiles(), filesBefore);
  assert.equal(binlogLines().length, linesBefore);
});

test('a non-empty ACTIVE_TEST is EINVAL; requests after a good one keep working', async () => {
  const conn = await connect();
  try {
    assert.equal((await conn.request(CMD.ACTIVE_TEST)).length, 0);
    await expectErrno(conn.request(CMD.ACTIVE_TEST, Buffer.from('x')), 'EINVAL');
  } finally {
    conn.close();
  }
});

test('appender upload (23) carries the appender flag; query computes the CRC', async () => {
  const conn = await connect();
  try {
    const content = Buffer.from('appender-test-0123456789-ABCDEF\n');
    const name = await upload(conn, content, 'txt', CMD.UPLOAD_APPENDER_FILE);
    const d = decodeFileName(name)!;
    assert.equal(d.type, 'appender');
    assert.equal(d.crc32, 0x09ef32f7);
    const info = decodeFileInfoResponse(await conn.request(CMD.QUERY_FILE_INFO, groupAndName(name)));
    assert.equal(info.size, content.length);
    assert.equal(info.crc32, 0x09ef32f7);
    const noCrc = decodeFileInfoResponse(await conn.request(CMD.QUERY_FILE_INFO, groupAndName(name), { status: 1 }));
    assert.equal(noCrc.crc32, 0);
  } finally {
    conn.close();
  }
});

test('a slow reader of a large download keeps the server-side queue bounded (STYLE.md rule 4)', async () => {
  const size = 8 * 1024 * 1024;
  const content = randomBytes(size);
  const up = await connect();
  let name: string;
  try {
    // stream the upload in pieces, as a client sending a big file does
    await up.sendHeader(CMD.UPLOAD_FILE, 15 + size, [encodeUploadRequest({ storePathIndex: 0, fileSize: size, ext: 'bin' })]);
    for (let o = 0; o < size; o += 1 << 20) await up.write(content.subarray(o, o + (1 << 20)));
    const h = await up.readHeader();
    name = decodeFileIdResponse(await up.readBody(h.length)).logicName;
  } finally {
    up.close();
  }
  const conn = await connect();
  try {
    conn.socket.pause();
    const req = encodeDownloadRequest(0, 0, GROUP, name);
    await conn.sendHeader(CMD.DOWNLOAD_FILE, req.length, [req]);
    // Let the server fill the socket buffers, then look at what it holds in user space.
    const serverConns = () => [...((server as unknown as { server: { connections: Set<{ socket: import('node:net').Socket }> } }).server.connections)];
    await waitUntil('server writing', () => serverConns().some((c) => c.socket.bytesWritten > 0));
    await new Promise((r) => setTimeout(r, 300));
    const queued = Math.max(...serverConns().map((c) => c.socket.writableLength));
    assert.ok(queued <= 2 * 1024 * 1024, `server queued ${queued} bytes for a paused reader`);
    conn.socket.resume();
    const h = await conn.readHeader();
    assert.equal(h.length, size);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < size) {
      const b = await conn.reader.readSome(size - got);
      parts.push(b);
      got += b.length;
    }
    assert.ok(Buffer.concat(parts).equals(content));
  } finally {
    conn.close();
  }
});

test('deleting a slave stored as a symlink also deletes its target (§3.5)', async () => {
  const conn = await connect();
  try {
    const target = await upload(conn, Buffer.from('link target'), 'jpg');
    const slave = target.replace(/\.jpg$/, '_150x150.jpg');
    const targetPath = path.join(dir, 'data', target.slice(4));
    const slavePath = path.join(dir, 'data', slave.slice(4));
    fs.symlinkSync(targetPath, slavePath);
    const info = decodeFileInfoResponse(await conn.request(CMD.QUERY_FILE_INFO, groupAndName(slave)));
    assert.equal(info.size, 11);
    assert.equal(info.crc32, crc32(Buffer.from('link target')), 'slave CRC computed from the content');
    await conn.request(CMD.DELETE_FILE, groupAndName(slave));
    assert.ok(!fs.existsSync(slavePath) && !fs.existsSync(targetPath));
    const tail = binlogLines().slice(-2).map((l) => parseBinlogLine(l)!);
    assert.deepEqual(tail.map((l) => `${l.op} ${l.name}`), [`D ${target}`, `D ${slave}`]);
  } finally {
    conn.close();
  }
});

test('counters follow the requests and reach storage_stat.dat on stop', async () => {
  const s = server.stats();
  assert.ok(s.counters.success_upload_count >= 5);
  assert.ok(s.counters.total_upload_count > s.counters.success_upload_count);
  assert.ok(s.counters.success_download_count >= 5);
  assert.ok(s.counters.success_delete_count >= 2);
  assert.ok(s.counters.success_set_meta_count >= 4);
  assert.ok(s.last_source_update > 0);
});

test('stop flushes the binlog and writes storage_stat.dat; a restart keeps serving the files', async () => {
  const conn = await connect();
  const name = await upload(conn, Buffer.from('survives a restart'));
  conn.close();
  await server.stop();
  const stat = fs.readFileSync(path.join(dir, 'data', 'storage_stat.dat'), 'latin1');
  assert.match(stat, /^total_upload_count=\d+\nsuccess_upload_count=\d+\n/);
  assert.match(stat, /\ndist_write_file_count=\d+\n$/);
  assert.ok(binlogLines().some((l) => l.endsWith(` C ${name}`)));
  const uploads = server.stats().counters.success_upload_count;

  server = new StorageServer(config, undefined, {
    reporter: false, listenPort: 0, myIp: ['127.0.0.9'], parameters: { reserved_storage_space: '0MB' },
  });
  addr = await server.start();
  assert.equal(server.stats().counters.success_upload_count, uploads, 'counters restored from storage_stat.dat');
  const c2 = await connect();
  try {
    assert.deepEqual(await download(c2, name), Buffer.from('survives a restart'));
  } finally {
    c2.close();
  }
});

test('no space above the reserve ⇒ ENOSPC', async () => {
  server.onParameters(new Map([['reserved_storage_space', '1000000GB']]));
  const conn = await connect();
  try {
    await expectErrno(conn.request(CMD.UPLOAD_FILE, [encodeUploadRequest({ storePathIndex: -1, fileSize: 1, ext: '' }), Buffer.from('x')]), 'ENOSPC');
  } finally {
    conn.close();
    server.onParameters(new Map([['reserved_storage_space', '0MB']]));
  }
});
