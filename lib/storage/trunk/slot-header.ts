import { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import { EXT7_LEN } from '../../protocol/filename.ts';
import { TRUNK_HEADER_LEN } from './types.ts';

// The 24-byte header at the start of every trunk slot (PROTOCOL.md §11.4), all integers big-endian:
//   0 u8 type | 1 i32 alloc_size | 5 i32 file_size | 9 i32 crc32 | 13 i32 mtime | 17 char[7] EXT7

/** `F`: a regular file's content follows the header. */
export const SLOT_TYPE_FILE = 0x46;
/** `L`: the content is a logic file name (CREATE_LINK into a trunk, §3.12). */
export const SLOT_TYPE_LINK = 0x4c;
/** A free or deleted slot. */
export const SLOT_TYPE_NONE = 0;

export type SlotType = typeof SLOT_TYPE_FILE | typeof SLOT_TYPE_LINK;

export interface SlotHeader {
  type: number;
  /** Slot size, header included (the slot size of the name's trunk location). */
  allocSize: number;
  /** Content bytes after the header. */
  fileSize: number;
  /** Unsigned CRC-32 of the content. */
  crc32: number;
  /** Unix seconds: the upload's start time, the timestamp of the name (§11.2 step 5). */
  mtime: number;
  /** The name's last 7 characters (§6.5). */
  ext7: string;
}

const OFF_ALLOC = 1;
const OFF_FILE_SIZE = 5;
const OFF_CRC = 9;
const OFF_MTIME = 13;
const OFF_EXT = 17;

export function encodeSlotHeader(h: SlotHeader): Buffer {
  if (h.ext7.length !== EXT7_LEN) throw new FdfsError('EINVAL', `slot header EXT7 must be ${EXT7_LEN} characters: ${JSON.stringify(h.ext7)}`);
  const buf = Buffer.alloc(TRUNK_HEADER_LEN);
  buf[0] = h.type & 0xff;
  // C packs these as signed ints; >>> 0 writes the same four bytes for every value.
  buf.writeUInt32BE(h.allocSize >>> 0, OFF_ALLOC);
  buf.writeUInt32BE(h.fileSize >>> 0, OFF_FILE_SIZE);
  buf.writeUInt32BE(h.crc32 >>> 0, OFF_CRC);
  buf.writeUInt32BE(h.mtime >>> 0, OFF_MTIME);
  buf.write(h.ext7, OFF_EXT, EXT7_LEN, 'latin1');
  return buf;
}

export function decodeSlotHeader(buf: Uint8Array): SlotHeader {
  if (buf.length < TRUNK_HEADER_LEN) throw new FdfsError('EINVAL', `slot header needs ${TRUNK_HEADER_LEN} bytes, got ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, TRUNK_HEADER_LEN);
  return {
    type: b[0]!,
    allocSize: b.readUInt32BE(OFF_ALLOC),
    fileSize: b.readUInt32BE(OFF_FILE_SIZE),
    crc32: b.readUInt32BE(OFF_CRC),
    mtime: b.readUInt32BE(OFF_MTIME),
    ext7: b.toString('latin1', OFF_EXT, OFF_EXT + EXT7_LEN),
  };
}

/**
 * §11.4 unused test (`dio_check_trunk_file_ex`), before an upload writes into a slot: usable when
 * bytes 9–23 are zero. Type, alloc_size and file_size are ignored, so a slot whose header write was
 * cut after the first 9 bytes is still reusable.
 */
export function isSlotUnused(header: Uint8Array): boolean {
  if (header.length < TRUNK_HEADER_LEN) return true;
  for (let i = OFF_CRC; i < TRUNK_HEADER_LEN; i++) if (header[i] !== 0) return false;
  return true;
}

/** What a trunk name says its slot header holds (§11.4 read check: everything but the type). */
export interface ExpectedSlot {
  slotSize: number;
  fileSize: number;
  crc32: number;
  timestamp: number;
  ext7: string;
}

/**
 * §11.4 read check (`trunk_file_do_lstat_func_ex`): the header the name implies, with the type read
 * from disk, must equal the 24 bytes on disk. Returns the type (`F` or `L`), or null when the slot
 * holds no file of that name (type 0 or unknown, any differing byte) — the caller's ENOENT.
 */
export function checkSlotHeader(disk: Uint8Array, expected: ExpectedSlot): SlotType | null {
  if (disk.length < TRUNK_HEADER_LEN) return null;
  const type = disk[0]!;
  if (type !== SLOT_TYPE_FILE && type !== SLOT_TYPE_LINK) return null;
  const want = encodeSlotHeader({
    type,
    allocSize: expected.slotSize,
    fileSize: expected.fileSize,
    crc32: expected.crc32,
    mtime: expected.timestamp,
    ext7: expected.ext7,
  });
  return Buffer.compare(want, Buffer.from(disk.buffer, disk.byteOffset, TRUNK_HEADER_LEN)) === 0 ? type : null;
}
