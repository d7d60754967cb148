import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { encodeB64 } from '../lib/protocol/base64.ts';
import { crc32 } from '../lib/protocol/crc32.ts';
import {
  APPENDER_FLAG,
  NORMAL_LOGIC_LEN,
  TRUNK_FLAG,
  TRUNK_LOGIC_LEN,
  buildLogicName,
  decodeFileHeader,
  decodeFileName,
  encodeFileHeader,
  isValidExt,
  makeExt7,
  makeSizeField,
  parseLogicName,
  pjwHash,
  randomSubdir,
  slaveFileName,
  splitFileId,
  validateLogicName,
} from '../lib/protocol/filename.ts';

/** A randomDigit source that replays fixed digits, for the "042" of §6.8. */
function digits(s: string): () => string {
  let i = 0;
  return () => s[i++ % s.length]!;
}

function assertEinval(fn: () => unknown, message?: string): void {
  assert.throws(fn, (err: unknown) => {
    const e = err as { code?: string; errno?: number };
    return e.code === 'EINVAL' && e.errno === 22;
  }, message);
}

// ---- PROTOCOL.md §6.8 worked example ----------------------------------------------------------

const EX = {
  ip: '192.168.1.10',
  timestamp: 1700000000,
  size: 12345,
  content: Buffer.from('hello world\n'),
  rand23: 0x123456, // R = 0x80123456
  headerHex: 'C0A8010A' + '6553F100' + '8012345600003039' + 'AF083B2D',
  b64: 'wKgBCmVT8QCAEjRWAAAwOa8IOy0',
  logicName: 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg',
  fileId: 'group1/M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg',
};

test('§6.8: size field with R = 0x80123456 and size 12345', () => {
  assert.equal(makeSizeField('normal', EX.size, EX.rand23), 0x8012345600003039n);
  assert.equal(makeSizeField('normal', BigInt(EX.size), EX.rand23), 0x8012345600003039n);
});

test('§6.8: the 20 header bytes, byte for byte', () => {
  assert.equal(crc32(EX.content), 0xaf083b2d);
  const header = encodeFileHeader({
    source: { ip: EX.ip },
    timestamp: EX.timestamp,
    sizeField: makeSizeField('normal', EX.size, EX.rand23),
    crc32: crc32(EX.content),
  });
  assert.equal(header.toString('hex').toUpperCase(), EX.headerHex);
  assert.deepEqual([...header], [
    0xc0, 0xa8, 0x01, 0x0a, 0x65, 0x53, 0xf1, 0x00, 0x80, 0x12, 0x34, 0x56, 0x00, 0x00, 0x30, 0x39,
    0xaf, 0x08, 0x3b, 0x2d,
  ]);
  assert.equal(encodeB64(header), EX.b64);
});

test('§6.8: EXT7 "042.jpg" and the full file id', () => {
  const ext7 = makeExt7('jpg', digits('042'));
  assert.equal(ext7, '042.jpg');
  const name = buildLogicName({
    storePathIndex: 0,
    high: 0,
    low: 0,
    header: { source: { ip: EX.ip }, timestamp: EX.timestamp, sizeField: 0x8012345600003039n, crc32: 0xaf083b2d },
    ext7,
  });
  assert.equal(name, EX.logicName);
  assert.equal(name.length, NORMAL_LOGIC_LEN);
  assert.equal(`group1/${name}`, EX.fileId);
  // The header may equally be given as bytes or as its base64 text.
  assert.equal(buildLogicName({ storePathIndex: 0, high: 0, low: 0, header: Buffer.from(EX.headerHex, 'hex'), ext7 }), EX.logicName);
  assert.equal(buildLogicName({ storePathIndex: 0, high: 0, low: 0, header: EX.b64, ext7 }), EX.logicName);
});

