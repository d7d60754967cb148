import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeFileName, randomSubdir } from '../lib/protocol/filename.ts';
import { emptyStorageStat } from '../lib/protocol/records.ts';
import { encodeB64 } from '../lib/protocol/base64.ts';
import {
  BinlogWriter, binlogFileName, formatBinlogLine, parseBinlogLine, readBinlogIndex,
} from '../lib/storage/binlog.ts';
import { FileNameGenerator } from '../lib/storage/file-names.ts';
import { formatInitFlag, newInitFlag, parseInitFlag } from '../lib/storage/init-flag.ts';
import { MetadataStore, packMetadata } from '../lib/storage/metadata-store.ts';
import { formatStatFile, parseStatFile } from '../lib/storage/stat-file.ts';
import { StorePaths } from '../lib/storage/store-paths.ts';

// Unit tests of the storage's on-disk state (PROTOCOL.md §6, §7): binlog, storage_stat.dat,
// .data_init_flag, metadata files, file-name generation, store path choice.

const made: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fdfs-state-'));
  made.push(d);
  return d;
}
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

// ---- binlog (§7.1, §7.2) ----

test('binlog lines have the C format, and parse back', () => {
  const name = 'M00/00/00/fwAAAmsGnkGATEe2AAAAKt11vBM623.txt';
  assert.equal(formatBinlogLine({ timestamp: 1795595841, op: 'C', name }), `1795595841 C ${name}\n`);
  assert.equal(formatBinlogLine({ timestamp: 1795595843, op: 'A', name, extra: '6 6' }), `1795595843 A ${name} 6 6\n`);
  // lines copied from captures/disk/main/s1/binlog.000
  const real = [
    '1795595841 C M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915.jpg-m',
    '1795595889 T M00/00/00/fwAAAmsGnnGEbAqRAAAAAAnvMvc958.txt 32 16',
    '1795595889 r M00/00/00/fwAAA2sGnnGAQRZsAAAAEuY8FBE604.txt M00/00/00/fwAAA2sGnm6ECqYNAAAAAA_-AcM604.txt',
    '1795595892 d M00/00/00/fwAAA2sGnmCAT9OXAAAAQBAOzow275.bin',
  ];
  for (const l of real) {
    const r = parseBinlogLine(l);
    assert.ok(r, l);
    assert.equal(formatBinlogLine(r), `${l}\n`);
  }
  assert.deepEqual(parseBinlogLine(real[2]!), {
    timestamp: 1795595889, op: 'r',
    name: 'M00/00/00/fwAAA2sGnnGAQRZsAAAAEuY8FBE604.txt',
    extra: 'M00/00/00/fwAAA2sGnm6ECqYNAAAAAA_-AcM604.txt',
  });
  // 6.16.1's broken link line (§3.3) and junk are refused, not misread
  assert.equal(parseBinlogLine('1795595874 L  M00/00/00/fwAAAmsGnmKAZiztAAACAAqeoR4651.png'), null);
  assert.equal(parseBinlogLine('1795595874 l '), null);
  assert.equal(parseBinlogLine('abc C M00/00/00/x'), null);
  assert.equal(parseBinlogLine('1795595874 X M00/00/00/x'), null);
  assert.equal(binlogFileName(0), 'binlog.000');
  assert.equal(binlogFileName(12), 'binlog.012');
  assert.equal(binlogFileName(1234), 'binlog.1234');
});

