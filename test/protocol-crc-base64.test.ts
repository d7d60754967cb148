import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { Crc32, crc32, crc32Portable } from '../lib/protocol/crc32.ts';
import { decodeB64, encodeB64, ipv6ShortCode, isB64 } from '../lib/protocol/base64.ts';

const text = (s: string) => Buffer.from(s, 'utf8');

// Payloads of the golden captures (captures/README.md) with the CRCs their file names carry.
const CAPTURE_PAYLOADS: Array<[string, Buffer, number]> = [
  ['small1.txt', text('Hello FastDFS! This is a small test file.\n'), 0xdd75bc13],
  ['small2.txt', text('to be deleted\n'), 0x468370c6],
  ['small3.txt', text('0123456789abcdefghijklmnopqrstuvwxyz\n'), 0x1c9ebe41],
  ['small4.bin', Buffer.from(Array.from({ length: 64 }, (_, i) => i)), 0x100ece8c],
  ['appender first piece', text('part1-'), 0x0ffe01c3],
  ['regenerated appender', text('part1-part2-part3\n'), 0xe63c1411],
  ['at.txt', text('appender-test-0123456789-ABCDEF\n'), 0x09ef32f7],
];

test('CRC-32 of "hello world\\n" is 0xAF083B2D (PROTOCOL.md §6.8)', () => {
  assert.equal(crc32(text('hello world\n')), 0xaf083b2d);
  assert.equal(crc32Portable(text('hello world\n')), 0xaf083b2d);
});

test('CRC-32 check value and empty input', () => {
  assert.equal(crc32(text('123456789')), 0xcbf43926);
  assert.equal(crc32Portable(text('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32Portable(new Uint8Array(0)), 0);
});

test('CRC-32 matches the CRCs in the captured file names', () => {
  for (const [name, content, expected] of CAPTURE_PAYLOADS) {
    assert.equal(crc32(content), expected, name);
    assert.equal(crc32Portable(content), expected, name);
  }
});

test('portable CRC-32 equals the zlib one for every length and alignment', () => {
  const data = Buffer.alloc(4096 + 64);
  let seed = 12345;
  for (let i = 0; i < data.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    data[i] = seed >>> 24;
  }
  for (let off = 0; off < 8; off++) {
    for (let len = 0; len <= 70; len++) {
      const chunk = data.subarray(off, off + len);
      assert.equal(crc32Portable(chunk), crc32(chunk), `off ${off} len ${len}`);
    }
  }
  assert.equal(crc32Portable(data), crc32(data));
  // Results are unsigned even when bit 31 is set.
  const withHighBit = CAPTURE_PAYLOADS.map(([, c]) => crc32Portable(c)).filter((v) => v >= 0x80000000);
  assert.ok(withHighBit.length > 0 && withHighBit.every((v) => v > 0));
});

test('CRC-32 chains through prev and the streaming class', () => {
  const whole = text('Hello FastDFS! This is a small test file.\n');
  const a = whole.subarray(0, 13);
  const b = whole.subarray(13);
  assert.equal(crc32(b, crc32(a)), 0xdd75bc13);
  assert.equal(crc32Portable(b, crc32Portable(a)), 0xdd75bc13);

  const stream = new Crc32();
  for (let i = 0; i < whole.length; i += 5) stream.update(whole.subarray(i, i + 5));
  assert.equal(stream.digest(), 0xdd75bc13);
  assert.equal(new Crc32().digest(), 0);
  assert.equal(new Crc32().update(text('part1-')).update(text('part2-')).update(text('part3\n')).digest(), 0xe63c1411);
});

test('base64 of the §6.8 header: URL-safe, no padding', () => {
  const header = Buffer.from('C0A8010A6553F10080123456000030' + '39AF083B2D', 'hex');
  assert.equal(encodeB64(header), 'wKgBCmVT8QCAEjRWAAAwOa8IOy0');
  assert.deepEqual(decodeB64('wKgBCmVT8QCAEjRWAAAwOa8IOy0'), header);
  // A captured appender name whose header text contains both URL-safe characters '_' and '-'.
  assert.deepEqual(
    decodeB64('fwAAAmsGnkKEKoJfAAAAAA_-AcM'),
    Buffer.from('7f0000026b069e42842a825f000000000ffe01c3', 'hex'),
  );
  assert.equal(encodeB64(Buffer.from('7f0000026b069e42842a825f000000000ffe01c3', 'hex')), 'fwAAAmsGnkKEKoJfAAAAAA_-AcM');
});

test('base64 decoding accepts missing, "." and "=" padding', () => {
  const bytes = Buffer.from('d048142200000000', 'hex');
  assert.deepEqual(decodeB64('0EgUIgAAAAA'), bytes);
  assert.deepEqual(decodeB64('0EgUIgAAAAA.'), bytes);
  assert.deepEqual(decodeB64('0EgUIgAAAAA='), bytes);
  assert.deepEqual(decodeB64('AQ..'), Buffer.of(1));
  assert.deepEqual(decodeB64('AQ'), Buffer.of(1));
  assert.deepEqual(decodeB64(''), Buffer.alloc(0));
});

test('base64 decoding rejects what the C decoder would not produce', () => {
  for (const bad of ['A', 'AB+C', 'AB/C', 'AB C', 'A.BC', 'AQ...', 'ABC..', 'wKgB!mVT']) {
    assert.throws(() => decodeB64(bad), RangeError, bad);
  }
  assert.equal(isB64('wKgBCmVT8QCAEjRWAAAwOa8IOy0'), true);
  assert.equal(isB64('wKgBCmVT8QCAEjRWAAAwOa8IOy0='), false);
  assert.equal(isB64('A'), false);
});

test('IPv6 short code of the §6.7 example', () => {
  assert.equal(ipv6ShortCode('2409:8a20:42d:2f40:587a:4c47:72c0:ad8e'), '0EgUIgAAAAA.');
});

test('IPv6 short code is the un-inverted CRC register, 8 bytes LE, 12 chars', () => {
  for (const addr of ['::1', 'fe80::1', '2001:db8::ff00:42:8329']) {
    const code = ipv6ShortCode(addr);
    assert.equal(code.length, 12);
    assert.ok(code.endsWith('.'));
    const bytes = decodeB64(code);
    assert.equal(bytes.length, 8);
    assert.equal(bytes.readUInt32LE(0), ~crc32(text(addr)) >>> 0);
    assert.equal(bytes.readUInt32LE(4), 0);
  }
});