test('§6.8: decoding the file id back', () => {
  const split = splitFileId(EX.fileId);
  assert.deepEqual(split, { group: 'group1', logicName: EX.logicName });
  const raw = Buffer.from(EX.headerHex, 'hex');
  assert.equal(raw.readUInt32LE(0), 0x0a01a8c0); // > 0xFFFFFF ⇒ an IP
  assert.deepEqual(decodeFileHeader(raw), {
    source: { ip: '192.168.1.10' },
    timestamp: 1700000000,
    sizeField: 0x8012345600003039n,
    crc32: 0xaf083b2d,
  });
  const d = decodeFileName(split!.logicName)!;
  assert.ok(d);
  assert.deepEqual(d.source, { ip: '192.168.1.10' });
  assert.equal(d.timestamp, 1700000000);
  assert.equal(d.sizeField, 0x8012345600003039n);
  assert.equal(d.size, 12345);
  assert.equal(d.crc32, 0xaf083b2d);
  assert.equal(d.type, 'normal');
  assert.equal(d.isAppender, false);
  assert.equal(d.isTrunk, false);
  assert.equal(d.isSlave, false);
  assert.equal(d.storePathIndex, 0);
  assert.equal(d.high, 0);
  assert.equal(d.low, 0);
  assert.equal(d.base, 'wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg');
  assert.equal(d.trunk, undefined);
});

test('§6.8 variant: server id 100001 in the name', () => {
  const header = encodeFileHeader({
    source: { id: 100001 },
    timestamp: EX.timestamp,
    sizeField: 0x8012345600003039n,
    crc32: 0xaf083b2d,
  });
  assert.deepEqual([...header.subarray(0, 4)], [0xa1, 0x86, 0x01, 0x00]);
  assert.equal(header.subarray(4).toString('hex').toUpperCase(), EX.headerHex.slice(8));
  assert.equal(encodeB64(header), 'oYYBAGVT8QCAEjRWAAAwOa8IOy0');
  const d = decodeFileName('M00/00/00/oYYBAGVT8QCAEjRWAAAwOa8IOy0042.jpg')!;
  assert.deepEqual(d.source, { id: 100001 });
  assert.equal(d.size, 12345);
  assert.equal(d.crc32, 0xaf083b2d);
});

test('§6.8 variant: appender with the same R', () => {
  const sizeField = makeSizeField('appender', EX.size, EX.rand23);
  assert.equal(sizeField, 0x8412345600000000n);
  assert.equal(sizeField & APPENDER_FLAG, APPENDER_FLAG);
  const header = encodeFileHeader({ source: { ip: EX.ip }, timestamp: EX.timestamp, sizeField, crc32: 0xaf083b2d });
  assert.equal(header.toString('hex').toUpperCase(), 'C0A8010A6553F1008412345600000000AF083B2D');
  assert.equal(encodeB64(header), 'wKgBCmVT8QCEEjRWAAAAAK8IOy0');
  const d = decodeFileName('M00/00/00/wKgBCmVT8QCEEjRWAAAAAK8IOy0042.jpg')!;
  assert.equal(d.type, 'appender');
  assert.equal(d.isAppender, true);
  assert.equal(d.isSlave, false);
  assert.equal(d.size, -1); // appender sizes are only known to the storage (§3.8)
  assert.equal(d.nameSize, 0);
  assert.equal(d.crc32, 0xaf083b2d);
});

test('§6.8 variant: random-dir mode gives n = 33520 ⇒ 82/F0', () => {
  assert.equal(pjwHash(EX.b64) % 65536, 33520);
  assert.equal(pjwHash(Buffer.from(EX.b64)) % 65536, 33520);
  assert.deepEqual(randomSubdir(EX.b64, 256), { high: 0x82, low: 0xf0 });
  assert.deepEqual(randomSubdir(EX.b64, 100), { high: 0x82 % 100, low: 0xf0 % 100 });
  const name = buildLogicName({ storePathIndex: 0, ...randomSubdir(EX.b64, 256), header: EX.b64, ext7: '042.jpg' });
  assert.equal(name, 'M00/82/F0/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg');
  const d = decodeFileName(name)!;
  assert.equal(d.high, 0x82);
  assert.equal(d.low, 0xf0);
});