test('binlog writer: records reach the file promptly, in order, with an index file', async () => {
  const dir = path.join(tmp(), 'sync');
  const w = new BinlogWriter({ dir, syncInterval: 1 });
  await w.open();
  const seen: number[] = [];
  w.on('append', (p: { offset: number }) => seen.push(p.offset));
  try {
    assert.equal(fs.readFileSync(path.join(dir, 'binlog_index.dat'), 'latin1'), 'current_write=0\ncurrent_compress=0\n');
    // Concurrent appends coalesce into one write; each promise resolves once its line is in the file.
    await Promise.all([
      w.append({ timestamp: 100, op: 'C', name: 'M00/00/00/a' }),
      w.append({ timestamp: 101, op: 'D', name: 'M00/00/00/a' }),
    ]);
    assert.equal(fs.readFileSync(path.join(dir, 'binlog.000'), 'latin1'), '100 C M00/00/00/a\n101 D M00/00/00/a\n');
    assert.ok(seen.length >= 1);
    assert.equal(w.position().offset, 36);
    await w.append({ timestamp: 102, op: 'U', name: 'M00/00/00/a-m' });
  } finally {
    await w.close();
  }
  await assert.rejects(w.append({ timestamp: 103, op: 'C', name: 'x' }));
  // reopening appends after the existing records
  const w2 = new BinlogWriter({ dir });
  await w2.open();
  assert.equal(w2.position().offset, 56);
  await w2.append({ timestamp: 104, op: 'C', name: 'M00/00/00/b' });
  await w2.close();
  assert.equal(fs.readFileSync(path.join(dir, 'binlog.000'), 'latin1').split('\n').length, 5);
});

test('binlog rotates to binlog.001 once a file reaches the size limit and bumps the index file', async () => {
  const dir = path.join(tmp(), 'sync');
  const w = new BinlogWriter({ dir, rotateSize: 64 });
  await w.open();
  const rotations: unknown[] = [];
  w.on('rotate', (p) => rotations.push(p));
  for (let i = 0; i < 5; i++) await w.append({ timestamp: 1000 + i, op: 'C', name: `M00/00/00/file${i}` });
  await w.close();
  // 23-byte lines: the flush that crosses 64 bytes (3rd line) rotates
  assert.equal(fs.readFileSync(path.join(dir, 'binlog.000'), 'latin1').split('\n').filter(Boolean).length, 3);
  assert.equal(fs.readFileSync(path.join(dir, 'binlog.001'), 'latin1').split('\n').filter(Boolean).length, 2);
  assert.equal(rotations.length, 1);
  assert.deepEqual(await readBinlogIndex(dir), { currentWrite: 1, currentCompress: 0 });
  assert.equal(fs.readFileSync(path.join(dir, 'binlog_index.dat'), 'latin1'), 'current_write=1\ncurrent_compress=0\n');
  const again = new BinlogWriter({ dir, rotateSize: 64 });
  await again.open();
  assert.deepEqual(again.position(), { index: 1, offset: 46 });
  await again.close();
});

test('a legacy binlog.index is read and replaced by binlog_index.dat', async () => {
  const dir = path.join(tmp(), 'sync');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'binlog.index'), '3');
  const w = new BinlogWriter({ dir });
  await w.open();
  await w.append({ timestamp: 1, op: 'C', name: 'M00/00/00/x' });
  await w.close();
  assert.ok(fs.existsSync(path.join(dir, 'binlog.003')));
  assert.equal(fs.readFileSync(path.join(dir, 'binlog_index.dat'), 'latin1'), 'current_write=3\ncurrent_compress=0\n');
});

test('an over-long binlog line is refused (§7.2: < 256 bytes)', async () => {
  const w = new BinlogWriter({ dir: path.join(tmp(), 'sync') });
  await w.open();
  try {
    await assert.rejects(w.append({ timestamp: 1, op: 'C', name: 'M00/00/00/' + 'x'.repeat(250) }), RangeError);
  } finally {
    await w.close();
  }
});

// ---- storage_stat.dat (§7.4, captures README discrepancy 12) ----

/** Key order of captures/disk/main/s1/storage_stat.dat (6.16.1). */
const REAL_KEY_ORDER = [
  'total_upload_count', 'success_upload_count', 'total_append_count', 'success_append_count',
  'total_modify_count', 'success_modify_count', 'total_truncate_count', 'success_truncate_count',
  'total_download_count', 'success_download_count', 'last_source_update', 'last_sync_update',
  'total_set_meta_count', 'success_set_meta_count', 'total_delete_count', 'success_delete_count',
  'total_get_meta_count', 'success_get_meta_count', 'total_create_link_count', 'success_create_link_count',
  'total_delete_link_count', 'success_delete_link_count', 'total_upload_bytes', 'success_upload_bytes',
  'total_append_bytes', 'success_append_bytes', 'total_modify_bytes', 'success_modify_bytes',
  'total_download_bytes', 'success_download_bytes', 'total_sync_in_bytes', 'success_sync_in_bytes',
  'total_sync_out_bytes', 'success_sync_out_bytes', 'total_file_open_count', 'success_file_open_count',
  'total_file_read_count', 'success_file_read_count', 'total_file_write_count', 'success_file_write_count',
  'dist_path_index_high', 'dist_path_index_low', 'dist_write_file_count',
];

