// File names and file ids (PROTOCOL.md §6, validation rules of §3, client-side decoding of §3.8).
//
// Error choice: functions that *parse* untrusted names (parseLogicName, splitFileId, decodeFileName)
// return null on invalid input, so request handlers can map that to EINVAL themselves; functions
// that *build* names throw FdfsError (code 'EINVAL', errno 22) on bad arguments — for
// slaveFileName those arguments come from the wire and the error maps straight onto the reply.
import { Buffer } from 'node:buffer';
import { decodeB64, encodeB64, isB64 } from './base64.ts';
import { FdfsError } from './errno.ts';

/** Bit 58 of the size field: appender file (§6.3). */
export const APPENDER_FLAG = 1n << 58n;
/** Bit 59 of the size field: stored inside a trunk file (§6.3). */
export const TRUNK_FLAG = 1n << 59n;
/** Bit 63 of the size field: set whenever a random R was mixed in, i.e. the size is the low 32 bits. */
export const SIZE_RANDOM_FLAG = 1n << 63n;
/** Length of a normal logic name, `M00/00/00/` + 27 + 7 (§6.1). */
export const NORMAL_LOGIC_LEN = 44;
/** Length of a trunk logic name, with the 16-char trunk location (§6.1). */
export const TRUNK_LOGIC_LEN = 60;
export const FILE_HEADER_LEN = 20;
export const HEADER_B64_LEN = 27;
export const TRUNK_LOC_LEN = 12;
export const TRUNK_LOC_B64_LEN = 16;
export const EXT7_LEN = 7;
/** `Mxx/HH/HH/`: the C code's FDFS_LOGIC_FILE_PATH_LEN; a logic name must be longer (§3). */
export const LOGIC_PATH_LEN = 10;

const MAX_SERVER_ID = 0xffffff;
// `HH/HH/` + 28 chars: the C check `master_len < 28 + FDFS_FILE_EXT_NAME_MAX_LEN` (§6.6).
const MIN_SLAVE_MASTER_LEN = 34;
const LOW32 = 0xffffffffn;
const HEX2_UPPER = /^[0-9A-F]{2}$/;
const EXT_RE = /^[A-Za-z0-9._-]{0,6}$/;
const PREFIX_RE = /^[A-Za-z0-9._-]{1,16}$/;
const GROUP_RE = /^[A-Za-z0-9]{1,16}$/;

function einval(detail: string, subject?: string): FdfsError {
  return new FdfsError('EINVAL', detail, { subject });
}

/** Source storage of a file: its IPv4 address, or its numeric server id (§6.2). */
export type FileSource = { ip: string } | { id: number };

/** The 20-byte header every file name carries in base64 (§6.2). */
export interface FileHeader {
  source: FileSource;
  /** Unix seconds. */
  timestamp: number;
  /** The 64-bit size field of §6.3, flags included. */
  sizeField: bigint;
  /** Unsigned CRC-32. */
  crc32: number;
}

/** Where a trunk-stored file lives (§6.1, §11.11). */
export interface TrunkLocation {
  id: number;
  offset: number;
  slotSize: number;
}

/** The parts of `Mxx/HH/HH/<base>`. */
export interface LogicName {
  storePathIndex: number;
  high: number;
  low: number;
  base: string;
}

export type FileType = 'normal' | 'appender' | 'slave';

export interface DecodedFileName extends LogicName, FileHeader {
  /** §3.8 precedence: appender (bit 58) before slave (length) before normal. */
  type: FileType;
  isAppender: boolean;
  /** Trunk flag (bit 59) set. */
  isTrunk: boolean;
  /** Longer than a normal name (or than a trunk name for trunk-flagged names), per C IS_SLAVE_FILE. */
  isSlave: boolean;
  /**
   * Content size as `fdfs_file_info` reports it without a server round trip: the size in the name
   * for normal files, -1 for appender and slave files (their real size is only known by the storage).
   */
  size: number;
  /** The size decoded from the size field whatever the type (for a slave, the master's size). */
  nameSize: number;
  /** Present for 60-char trunk-flagged names. */
  trunk?: TrunkLocation;
}

