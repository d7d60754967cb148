import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  decodeMetadata,
  encodeMetadata,
  mergeMetadata,
  sortMetadata,
  type MetadataEntry,
} from '../lib/protocol/metadata.ts';

const hex = (h: string) => Buffer.from(h, 'hex');

// Blobs from captures/client-metadata.json (SET_METADATA request tails and GET_METADATA replies).
const SET_O_COLOR_SIZE = hex('636f6c6f7202726564' + '01' + '73697a6502736d616c6c'); // color=red; size=small
const SET_O_WHC = hex('776964746802313032340168656967687402373638' + '01636f6c6f7202626c7565'); // width=1024; height=768; color=blue
const SET_M_COLOR_AUTHOR = hex('636f6c6f7202677265656e01617574686f720266646673'); // color=green; author=fdfs
const GET_AFTER_MERGE = hex('617574686f72026664667301636f6c6f7202677265656e01686569676874023736380177696474680231303234');
const GET_FDFS_TEST = hex('6578745f6e616d65026a70670166696c655f73697a65023131353132300168656967687402383001776964746802313630');

test('§3.6: records joined by 0x01, name and value by 0x02, no trailing separator', () => {
  assert.deepEqual(encodeMetadata([['k1', 'v1'], ['k2', 'v2']]), Buffer.from('k1\x02v1\x01k2\x02v2', 'latin1'));
  assert.deepEqual(encodeMetadata({ color: 'red', size: 'small' }), SET_O_COLOR_SIZE);
  assert.deepEqual(encodeMetadata([['width', '1024'], ['height', '768'], ['color', 'blue']]), SET_O_WHC);
  assert.deepEqual(encodeMetadata(new Map([['k', 'v']])), hex('6b0276')); // the capture's 3-byte M request
  assert.deepEqual(encodeMetadata({}), Buffer.alloc(0));
  assert.deepEqual(encodeMetadata([['', '']]), Buffer.of(2));
});

test('encodeMetadata refuses separator and NUL bytes inside names and values', () => {
  assert.throws(() => encodeMetadata([['a\x01b', 'v']]), RangeError);
  assert.throws(() => encodeMetadata([['a', 'v\x02']]), RangeError);
  assert.throws(() => encodeMetadata([['a', 'v\0']]), RangeError);
});

test('decoding the captured blobs', () => {
  assert.deepEqual(decodeMetadata(SET_O_COLOR_SIZE), [['color', 'red'], ['size', 'small']]);
  assert.deepEqual(decodeMetadata(GET_FDFS_TEST), [
    ['ext_name', 'jpg'], ['file_size', '115120'], ['height', '80'], ['width', '160'],
  ]);
  assert.deepEqual(decodeMetadata(GET_AFTER_MERGE), [
    ['author', 'fdfs'], ['color', 'green'], ['height', '768'], ['width', '1024'],
  ]);
  assert.deepEqual(decodeMetadata(Buffer.alloc(0)), []);
});

test('the GET_METADATA reply is the sorted blob a SET with flag O stored', () => {
  assert.deepEqual(encodeMetadata(sortMetadata(decodeMetadata(SET_O_WHC))),
    hex('636f6c6f7202626c756501686569676874023736380177696474680231303234'));
});

test('merge (flag M) reproduces the captured reply byte for byte', () => {
  const merged = mergeMetadata(decodeMetadata(SET_O_WHC), decodeMetadata(SET_M_COLOR_AUTHOR));
  assert.deepEqual(merged, [['author', 'fdfs'], ['color', 'green'], ['height', '768'], ['width', '1024']]);
  assert.deepEqual(encodeMetadata(merged), GET_AFTER_MERGE);
});

test('merge accepts objects, arrays and maps; incoming wins', () => {
  assert.deepEqual(mergeMetadata({ b: '1', a: '1' }, [['b', '2'], ['c', '3']]), [['a', '1'], ['b', '2'], ['c', '3']]);
  assert.deepEqual(mergeMetadata([], new Map([['x', 'y']])), [['x', 'y']]);
  assert.deepEqual(mergeMetadata({ a: '1' }, {}), [['a', '1']]);
});

test('records without 0x02 are dropped; the value runs to the record end', () => {
  const blob = Buffer.from('novalue\x01a\x02b\x02c\x01\x01=\x02\x01k\x02', 'latin1');
  assert.deepEqual(decodeMetadata(blob), [['a', 'b\x02c'], ['=', ''], ['k', '']]);
  assert.deepEqual(decodeMetadata(Buffer.from('\x02v', 'latin1')), [['', 'v']]);
  assert.deepEqual(decodeMetadata(Buffer.from('a\x02b\x01', 'latin1')), [['a', 'b']]);
});

test('names over 64 bytes and values over 256 bytes are cut', () => {
  const name = 'n'.repeat(70);
  const value = 'v'.repeat(300);
  const [[n, v]] = decodeMetadata(encodeMetadata([[name, value]])) as [MetadataEntry];
  assert.equal(n, 'n'.repeat(64));
  assert.equal(v, 'v'.repeat(256));
  const exact = decodeMetadata(encodeMetadata([['n'.repeat(64), 'v'.repeat(256)], ['x', 'y']]));
  assert.deepEqual(exact, [['n'.repeat(64), 'v'.repeat(256)], ['x', 'y']]);
});

test('§3.6 quirk: reading stops at a NUL, ignoring the stale tail after it', () => {
  const stale = Buffer.concat([Buffer.from('a\x02b\x01c\x02d', 'latin1'), Buffer.of(0), Buffer.from('\x01e\x02f', 'latin1')]);
  assert.deepEqual(decodeMetadata(stale), [['a', 'b'], ['c', 'd']]);
  const nulInValue = Buffer.from('a\x02b\0junk\x01c\x02d', 'latin1');
  assert.deepEqual(decodeMetadata(nulInValue), [['a', 'b']]);
});

test('sorting is by name in byte order (C strcmp), stable for equal names', () => {
  assert.deepEqual(sortMetadata([['b', '1'], ['B', '2'], ['a', '3'], ['_', '4'], ['a', '5']]), [
    ['B', '2'], ['_', '4'], ['a', '3'], ['a', '5'], ['b', '1'],
  ]);
  // UTF-8 byte order, not UTF-16 code-unit order: U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80).
  assert.deepEqual(sortMetadata([['\u{1F600}', 'x'], ['\uFF5E', 'y']]).map(([n]) => n), ['\uFF5E', '\u{1F600}']);
});

test('latin1 mode keeps arbitrary bytes through a decode/sort/encode cycle', () => {
  // A 70-byte UTF-8 name cut at 64 bytes splits a two-byte character.
  const name = Buffer.concat([Buffer.alloc(63, 0x61), Buffer.from('é', 'utf8'), Buffer.alloc(5, 0x62)]);
  const blob = Buffer.concat([name, Buffer.of(2), Buffer.from('v'), Buffer.of(1), Buffer.from('a\x02b')]);
  const entries = decodeMetadata(blob, 'latin1');
  assert.equal(Buffer.from(entries[0]![0], 'latin1').length, 64);
  const out = encodeMetadata(sortMetadata(entries, 'latin1'), 'latin1');
  assert.deepEqual(out, Buffer.concat([Buffer.from('a\x02b\x01'), name.subarray(0, 64), Buffer.from('\x02v')]));
});