test('PJW hash keeps 28 bits and uses the arithmetic shift of the C code', () => {
  assert.equal(pjwHash(''), 0);
  assert.equal(pjwHash('A'), 0x41);
  // Past 7 bytes the top nibble spills over and is folded back; the result stays within 28 bits.
  const h = pjwHash('zzzzzzzzzzzzzzzz');
  assert.ok(h >= 0 && h <= 0x0fffffff);
  // A high byte makes `t` negative as a C int; (t >> 24) then sets bits 8..31 before the mask.
  let ref = 0;
  for (const b of Buffer.from('wKgBCmVT8QCAEjRWAAAwOa8IOy0')) {
    ref = ((ref << 4) + b) | 0;
    const t = ref & 0xf0000000;
    if (t !== 0) ref = (ref ^ (t >> 24)) & 0x0fffffff;
  }
  assert.equal(pjwHash('wKgBCmVT8QCAEjRWAAAwOa8IOy0'), ref);
});

// ---- size field, EXT7, header ----------------------------------------------------------------

test('size field: large normal files keep the raw size, trunk files get bit 59', () => {
  assert.equal(makeSizeField('normal', 0, 0), 0x8000000000000000n);
  assert.equal(makeSizeField('normal', 0xffffffff, 0x7fffff), 0x807fffffffffffffn);
  assert.equal(makeSizeField('normal', 2 ** 32, 0x123456), 0x100000000n);
  assert.equal(makeSizeField('normal', 5_000_000_000n, 1), 5_000_000_000n);
  assert.equal(makeSizeField('trunk', 100, 0x123456), 0x8812345600000064n);
  assert.equal(makeSizeField('trunk', 100, 0x123456) & TRUNK_FLAG, TRUNK_FLAG);
  // Only 23 random bits are used.
  assert.equal(makeSizeField('normal', 1, 0xffffffff), 0x807fffff00000001n);
  assertEinval(() => makeSizeField('normal', -1, 0));
  assertEinval(() => makeSizeField('trunk', 2 ** 32, 0));
});

test('a raw 64-bit size (no bit 63) decodes as the whole value', () => {
  const header = encodeFileHeader({ source: { ip: '10.0.0.1' }, timestamp: 1, sizeField: 5_000_000_000n, crc32: 0 });
  const d = decodeFileName(`M00/00/00/${encodeB64(header)}1234567`)!;
  assert.equal(d.size, 5_000_000_000);
  assert.equal(d.type, 'normal');
});

test('EXT7: random digits fill up to 7 chars', () => {
  assert.equal(makeExt7('', digits('1234567')), '1234567');
  assert.equal(makeExt7('jpeg', digits('98')), '98.jpeg');
  assert.equal(makeExt7('tar.gz', digits('0')), '.tar.gz');
  assert.equal(makeExt7('a', digits('12345')), '12345.a');
  assert.match(makeExt7(''), /^[0-9]{7}$/);
  assert.match(makeExt7('txt'), /^[0-9]{3}\.txt$/);
});

test('EXT7: only up to 6 chars of [A-Za-z0-9._-]', () => {
  for (const ok of ['', 'jpg', 'tar.gz', 'A_b-9', '.jpg']) assert.equal(isValidExt(ok), true, ok);
  for (const bad of ['jpgjpgj', 'a/b', 'a b', 'ä', 'a\0', 'x:y']) {
    assert.equal(isValidExt(bad), false, bad);
    assertEinval(() => makeExt7(bad), bad);
  }
});

test('header source rule (§6.4): 1..0xFFFFFF is an id, everything else an IPv4', () => {
  const enc = (source: { ip: string } | { id: number }) =>
    decodeFileHeader(encodeFileHeader({ source, timestamp: 0, sizeField: 0n, crc32: 0 })).source;
  assert.deepEqual(enc({ id: 1 }), { id: 1 });
  assert.deepEqual(enc({ id: 0xffffff }), { id: 0xffffff });
  assert.deepEqual(enc({ ip: '127.0.0.2' }), { ip: '127.0.0.2' });
  assert.deepEqual(enc({ ip: '0.0.0.0' }), { ip: '0.0.0.0' });
  assert.deepEqual(enc({ ip: '255.255.255.255' }), { ip: '255.255.255.255' });
  // Quirk kept on purpose: an address ending in .0 reads back as a server id.
  assert.deepEqual(enc({ ip: '10.1.2.0' }), { id: 0x0002010a });
  assertEinval(() => enc({ id: 0 }));
  assertEinval(() => enc({ id: 0x1000000 }));
  assertEinval(() => enc({ ip: '256.1.1.1' }));
  assertEinval(() => enc({ ip: '::1' }));
});

