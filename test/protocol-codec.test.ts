import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { decodeHeader, encodeHeader } from '../lib/protocol/header.ts';
import { FieldReader, fixed, readFixed } from '../lib/protocol/fields.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { FdfsError, errnoName, ERRNO } from '../lib/protocol/errno.ts';
import { decodeStoreOneResponse, encodeStoreOneResponse, decodeFetchResponse, encodeFetchResponse, decodeStoreAllResponse, encodeStoreAllResponse } from '../lib/protocol/tracker-queries.ts';
import { decodeUploadRequest, encodeUploadRequest, decodeFileInfoResponse, encodeFileInfoResponse } from '../lib/protocol/storage-requests.ts';
import { decodeJoinRequest, encodeJoinRequest, decodeChangePush, encodeChangePush } from '../lib/protocol/storage-tracker.ts';
import { STORAGE_BRIEF_LEN, STORAGE_STAT_LEN, GROUP_STAT_LEN, encodeGroupStat, decodeGroupStats, emptyStorageStat, encodeStorageStat, storageStatRecordLen, encodeStorageStatRecord, decodeStorageStatRecords } from '../lib/protocol/records.ts';
import { chooseAddressFor, formatAddress, ipType } from '../lib/protocol/ip.ts';

// Byte-level checks of the shared codec (PROTOCOL.md §0–§4), using packets recorded from 6.16.1.

test('header: 10 bytes, big-endian length, cmd, status', () => {
  const h = encodeHeader(57, CMD.UPLOAD_FILE);
  assert.equal(h.toString('hex'), '00000000000000390b00');
  assert.deepEqual(decodeHeader(Buffer.from('00000000000000006500', 'hex')), { length: 0, cmd: 101, status: 0 });
  assert.equal(decodeHeader(Buffer.from('ffffffffffffffff6400', 'hex')).length, -1, 'negative length is refused');
  assert.equal(decodeHeader(Buffer.from('7fffffffffffffff6400', 'hex')).length, -1, 'lengths beyond 2^53 are refused');
});

test('fixed fields stop at the first NUL and ignore stale bytes after it', () => {
  const b = Buffer.from('67726f75703100bfbfbf7f00005c000000', 'hex');
  assert.equal(readFixed(b, 0, 16), 'group1');
  assert.equal(readFixed(fixed('exactly16chars!!', 16), 0, 16), 'exactly16chars!!');
  assert.equal(fixed('group1', 16).length, 16);
});

test('101 response recorded from 6.16.1 decodes and re-encodes byte for byte', () => {
  const hex = '67726f757031000000000000000000003132372e302e302e320000000000000000000000005a1400';
  const body = Buffer.from(hex, 'hex');
  const t = decodeStoreOneResponse(body);
  assert.deepEqual(t, { group: 'group1', ip: '127.0.0.2', port: 23060, storePathIndex: 0 });
  assert.equal(encodeStoreOneResponse(t, 16).toString('hex'), hex);
  assert.equal(encodeStoreOneResponse(t, 46).length, 70);
  assert.deepEqual(decodeStoreOneResponse(encodeStoreOneResponse(t, 46)), t);
});

test('106/107 and 102/105 responses with IPS 16 and 46', () => {
  const all = { group: 'group1', servers: [{ ip: '127.0.0.2', port: 23000 }, { ip: '127.0.0.3', port: 23000 }], storePathIndex: 1 };
  for (const ips of [16, 46]) {
    const b = encodeStoreAllResponse(all, ips);
    assert.equal(b.length, 16 + 2 * (ips + 7) + 1);
    assert.deepEqual(decodeStoreAllResponse(b), all);
    const f = encodeFetchResponse({ group: 'group1', servers: all.servers }, ips);
    assert.equal(f.length, 16 + 2 * (ips + 7));
    assert.deepEqual(decodeFetchResponse(f), { group: 'group1', servers: all.servers });
  }
  assert.equal(encodeFetchResponse({ group: 'g', servers: [{ ip: '1.2.3.4', port: 1 }] }, 16).length, 39);
});

test('11 upload request fixed part (recorded) and 22 file info response', () => {
  const fixedPart = Buffer.from('00000000000000002a747874000000', 'hex');
  assert.deepEqual(decodeUploadRequest(fixedPart), { storePathIndex: 0, fileSize: 42, ext: 'txt' });
  assert.equal(decodeUploadRequest(encodeUploadRequest({ storePathIndex: -1, fileSize: 5, ext: '' })).storePathIndex, -1);
  const info = { size: 42, timestamp: 1795595841, crc32: 0xdd75bc13, sourceIp: '127.0.0.2' };
  const b = encodeFileInfoResponse(info, 16);
  assert.equal(b.length, 40);
  assert.equal(b.readBigInt64BE(16), -579486701n, 'crc travels sign-extended');
  assert.deepEqual(decodeFileInfoResponse(b), info);
});