function hex2(n: number, what: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw einval(`${what} out of range: ${n}`);
  return n.toString(16).toUpperCase().padStart(2, '0');
}

function parseIPv4(ip: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** Serialises the 20-byte name header (§6.2): source, BE timestamp, BE size field, BE CRC-32. */
export function encodeFileHeader(h: FileHeader): Buffer {
  const buf = Buffer.alloc(FILE_HEADER_LEN);
  if ('id' in h.source) {
    const id = h.source.id;
    if (!Number.isInteger(id) || id < 1 || id > MAX_SERVER_ID) {
      throw einval(`server id out of range 1..${MAX_SERVER_ID}: ${id}`);
    }
    // §6.2: the id is the one little-endian field of the header.
    buf.writeUInt32LE(id, 0);
  } else {
    const octets = parseIPv4(h.source.ip);
    if (!octets) throw einval(`not an IPv4 address: ${h.source.ip}`);
    buf.set(octets, 0);
  }
  if (!Number.isInteger(h.timestamp) || h.timestamp < 0 || h.timestamp > 0xffffffff) {
    throw einval(`timestamp out of range: ${h.timestamp}`);
  }
  buf.writeUInt32BE(h.timestamp, 4);
  buf.writeBigUInt64BE(BigInt.asUintN(64, h.sizeField), 8);
  buf.writeUInt32BE(h.crc32 >>> 0, 16);
  return buf;
}

/** Parses the first 20 bytes of `buf` as a name header (§6.2, source rule of §6.4). */
export function decodeFileHeader(buf: Uint8Array): FileHeader {
  if (buf.length < FILE_HEADER_LEN) throw einval(`file header needs ${FILE_HEADER_LEN} bytes, got ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, FILE_HEADER_LEN);
  // §6.4: a little-endian value 1..0xFFFFFF is a server id, anything else an IPv4 address (so an
  // address ending in .0 is misread as an id — same quirk as the C code, kept for compatibility).
  const v = b.readUInt32LE(0);
  const source: FileSource = v >= 1 && v <= MAX_SERVER_ID ? { id: v } : { ip: `${b[0]}.${b[1]}.${b[2]}.${b[3]}` };
  return {
    source,
    // Read unsigned: the C code uses a signed int, which only differs after 2038.
    timestamp: b.readUInt32BE(4),
    sizeField: b.readBigUInt64BE(8),
    crc32: b.readUInt32BE(16),
  };
}

/**
 * Builds the size field (§6.3) from 23 random bits. Normal files under 4 GiB and trunk files get
 * `R << 32 | size` with R = 0x80000000 | rand23; larger normal files store the raw size; appenders
 * store no size, only the flag.
 */
export function makeSizeField(kind: 'normal' | 'appender' | 'trunk', size: number | bigint, rand23: number): bigint {
  const s = BigInt(size);
  if (s < 0n || s >= SIZE_RANDOM_FLAG) throw einval(`file size out of range: ${size}`);
  const r = BigInt((0x80000000 | (rand23 & 0x7fffff)) >>> 0) << 32n;
  switch (kind) {
    case 'normal':
      return s > LOW32 ? s : r | s;
    case 'appender':
      return r | APPENDER_FLAG;
    case 'trunk':
      if (s > LOW32) throw einval(`trunk file too large: ${size}`);
      return r | s | TRUNK_FLAG;
  }
}

/** A file extension the upload commands accept (§3.1): up to 6 chars of `[A-Za-z0-9._-]`. */
export function isValidExt(ext: string): boolean {
  return EXT_RE.test(ext);
}

/**
 * An extension that gives a usable name once joined with '.': `.md` would make `…..md`, which
 * every later command refuses (parseLogicName rejects '..'). The storage refuses such an upload
 * with EINVAL; clients strip one leading dot (`--ext .md` means `md`).
 */
export function isNameSafeExt(ext: string): boolean {
  return isValidExt(ext) && !ext.startsWith('.') && !ext.includes('..');
}

function defaultRandomDigit(): string {
  return String(Math.floor(Math.random() * 10));
}

/**
 * The 7-char name tail (§6.5): 7 random digits for no extension, else `6 − len` digits, '.', ext.
 * Throws an EINVAL FdfsError for an invalid extension.
 */
export function makeExt7(ext: string, randomDigit: () => string = defaultRandomDigit): string {
  if (!isNameSafeExt(ext)) throw einval(`invalid file extension: ${JSON.stringify(ext)}`);
  const digits = ext === '' ? EXT7_LEN : EXT7_LEN - 1 - ext.length;
  let out = '';
  for (let i = 0; i < digits; i++) out += randomDigit();
  return ext === '' ? out : `${out}.${ext}`;
}

/** The 12 trunk-location bytes, three big-endian 32-bit integers (§6.1). */
export function encodeTrunkLocation(loc: TrunkLocation): Buffer {
  const buf = Buffer.alloc(TRUNK_LOC_LEN);
  buf.writeUInt32BE(loc.id >>> 0, 0);
  buf.writeUInt32BE(loc.offset >>> 0, 4);
  buf.writeUInt32BE(loc.slotSize >>> 0, 8);
  return buf;
}

export function decodeTrunkLocation(buf: Uint8Array): TrunkLocation {
  if (buf.length < TRUNK_LOC_LEN) throw einval(`trunk location needs ${TRUNK_LOC_LEN} bytes, got ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, TRUNK_LOC_LEN);
  return { id: b.readUInt32BE(0), offset: b.readUInt32BE(4), slotSize: b.readUInt32BE(8) };
}

export interface LogicNameParts {
  storePathIndex: number;
  high: number;
  low: number;
  /** The header as its 27-char base64 text, its 20 bytes, or its fields. */
  header: string | Uint8Array | FileHeader;
  /** Present for trunk-stored files: adds the 16-char location (§6.1). */
  trunk?: TrunkLocation;
  ext7: string;
}

/** `M<HEX2 path>/<HEX2 high>/<HEX2 low>/<b64 header>[<b64 trunk location>]<ext7>` (§6.1). */
export function buildLogicName(p: LogicNameParts): string {
  let header: string;
  if (typeof p.header === 'string') {
    header = p.header;
  } else if (p.header instanceof Uint8Array) {
    if (p.header.length !== FILE_HEADER_LEN) throw einval(`file header must be ${FILE_HEADER_LEN} bytes`);
    header = encodeB64(p.header);
  } else {
    header = encodeB64(encodeFileHeader(p.header));
  }
  if (header.length !== HEADER_B64_LEN || !isB64(header)) throw einval(`invalid header text: ${header}`);
  // §11.11: readers only take a 60-char name for a trunk name when bit 59 is set; without it the
  // name would be read as a slave file and its slot could never be found again.
  if (p.trunk && !(decodeFileHeader(decodeB64(header)).sizeField & TRUNK_FLAG)) {
    throw einval('a name with a trunk location needs the trunk flag (bit 59) in its size field');
  }
  if (p.ext7.length !== EXT7_LEN || p.ext7.includes('/')) throw einval(`invalid ext7: ${JSON.stringify(p.ext7)}`);
  const trunk = p.trunk ? encodeB64(encodeTrunkLocation(p.trunk)) : '';
  return `M${hex2(p.storePathIndex, 'store path index')}/${hex2(p.high, 'sub-directory')}/${hex2(p.low, 'sub-directory')}/${header}${trunk}${p.ext7}`;
}

/**
 * Parses and validates a logic name by the storage's rules (§3): `Mxx/HH/HH/<base>` with `xx` hex
 * (either case, C parses it with strtol), `HH` two upper-case hex digits, no further '/', base
 * non-empty, whole name longer than 10 bytes. A name not starting with 'M' is a pre-1.12 name
 * `HH/HH/<base>` on path 0. Beyond the C checks, rejects '..' anywhere and NUL bytes: names become
 * file system paths. Returns null when invalid; the store path count is checked by
 * {@link validateLogicName}.
 */
export function parseLogicName(name: string): LogicName | null {
  if (typeof name !== 'string' || name.length <= LOGIC_PATH_LEN) return null;
  if (name.includes('..') || name.includes('\0')) return null;
  let storePathIndex = 0;
  let rest = name;
  if (name[0] === 'M') {
    const xx = name.slice(1, 3);
    if (name[3] !== '/' || !/^[0-9A-Fa-f]{2}$/.test(xx)) return null;
    storePathIndex = parseInt(xx, 16);
    rest = name.slice(4);
  }
  const high = rest.slice(0, 2);
  const low = rest.slice(3, 5);
  if (!HEX2_UPPER.test(high) || rest[2] !== '/' || !HEX2_UPPER.test(low) || rest[5] !== '/') return null;
  const base = rest.slice(6);
  if (base === '' || base.includes('/')) return null;
  return { storePathIndex, high: parseInt(high, 16), low: parseInt(low, 16), base };
}

/** The storage's logic-name check (§3): 'EINVAL' when malformed or the path index is ≥ storePathCount. */
export function validateLogicName(name: string, storePathCount: number): 'EINVAL' | null {
  const parsed = parseLogicName(name);
  if (!parsed || parsed.storePathIndex >= storePathCount) return 'EINVAL';
  return null;
}

/** Splits `<group>/<logic name>` at the first '/' (§2.4); null when the group is not 1..16 `[A-Za-z0-9]`. */
export function splitFileId(fileId: string): { group: string; logicName: string } | null {
  const slash = fileId.indexOf('/');
  if (slash < 0) return null;
  const group = fileId.slice(0, slash);
  const logicName = fileId.slice(slash + 1);
  if (!GROUP_RE.test(group) || logicName === '') return null;
  return { group, logicName };
}

/**
 * Decodes everything a logic name says about its file (§6.1–§6.4, §3.8 client rules). Returns null
 * for names that fail {@link parseLogicName} or are too short / not base64 where the header sits.
 */
export function decodeFileName(logicName: string): DecodedFileName | null {
  const parsed = parseLogicName(logicName);
  if (!parsed) return null;
  // Lengths in §3.8 are those of `Mxx/HH/HH/` names; a pre-1.12 name lacks the 4-char `Mxx/`.
  const len = parsed.base.length + LOGIC_PATH_LEN;
  if (len < NORMAL_LOGIC_LEN) return null;
  const headerText = parsed.base.slice(0, HEADER_B64_LEN);
  if (!isB64(headerText)) return null;
  const header = decodeFileHeader(decodeB64(headerText));
  const { sizeField } = header;
  const isAppender = (sizeField & APPENDER_FLAG) !== 0n;
  const isTrunk = (sizeField & TRUNK_FLAG) !== 0n;
  const isSlave = len > TRUNK_LOGIC_LEN || (len > NORMAL_LOGIC_LEN && !isTrunk);
  const type: FileType = isAppender ? 'appender' : isSlave ? 'slave' : 'normal';
  const nameSize = (sizeField & SIZE_RANDOM_FLAG) !== 0n || isTrunk ? Number(sizeField & LOW32) : Number(sizeField);
  // Fields spelled out: on Node 20 `{ ...parsed, ...header, … }` took ~60 µs per call (a slow
  // object-spread path), this ~0.1 µs — it runs for every trunk-engine operation.
  const out: DecodedFileName = {
    storePathIndex: parsed.storePathIndex,
    high: parsed.high,
    low: parsed.low,
    base: parsed.base,
    source: header.source,
    timestamp: header.timestamp,
    sizeField: header.sizeField,
    crc32: header.crc32,
    type,
    isAppender,
    isTrunk,
    isSlave,
    size: type === 'normal' ? nameSize : -1,
    nameSize,
  };
  if (isTrunk && len === TRUNK_LOGIC_LEN) {
    const locText = parsed.base.slice(HEADER_B64_LEN, HEADER_B64_LEN + TRUNK_LOC_B64_LEN);
    if (!isB64(locText)) return null;
    out.trunk = decodeTrunkLocation(decodeB64(locText));
  }
  return out;
}

/**
 * §11.11: a trunk-stored file's name is 60 characters long (as `Mxx/HH/HH/` + 50; C checks the 56
 * characters after `Mxx/`) and has the trunk flag in its size field. A longer name with the flag is a
 * slave of a trunk-stored master, a plain file.
 */
export function isTrunkLogicName(logicName: string): boolean {
  return decodeFileName(logicName)?.trunk !== undefined;
}

/**
 * Slave file name (§6.6): the master name up to the first '.' of its last 7 chars, then prefix,
 * then '.' + ext (ext used as is when it starts with '.', nothing when empty). Throws
 * an EINVAL FdfsError for an empty or invalid prefix, an invalid ext, prefix `-m` with no ext, or a
 * master shorter than 34 chars without its `Mxx/`.
 */
export function slaveFileName(masterLogicName: string, prefix: string, ext: string): string {
  if (!PREFIX_RE.test(prefix)) throw einval(`invalid slave prefix ${JSON.stringify(prefix)}`, masterLogicName);
  if (!isValidExt(ext)) throw einval(`invalid file extension: ${JSON.stringify(ext)}`);
  const pathPrefix = /^M[0-9A-Fa-f]{2}\//.test(masterLogicName) ? masterLogicName.slice(0, 4) : '';
  const master = masterLogicName.slice(pathPrefix.length);
  if (master.length < MIN_SLAVE_MASTER_LEN) throw einval('master file name too short', masterLogicName);
  const trueExt = ext === '' ? '' : ext.startsWith('.') ? ext : `.${ext}`;
  // `..md` (from `.` + `.md`) would make a name every later command refuses.
  if (trueExt.includes('..') || `${prefix}${trueExt}`.includes('..')) throw einval(`invalid file extension: ${JSON.stringify(ext)}`);
  // A bare `-m` suffix would collide with the metadata file naming (`<name>-m`).
  if (trueExt === '' && prefix === '-m') throw einval('slave prefix "-m" needs an extension', masterLogicName);
  const dot = master.indexOf('.', master.length - EXT7_LEN);
  const stem = dot < 0 ? master : master.slice(0, dot);
  return `${pathPrefix}${stem}${prefix}${trueExt}`;
}

/**
 * libfastcommon's PJWHash (§6.5) over the bytes of `text` (UTF-8 for strings). Result is in
 * 0..0x0FFFFFFF.
 */
export function pjwHash(text: string | Uint8Array): number {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let h = 0;
  for (let i = 0; i < bytes.length; i++) {
    h = ((h << 4) + bytes[i]!) | 0;
    const t = h & 0xf0000000;
    // `t >> 24` is the C arithmetic shift of a signed int: it smears the sign into bits 4..7.
    if (t !== 0) h = (h ^ (t >> 24)) & 0x0fffffff;
  }
  return h;
}

/**
 * Sub-directories in random mode (file_distribute_path_mode=1, §6.5), from the provisional
 * 27-char header text.
 */
export function randomSubdir(provisionalB64: string, subdirCount: number): { high: number; low: number } {
  const n = pjwHash(provisionalB64) % 65536;
  return { high: ((n >> 8) & 0xff) % subdirCount, low: (n & 0xff) % subdirCount };
}