test('header round trip keeps all 32 bits of timestamp and CRC', () => {
  const h = { source: { ip: '1.2.3.4' }, timestamp: 0xfffffffe, sizeField: 0xffffffffffffffffn, crc32: 0xffffffff };
  assert.deepEqual(decodeFileHeader(encodeFileHeader(h)), h);
  assertEinval(() => encodeFileHeader({ ...h, timestamp: -1 }));
  assertEinval(() => decodeFileHeader(new Uint8Array(19)));
});

// ---- logic-name validation (§3) ---------------------------------------------------------------

test('logic names: the accepted shapes', () => {
  assert.deepEqual(parseLogicName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg'), {
    storePathIndex: 0, high: 0, low: 0, base: 'wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg',
  });
  assert.deepEqual(parseLogicName('M1F/AB/CD/x'), { storePathIndex: 0x1f, high: 0xab, low: 0xcd, base: 'x' });
  // `xx` goes through strtol(…, 16) in C, so lower case is tolerated there only.
  assert.deepEqual(parseLogicName('M0a/FF/00/name'), { storePathIndex: 10, high: 0xff, low: 0, base: 'name' });
  // Pre-1.12 names have no `Mxx/` and live on path 0.
  assert.deepEqual(parseLogicName('0A/0B/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg'), {
    storePathIndex: 0, high: 10, low: 11, base: 'wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg',
  });
});

test('logic names: the rejected shapes', () => {
  const bad = [
    '',
    'M00/00/00/', // exactly 10 bytes
    'M00/00/00', // too short
    'M00/0a/00/name', // HH must be upper case
    'M00/00/ff/name',
    'M00/0/000/name',
    'M00/00/00/a/b', // no further '/'
    'M00/00/00/../../etc/passwd',
    'M00/00/00/a..b', // no '..' anywhere
    'M0G/00/00/name', // xx not hex
    'M000/00/00/name',
    'M00-00/00/name',
    'M00/00/00//name',
    '/M00/00/00/name', // leading '/'
    '/00/00/name-long-enough',
    'X0/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', // pre-1.12 name with a non-hex dir
    '00/00/', // pre-1.12, empty base
    '00/00/../../../x',
    'M00/00/00/na\0me',
  ];
  for (const name of bad) {
    assert.equal(parseLogicName(name), null, JSON.stringify(name));
    assert.equal(validateLogicName(name, 256), 'EINVAL', JSON.stringify(name));
  }
});