test('join body round trip and change-push body', () => {
  const j = { group: 'group1', port: 23060, storePathCount: 1, subdirCountPerPath: 256, uploadPriority: 10, joinTime: 1, upTime: 2,
    version: '6.16.1', initFlag: 1, status: -1, storageId: '', currentTrackerIp: '127.0.0.4', trackers: ['127.0.0.4:22160'] };
  const b = encodeJoinRequest(j);
  assert.equal(b.length, 145 + '127.0.0.4:22160\n'.length);
  assert.deepEqual(decodeJoinRequest(b), j);
  const push = { members: [{ status: 7, port: 23000, id: '127.0.0.2', ip: '127.0.0.2' }] };
  const pb = encodeChangePush(push);
  assert.equal(pb.length, 1 + STORAGE_BRIEF_LEN);
  assert.equal(pb[0], 4);
  assert.deepEqual(decodeChangePush(pb), push);
  assert.deepEqual(decodeChangePush(Buffer.from([0])), {});
});

test('record sizes: brief 67, stat 348, group stat 113, storage record 487/517', () => {
  assert.equal(STORAGE_STAT_LEN, 348);
  assert.equal(encodeStorageStat(emptyStorageStat()).length, 348);
  assert.equal(GROUP_STAT_LEN, 113);
  assert.equal(storageStatRecordLen(16), 487);
  assert.equal(storageStatRecordLen(46), 517);
  const g = { group_name: 'group1', total_mb: 100, free_mb: 50, reserved_mb: 1, trunk_free_mb: 0, storage_count: 2, storage_port: 23000,
    readable_server_count: 2, writable_server_count: 2, current_write_server: 0, store_path_count: 1, subdir_count_per_path: 256, current_trunk_file_id: 0 };
  assert.deepEqual(decodeGroupStats(Buffer.concat([encodeGroupStat(g), encodeGroupStat({ ...g, group_name: 'group2' })])).map((x) => x.group_name), ['group1', 'group2']);
  const rec = { status: 7, rw_mode: 6, id: '127.0.0.2', ip_addr: '127.0.0.2', src_id: '', version: '6.16.1', join_time: 1, up_time: 2, total_mb: 3,
    free_mb: 4, reserved_mb: 5, upload_priority: 10, store_path_count: 1, subdir_count_per_path: 256, current_write_path: 0, storage_port: 23000,
    stat: emptyStorageStat(), if_trunk_server: false };
  for (const ips of [16, 46]) {
    const b = encodeStorageStatRecord(rec, ips);
    assert.equal(b.length, storageStatRecordLen(ips));
    assert.deepEqual(decodeStorageStatRecords(b)[0], rec);
  }
  assert.throws(() => new FieldReader(Buffer.alloc(3)).i32(), RangeError);
});

test('errors carry errno name, number and subject', () => {
  const e = new FdfsError('ENOENT', 'file not found', { subject: 'group1/M00/00/00/x' });
  assert.equal(e.errno, 2);
  assert.equal(e.code, 'ENOENT');
  assert.equal(e.message, 'ENOENT: file not found (group1/M00/00/00/x)');
  assert.equal(errnoName(ERRNO.EOPNOTSUPP), 'EOPNOTSUPP');
  assert.equal(errnoName(200), 'E200');
});

test('addresses: IPv6 in brackets, dual-IP choice by network type (§0)', () => {
  assert.equal(formatAddress('::1', 23000), '[::1]:23000');
  assert.equal(formatAddress('127.0.0.1', 1), '127.0.0.1:1');
  assert.equal(ipType('10.0.0.1'), 'private10');
  assert.equal(ipType('172.20.1.1'), 'private172');
  assert.equal(ipType('172.32.1.1'), 'outer');
  assert.equal(ipType('192.168.1.1'), 'private192');
  assert.equal(ipType('1.2.3.4'), 'unknown');
  assert.equal(chooseAddressFor('192.168.0.5', ['10.0.0.2', '192.168.0.9']), '192.168.0.9');
  assert.equal(chooseAddressFor('8.8.8.8', ['10.0.0.2', '192.168.0.9']), '10.0.0.2');
});