test('storage_stat.dat uses the key order 6.16.1 writes and round-trips', () => {
  const stat = emptyStorageStat();
  stat.counters.total_upload_count = 10;
  stat.counters.success_upload_bytes = 310408;
  stat.last_source_update = 1795595888;
  stat.last_sync_update = 1795595904;
  const text = formatStatFile(stat, { high: 1, low: 2, count: 10 });
  const lines = text.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split('=')[0]), REAL_KEY_ORDER);
  assert.ok(lines.includes('total_upload_count=10'));
  assert.ok(lines.includes('last_source_update=1795595888'));
  assert.equal(lines.at(-1), 'dist_write_file_count=10');
  const back = parseStatFile(text);
  assert.deepEqual(back.dist, { high: 1, low: 2, count: 10 });
  assert.equal(back.stat.counters.success_upload_bytes, 310408);
  assert.equal(back.stat.last_sync_update, 1795595904);
});

test('a storage_stat.dat written by 6.16.1 is read', () => {
  const real = REAL_KEY_ORDER.map((k, i) => `${k}=${i}`).join('\n') + '\n';
  const { stat, dist } = parseStatFile(real);
  assert.equal(stat.counters.total_download_count, 8);
  assert.equal(stat.last_source_update, 10);
  assert.deepEqual(dist, { high: 40, low: 41, count: 42 });
});

// ---- .data_init_flag (§7.5) ----

test('.data_init_flag has the 6.16.1 layout and round-trips', () => {
  const f = newInitFlag(1795595829);
  f.sync_old_done = true;
  f.last_ip_addr = '127.0.0.2';
  f.last_server_port = 23060;
  f.store_path_marks = ['MTI3LjAuMC4y'];
  const text = formatInitFlag(f);
  assert.equal(text, [
    'storage_join_time=1795595829', 'sync_old_done=1', 'sync_src_server=', 'sync_until_timestamp=0',
    'last_ip_addr=127.0.0.2', 'last_server_port=23060', 'current_trunk_file_id=0', 'trunk_last_compress_time=0',
    'trunk_binlog_compress_stage=0', 'store_path_mark0=MTI3LjAuMC4y', '',
  ].join('\n'));
  assert.deepEqual(parseInitFlag(text), f);
});

// ---- metadata files (§3.6) ----

test('metadata store: overwrite sorts, merge unions with new values winning, empty O deletes', async () => {
  const dir = tmp();
  const data = path.join(dir, 'file.jpg');
  fs.writeFileSync(data, 'x');
  const store = new MetadataStore();
  const blob = (pairs: Array<[string, string]>) => packMetadata(pairs);

  assert.equal(await store.set(data, 'M', Buffer.alloc(0)), null, 'M with an empty blob is a no-op');
  assert.equal(await store.set(data, 'O', Buffer.alloc(0)), null, 'O empty without a file: nothing to log');
  assert.equal(await store.set(data, 'O', blob([['width', '160'], ['height', '80'], ['ext_name', 'jpg']])), 'C');
  assert.deepEqual(fs.readFileSync(`${data}-m`), blob([['ext_name', 'jpg'], ['height', '80'], ['width', '160']]));
  assert.equal(await store.set(data, 'M', blob([['width', '1024'], ['author', 'fdfs']])), 'U');
  assert.deepEqual(await store.read(data), blob([['author', 'fdfs'], ['ext_name', 'jpg'], ['height', '80'], ['width', '1024']]));
  assert.equal(await store.set(data, 'O', blob([['k', 'v']])), 'U');
  assert.deepEqual(await store.read(data), blob([['k', 'v']]));
  assert.equal(await store.set(data, 'O', Buffer.alloc(0)), 'D');
  assert.equal(await store.read(data), null);
  assert.equal(await store.set(data, 'M', blob([['b', '2'], ['a', '1']])), 'C', 'M without a file creates it');
  assert.deepEqual(await store.read(data), blob([['a', '1'], ['b', '2']]));
  assert.equal(await store.remove(data), true);
  assert.equal(await store.remove(data), false);
});