test('logic names: the store path index must be below store_path_count', () => {
  assert.equal(validateLogicName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', 1), null);
  assert.equal(validateLogicName('M01/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', 1), 'EINVAL');
  assert.equal(validateLogicName('M01/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', 2), null);
  assert.equal(validateLogicName('00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', 1), null);
  assert.equal(validateLogicName('M00/00/00/x', 1), null); // 11 bytes is long enough for §3
});

test('file ids split at the first "/" with a 1..16 char [A-Za-z0-9] group', () => {
  assert.deepEqual(splitFileId('group1/M00/00/00/x'), { group: 'group1', logicName: 'M00/00/00/x' });
  assert.deepEqual(splitFileId('G/x'), { group: 'G', logicName: 'x' });
  assert.deepEqual(splitFileId('abcdefghijklmnop/M00/00/00/x')?.group, 'abcdefghijklmnop');
  for (const bad of ['group1', '/M00/00/00/x', 'group1/', 'abcdefghijklmnopq/M00/00/00/x', 'group-1/M00/00/00/x', 'grüp/x']) {
    assert.equal(splitFileId(bad), null, bad);
  }
});

// ---- names from the golden captures (captures/*.json "notes") ----------------------------------

type Expect = {
  source: { ip: string } | { id: number };
  ts: number;
  type: 'normal' | 'appender' | 'slave';
  sizeField: bigint;
  size: number;
  nameSize: number;
  crc: number;
};

const CAPTURED: Array<[string, Expect]> = [
  ['M00/00/00/fwAAAmsGnkGATEe2AAAAKt11vBM623.txt',
    { source: { ip: '127.0.0.2' }, ts: 1795595841, type: 'normal', sizeField: 0x804c47b60000002an, size: 42, nameSize: 42, crc: 0xdd75bc13 }],
  ['M00/00/00/fwAAA2sGnl-AKPIFAAAAJRyevkE360.txt',
    { source: { ip: '127.0.0.3' }, ts: 1795595871, type: 'normal', sizeField: 0x8028f20500000025n, size: 37, nameSize: 37, crc: 0x1c9ebe41 }],
  ['M00/00/00/fwAAAmsGnmGAelvQAASwALWOeZI830.bin',
    { source: { ip: '127.0.0.2' }, ts: 1795595873, type: 'normal', sizeField: 0x807a5bd00004b000n, size: 307200, nameSize: 307200, crc: 0xb58e7992 }],
  ['M00/00/00/fwAAA2sGnoGAV_RsAAAAAAAAAAA635.bin',
    { source: { ip: '127.0.0.3' }, ts: 1795595905, type: 'normal', sizeField: 0x8057f46c00000000n, size: 0, nameSize: 0, crc: 0 }],
  ['M00/00/00/fwAAAmsGnkKEKoJfAAAAAA_-AcM952.txt',
    { source: { ip: '127.0.0.2' }, ts: 1795595842, type: 'appender', sizeField: 0x842a825f00000000n, size: -1, nameSize: 0, crc: 0x0ffe01c3 }],
  ['M00/00/00/fwAAAmsGnnGEbAqRAAAAAAnvMvc958.txt',
    { source: { ip: '127.0.0.2' }, ts: 1795595889, type: 'appender', sizeField: 0x846c0a9100000000n, size: -1, nameSize: 0, crc: 0x09ef32f7 }],
  // REGENERATE_APPENDER_FILENAME (38) result: a normal name again, with the whole file's CRC.
  ['M00/00/00/fwAAA2sGnnGAQRZsAAAAEuY8FBE604.txt',
    { source: { ip: '127.0.0.3' }, ts: 1795595889, type: 'normal', sizeField: 0x8041166c00000012n, size: 18, nameSize: 18, crc: 0xe63c1411 }],
  ['M00/00/00/fwAAA2sGnmGAAu1SAAAEAKYGZSk792_big.jpg',
    { source: { ip: '127.0.0.3' }, ts: 1795595873, type: 'slave', sizeField: 0x8002ed5200000400n, size: -1, nameSize: 1024, crc: 0xa6066529 }],
  ['M00/00/00/fwAAAmsGnmKAZiztAAACAAqeoR46511024x1024.png',
    { source: { ip: '127.0.0.2' }, ts: 1795595874, type: 'slave', sizeField: 0x80662ced00000200n, size: -1, nameSize: 512, crc: 0x0a9ea11e }],
  // ids-client.json: use_storage_id=true, id_type_in_filename=id.
  ['M00/00/00/oYYBAGsGoG-ASgi3AAAAKt11vBM097.txt',
    { source: { id: 100001 }, ts: 1795596399, type: 'normal', sizeField: 0x804a08b70000002an, size: 42, nameSize: 42, crc: 0xdd75bc13 }],
  ['M00/00/00/oYYBAGsGoHCEeFbCAAAAAA_-AcM815.txt',
    { source: { id: 100001 }, ts: 1795596400, type: 'appender', sizeField: 0x847856c200000000n, size: -1, nameSize: 0, crc: 0x0ffe01c3 }],
  ['M00/00/00/oYYBAGsGoIOAWCyBAAAAJRyevkE708.txt',
    { source: { id: 100001 }, ts: 1795596419, type: 'normal', sizeField: 0x80582c8100000025n, size: 37, nameSize: 37, crc: 0x1c9ebe41 }],
];

test('names recorded from FastDFS 6.16.1 decode to the values in the capture notes', () => {
  for (const [name, e] of CAPTURED) {
    const d = decodeFileName(name);
    assert.ok(d, name);
    assert.deepEqual(d.source, e.source, name);
    assert.equal(d.timestamp, e.ts, name);
    assert.equal(d.type, e.type, name);
    assert.equal(d.sizeField, e.sizeField, name);
    assert.equal(d.size, e.size, name);
    assert.equal(d.nameSize, e.nameSize, name);
    assert.equal(d.crc32, e.crc, name);
    assert.equal(d.isAppender, e.type === 'appender', name);
    assert.equal(d.isSlave, e.type === 'slave', name);
    assert.equal(d.isTrunk, false, name);
    assert.equal(validateLogicName(name, 1), null, name);
  }
});

test('captured names re-encode from their decoded fields', () => {
  for (const [name] of CAPTURED) {
    const d = decodeFileName(name)!;
    if (d.isSlave) continue;
    const rebuilt = buildLogicName({
      storePathIndex: d.storePathIndex,
      high: d.high,
      low: d.low,
      header: { source: d.source, timestamp: d.timestamp, sizeField: d.sizeField, crc32: d.crc32 },
      ext7: name.slice(-7),
    });
    assert.equal(rebuilt, name);
  }
});

// ---- slave names (§6.6) -----------------------------------------------------------------------

const MASTER = 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg';

test('§6.6 examples', () => {
  assert.equal(slaveFileName(MASTER, '_150x150', 'jpg'), 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042_150x150.jpg');
  assert.equal(slaveFileName(MASTER, '_150x150', ''), 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042_150x150');
  assert.equal(slaveFileName(MASTER, '_150x150', '.jpg'), 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042_150x150.jpg');
  assert.equal(slaveFileName(MASTER, '_s', 'png'), 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042_s.png');
});

test('slave names recorded from FastDFS 6.16.1', () => {
  assert.equal(slaveFileName('M00/00/00/fwAAA2sGnmGAAu1SAAAEAKYGZSk792.jpg', '_big', 'jpg'),
    'M00/00/00/fwAAA2sGnmGAAu1SAAAEAKYGZSk792_big.jpg');
  assert.equal(slaveFileName('M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915.jpg', '_big', 'jpg'),
    'M00/00/00/fwAAAmsGnkKAQZPRAAAEAKYGZSk915_big.jpg');
  assert.equal(slaveFileName('M00/00/00/fwAAAmsGnmKAZiztAAACAAqeoR4651.png', '1024x1024', 'png'),
    'M00/00/00/fwAAAmsGnmKAZiztAAACAAqeoR46511024x1024.png');
});

test('slave of a master without extension, and on another store path', () => {
  assert.equal(slaveFileName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy01234567', '_t', 'txt'),
    'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy01234567_t.txt');
  assert.equal(slaveFileName('M02/0A/FF/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg', '-m', 'jpg'),
    'M02/0A/FF/wKgBCmVT8QCAEjRWAAAwOa8IOy0042-m.jpg');
  // A dot earlier than the last 7 chars is not an extension.
  assert.equal(slaveFileName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg_150x150', '_x', ''),
    'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg_150x150_x');
});

test('slave names: EINVAL cases', () => {
  assertEinval(() => slaveFileName(MASTER, '', 'jpg'), 'empty prefix');
  assertEinval(() => slaveFileName(MASTER, '-m', ''), 'prefix -m without ext');
  // `00/00/` + 27 chars = 33 without the `Mxx/`.
  assertEinval(() => slaveFileName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0', '_s', 'jpg'), 'master of 33 chars');
  assertEinval(() => slaveFileName(MASTER, 'a/b', 'jpg'), 'prefix with "/"');
  assertEinval(() => slaveFileName(MASTER, 'x'.repeat(17), 'jpg'), 'prefix over 16 bytes');
  assertEinval(() => slaveFileName(MASTER, '_s', 'jp/g'), 'bad ext');
  // 34 chars without `Mxx/` is the shortest accepted master.
  assert.equal(slaveFileName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0.', '_s', ''), 'M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0_s');
});

test('a slave name decodes as a slave carrying its master header', () => {
  const slave = slaveFileName(MASTER, '_150x150', 'jpg');
  const d = decodeFileName(slave)!;
  assert.equal(d.type, 'slave');
  assert.equal(d.isSlave, true);
  assert.equal(d.size, -1);
  assert.equal(d.nameSize, 12345);
  assert.deepEqual(d.source, { ip: '192.168.1.10' });
});

// ---- trunk names (§6.1, §11.11) ----------------------------------------------------------------

test('trunk names: 60 chars with the trunk location, size from the low 32 bits', () => {
  const sizeField = makeSizeField('trunk', 12345, 0x123456);
  const name = buildLogicName({
    storePathIndex: 1,
    high: 0x0a,
    low: 0xb0,
    header: { source: { ip: EX.ip }, timestamp: EX.timestamp, sizeField, crc32: 0xaf083b2d },
    trunk: { id: 7, offset: 65536, slotSize: 12369 + 15 },
    ext7: '042.jpg',
  });
  assert.equal(name.length, TRUNK_LOGIC_LEN);
  assert.equal(name.slice(0, 10), 'M01/0A/B0/');
  assert.equal(name.slice(37, 53), encodeB64(Buffer.from('00000007' + '00010000' + '00003060', 'hex')));
  const d = decodeFileName(name)!;
  assert.equal(d.isTrunk, true);
  assert.equal(d.isSlave, false);
  assert.equal(d.type, 'normal');
  assert.equal(d.size, 12345);
  assert.deepEqual(d.trunk, { id: 7, offset: 65536, slotSize: 12384 });
  assert.equal(d.storePathIndex, 1);

  // A slave of a trunk-stored master is longer than 60 chars.
  const slave = slaveFileName(name, '_s', 'jpg');
  const ds = decodeFileName(slave)!;
  assert.equal(ds.type, 'slave');
  assert.equal(ds.isTrunk, true);
  assert.equal(ds.trunk, undefined);
});

test('a 60-char name without the trunk flag is a slave', () => {
  const name = `M00/00/00/${EX.b64}${'A'.repeat(16)}042.jpg`;
  assert.equal(name.length, TRUNK_LOGIC_LEN);
  const d = decodeFileName(name)!;
  assert.equal(d.type, 'slave');
  assert.equal(d.trunk, undefined);
});

test('decodeFileName rejects names it cannot decode', () => {
  assert.equal(decodeFileName('M00/00/00/short'), null);
  assert.equal(decodeFileName(`M00/00/00/${EX.b64}42.jpg`), null); // 43 chars
  assert.equal(decodeFileName('M00/00/00/wKgBCmVT8QCAEjRWAAAwOa8I!y0042.jpg'), null); // not base64
  assert.equal(decodeFileName('M00/00/0a/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg'), null);
  // Pre-1.12 name: same base, 4 chars shorter.
  const legacy = decodeFileName('00/00/wKgBCmVT8QCAEjRWAAAwOa8IOy0042.jpg')!;
  assert.equal(legacy.type, 'normal');
  assert.equal(legacy.size, 12345);
});

test('buildLogicName validates its parts', () => {
  const base = { storePathIndex: 0, high: 0, low: 0, header: EX.b64, ext7: '042.jpg' };
  assertEinval(() => buildLogicName({ ...base, storePathIndex: 256 }));
  assertEinval(() => buildLogicName({ ...base, high: -1 }));
  assertEinval(() => buildLogicName({ ...base, header: EX.b64.slice(1) }));
  assertEinval(() => buildLogicName({ ...base, header: new Uint8Array(19) }));
  assertEinval(() => buildLogicName({ ...base, ext7: '42.jpg' }));
  assertEinval(() => buildLogicName({ ...base, ext7: '04/.jpg' }));
});