test('metadata store: malformed records are dropped, only the sorted records are written (no C tail)', async () => {
  const dir = tmp();
  const data = path.join(dir, 'f');
  const store = new MetadataStore();
  const raw = Buffer.from('zz\x02last\x01no-separator\x01aa\x02first', 'latin1');
  await store.set(data, 'O', raw);
  assert.equal(fs.readFileSync(`${data}-m`, 'latin1'), 'aa\x02first\x01zz\x02last');
  // bytes above 0x7F and a 0x02 inside a value survive unchanged
  const odd = Buffer.from([0x6b, 0x02, 0xff, 0xfe, 0x02, 0x41]);
  await store.set(data, 'O', odd);
  assert.deepEqual(fs.readFileSync(`${data}-m`), odd);
});

test('metadata store: concurrent merges on one file are serialised (none lost)', async () => {
  const dir = tmp();
  const data = path.join(dir, 'f');
  const store = new MetadataStore();
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(data, 'M', packMetadata([[`k${String(i).padStart(2, '0')}`, String(i)]]))));
  const text = fs.readFileSync(`${data}-m`, 'latin1');
  assert.equal(text.split('\x01').length, 20);
});

// ---- file names (§6) ----

test('generated names follow §6.8: source, timestamp, size, crc, ext', () => {
  const digits = ['0', '4', '2'];
  let d = 0;
  const gen = new FileNameGenerator({
    subdirCount: 256, mode: 0, rotateCount: 100,
    random: { rand23: () => 0x123456, digit: () => digits[d++ % 3]! },
  });
  gen.source = { ip: '192.168.1.10' };
  const name = gen.makeName({ storePathIndex: 0, high: 0, low: 0, timestamp: 1700000000, size: 12345, crc32: 0xaf083b2d, ext: 'jpg', kind: 'normal' });
  assert.equal(name, 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg');
  d = 0;
  const app = gen.makeName({ storePathIndex: 0, high: 0, low: 0, timestamp: 1700000000, size: 12345, crc32: 0xaf083b2d, ext: 'jpg', kind: 'appender' });
  assert.equal(app, 'M00/00/00/wKgBCmVT8QCEEjRWAAAAAK8IOy0042.jpg');
  gen.source = { id: 100001 };
  d = 0;
  const byId = gen.makeName({ storePathIndex: 0x1a, high: 0xab, low: 0x0c, timestamp: 1700000000, size: 12345, crc32: 0xaf083b2d, ext: 'jpg', kind: 'normal' });
  assert.equal(byId, 'M1A/AB/0C/oYYBAGVT8QCAEjRWAAAwOa8IOy0042.jpg');
  const decoded = decodeFileName(byId)!;
  assert.deepEqual(decoded.source, { id: 100001 });
  assert.equal(decoded.size, 12345);
});

test('without a known source the generator refuses (EAGAIN) instead of inventing one', () => {
  const gen = new FileNameGenerator({ subdirCount: 4, mode: 0, rotateCount: 1 });
  assert.throws(() => gen.makeName({ storePathIndex: 0, high: 0, low: 0, timestamp: 1, size: 1, crc32: 1, ext: '', kind: 'normal' }), { code: 'EAGAIN' });
});

test('round-robin sub-directories: rotate_count files per pair, low then high wrap at subdir_count', () => {
  const gen = new FileNameGenerator({ subdirCount: 2, mode: 0, rotateCount: 2, cursor: { high: 0, low: 0, count: 0 } });
  const seq = Array.from({ length: 10 }, () => { const p = gen.pickSubdir(0); return `${p.high}/${p.low}`; });
  assert.deepEqual(seq, ['0/0', '0/0', '0/1', '0/1', '1/0', '1/0', '1/1', '1/1', '0/0', '0/0']);
  assert.deepEqual(gen.cursor, { high: 0, low: 1, count: 0 });
  assert.ok(gen.cursorDirty);
  // a persisted cursor beyond the configured count starts over
  const g2 = new FileNameGenerator({ subdirCount: 2, mode: 0, rotateCount: 2, cursor: { high: 200, low: 1, count: 1 } });
  assert.deepEqual(g2.cursor, { high: 0, low: 1, count: 1 });
});

test('random sub-directory mode stays inside subdir_count and uses the §6.5 PJW rule', () => {
  assert.deepEqual(randomSubdir('wKgBCmVT8QCAEjRWAAAwOa8IOy0', 256), { high: 0x82, low: 0xf0 });
  const gen = new FileNameGenerator({ subdirCount: 3, mode: 1, rotateCount: 100 });
  gen.source = { ip: '10.0.0.1' };
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = gen.pickSubdir(1700000000 + i);
    assert.ok(p.high < 3 && p.low < 3);
    seen.add(`${p.high}/${p.low}`);
  }
  assert.ok(seen.size > 3, 'spreads over several directories');
  assert.equal(encodeB64(Buffer.alloc(20)).length, 27);
});

// ---- store paths (§7.6, §8.3) ----

test('store paths: sub-directories created once, missing path is a clear error', async () => {
  const a = tmp();
  const sp = new StorePaths({ paths: [{ path: a, readonly: false }], subdirCount: 3 });
  await sp.init();
  const dirs = fs.readdirSync(path.join(a, 'data')).sort();
  assert.deepEqual(dirs, ['00', '01', '02']);
  assert.deepEqual(fs.readdirSync(path.join(a, 'data', '02')).sort(), ['00', '01', '02']);
  fs.rmdirSync(path.join(a, 'data', '01', '02'));
  await sp.init();
  assert.ok(fs.existsSync(path.join(a, 'data', '01', '02')), 'a missing leaf is re-created');

  const missing = new StorePaths({ paths: [{ path: path.join(a, 'nope'), readonly: false }], subdirCount: 2 });
  await assert.rejects(missing.init(), /store_path0 .*nope does not exist/);
});

test('store path choice: requested path, read-only skipped, round robin, most free space, ENOSPC', async () => {
  const a = tmp();
  const b = tmp();
  const c = tmp();
  const sp = new StorePaths({ paths: [{ path: a, readonly: false }, { path: b, readonly: true }, { path: c, readonly: false }], subdirCount: 1 });
  const none = { kind: 'mb' as const, mb: 0, text: '0MB' };
  assert.equal(await sp.choose(0, 10, none, 0), 0);
  assert.equal(await sp.choose(2, 10, none, 0), 2);
  assert.equal(await sp.choose(1, 10, none, 0), 2, 'a read-only requested path is replaced');
  const rr = [await sp.choose(-1, 1, none, 0), await sp.choose(-1, 1, none, 0), await sp.choose(-1, 1, none, 0)];
  assert.deepEqual(rr, [0, 2, 0], 'round robin skips the read-only path');
  assert.ok([0, 2].includes(await sp.choose(-1, 1, none, 2)));
  await assert.rejects(sp.choose(3, 1, none, 0), { code: 'EINVAL' });
  await assert.rejects(sp.choose(-2, 1, none, 0), { code: 'EINVAL' });
  await assert.rejects(sp.choose(0, 1, { kind: 'mb', mb: 1e9, text: '' }, 0), { code: 'ENOSPC' });
  await assert.rejects(sp.choose(-1, 1, { kind: 'ratio', ratio: 0.9999, text: '' }, 2), { code: 'ENOSPC' });
  const usage = await sp.diskUsage();
  assert.equal(usage.length, 3);
  assert.ok(usage[0]!.totalMb > 0 && usage[0]!.freeMb <= usage[0]!.totalMb);
  // the upload size counts against the reserve
  await assert.rejects(sp.choose(0, (usage[0]!.freeMb + 10) * 1024 * 1024, none, 0), { code: 'ENOSPC' });
});
