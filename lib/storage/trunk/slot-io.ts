import { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { writeAll } from '../../util/write-all.ts';
import {
  SLOT_TYPE_FILE, checkSlotHeader, encodeSlotHeader, isSlotUnused, type ExpectedSlot, type SlotType,
} from './slot-header.ts';
import type { StorePaths } from '../store-paths.ts';
import { trunkFilePath } from './trunk-file.ts';
import type { TrunkFileName } from './trunk-name.ts';
import { TRUNK_HEADER_LEN, type TrunkSlot } from './types.ts';

// Reading and writing one slot of a trunk file (PROTOCOL.md §11.2 step 3, §11.4, §11.11). Every
// function takes the trunk file's path (trunk-file.ts) and the slot; none talks to the
// allocator. Headers and small contents use synchronous calls: 24 bytes cost less than a
// thread-pool round trip (the same trade as the plain engine's small-file writer).

/** What the name of a stored file needs from its slot: the §11.4 header fields. */
export interface SlotContent {
  /** Unsigned CRC-32 of the content. */
  crc32: number;
  /** Upload start time (unix s). */
  mtime: number;
  ext7: string;
  type?: SlotType;
}

const ZEROS = Buffer.alloc(256 * 1024);

function ioError(err: unknown, what: string, subject: string): FdfsError {
  if (err instanceof FdfsError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const name = code === 'ENOENT' || code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' ? code : 'EIO';
  return new FdfsError(name, `${what}: ${(err as Error).message}`, { subject, cause: err });
}

/** Reads until `buf` is full or the file ends; returns the bytes read. */
export function readFullySync(fd: number, buf: Buffer, position: number): number {
  let n = 0;
  while (n < buf.length) {
    const got = fsSync.readSync(fd, buf, n, buf.length - n, position + n);
    if (got === 0) break;
    n += got;
  }
  return n;
}

function writeFullySync(fd: number, buf: Buffer, position: number): void {
  let n = 0;
  while (n < buf.length) n += fsSync.writeSync(fd, buf, n, buf.length - n, position + n);
}

/** The 24 header bytes of a slot; fewer when the slot lies beyond the file's end. */
export function readSlotHeaderSync(file: string, slot: TrunkSlot): Buffer {
  const fd = fsSync.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(TRUNK_HEADER_LEN);
    return buf.subarray(0, readFullySync(fd, buf, slot.offset));
  } finally {
    fsSync.closeSync(fd);
  }
}

/**
 * §11.4 read check: the slot's type when its header is the one `expected` implies, else null (a
 * missing trunk file, a slot past its end, a free slot or another file's header all mean "no such
 * file"). Other I/O errors throw.
 */
export function checkSlotSync(file: string, slot: TrunkSlot, expected: ExpectedSlot): SlotType | null {
  let header: Buffer;
  try {
    header = readSlotHeaderSync(file, slot);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(err, `cannot read the slot header at ${slot.offset}`, file);
  }
  return checkSlotHeader(header, expected);
}

function headerFor(slot: TrunkSlot, size: number, c: SlotContent): Buffer {
  return encodeSlotHeader({ type: c.type ?? SLOT_TYPE_FILE, allocSize: slot.size, fileSize: size, crc32: c.crc32, mtime: c.mtime, ext7: c.ext7 });
}

function checkFits(file: string, slot: TrunkSlot, size: number): void {
  if (size + TRUNK_HEADER_LEN > slot.size) {
    throw new FdfsError('EINVAL', `${size} bytes + ${TRUNK_HEADER_LEN} do not fit the slot of ${slot.size} at ${slot.offset}`, { subject: file });
  }
}

export interface SlotWriteOptions {
  /** §11.2 step 2: refuse with EEXIST unless the slot is unused (§11.4). Sync receivers skip it (§11.11). */
  checkUnused: boolean;
  /** Called after each disk write of a streamed content with the bytes it wrote. */
  onWritten?: (n: number) => void;
}

function openForWrite(file: string): number {
  try {
    return fsSync.openSync(file, 'r+');
  } catch (err) {
    throw ioError(err, 'cannot open trunk file', file);
  }
}

function occupied(file: string, slot: TrunkSlot): FdfsError {
  return new FdfsError('EEXIST', `trunk slot at ${slot.offset} (size ${slot.size}) is already occupied`, { subject: file });
}

/**
 * §11.2 step 3, first half, for a content already in memory: the content at offset + 24. The slot
 * stays unused (§11.4) until {@link writeHeaderSync}, so a crash in between leaves nothing a read
 * check accepts. EEXIST when `checkUnused` and the slot holds a header.
 */
export function writeContentSync(file: string, slot: TrunkSlot, content: Buffer, opts: SlotWriteOptions): void {
  checkFits(file, slot, content.length);
  const fd = openForWrite(file);
  try {
    if (opts.checkUnused) {
      const header = Buffer.alloc(TRUNK_HEADER_LEN);
      readFullySync(fd, header, slot.offset);
      if (!isSlotUnused(header)) throw occupied(file, slot);
    }
    writeFullySync(fd, content, slot.offset + TRUNK_HEADER_LEN);
  } catch (err) {
    throw ioError(err, `cannot write the slot at ${slot.offset}`, file);
  } finally {
    fsSync.closeSync(fd);
  }
}

/** §11.2 step 3, second half: the 24-byte header that makes `size` content bytes a file. */
export function writeHeaderSync(file: string, slot: TrunkSlot, size: number, c: SlotContent): void {
  checkFits(file, slot, size);
  const fd = openForWrite(file);
  try {
    writeFullySync(fd, headerFor(slot, size, c), slot.offset);
  } catch (err) {
    throw ioError(err, `cannot write the slot header at ${slot.offset}`, file);
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Content then header (a replica, §11.11, or a test's fixture). */
export function writeSlotSync(file: string, slot: TrunkSlot, content: Buffer, c: SlotContent, opts: SlotWriteOptions): void {
  writeContentSync(file, slot, content, opts);
  writeHeaderSync(file, slot, content.length, c);
}

/**
 * §11.2 step 3, first half, for a streamed content of `size` bytes: each chunk is written (awaited,
 * so a slow disk slows the sender) at offset + 24 and folded into the CRC. A source that ends early
 * or fails makes us zero the slot (§11.2 step 4) and rethrow. Returns the content's CRC-32.
 */
export async function writeContentStream(
  file: string, slot: TrunkSlot, size: number, source: AsyncIterable<Buffer>, opts: SlotWriteOptions,
): Promise<number> {
  checkFits(file, slot, size);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r+');
  } catch (err) {
    throw ioError(err, 'cannot open trunk file', file);
  }
  let written = 0;
  try {
    if (opts.checkUnused) {
      const header = Buffer.alloc(TRUNK_HEADER_LEN);
      await fh.read(header, 0, TRUNK_HEADER_LEN, slot.offset);
      if (!isSlotUnused(header)) throw occupied(file, slot);
    }
    const crc = new Crc32();
    try {
      for await (const chunk of source) {
        if (written + chunk.length > size) throw new FdfsError('EINVAL', `content longer than the declared ${size} bytes`, { subject: file });
        crc.update(chunk);
        await writeAll(fh, [chunk], slot.offset + TRUNK_HEADER_LEN + written);
        written += chunk.length;
        opts.onWritten?.(chunk.length);
      }
      if (written !== size) throw new FdfsError('EINVAL', `content ended after ${written} of ${size} bytes`, { subject: file });
      return crc.digest();
    } catch (err) {
      // Nothing of ours may stay in a slot the allocator will hand out again.
      if (written > 0) await zeroRange(fh, slot).catch(() => {});
      throw err;
    }
  } catch (err) {
    throw ioError(err, `cannot write the slot at ${slot.offset}`, file);
  } finally {
    await fh.close();
  }
}

async function zeroRange(fh: fs.FileHandle, slot: TrunkSlot): Promise<void> {
  for (let done = 0; done < slot.size;) {
    const n = Math.min(ZEROS.length, slot.size - done);
    await writeAll(fh, [ZEROS.subarray(0, n)], slot.offset + done);
    done += n;
  }
}

/** §11.4, §11.11: a deleted slot is zeroed over its whole size, header included. */
export async function zeroSlot(file: string, slot: TrunkSlot): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r+');
  } catch (err) {
    throw ioError(err, 'cannot open trunk file', file);
  }
  try {
    await zeroRange(fh, slot);
  } catch (err) {
    throw ioError(err, `cannot zero the slot at ${slot.offset}`, file);
  } finally {
    await fh.close();
  }
}

/**
 * §11.11 download: `length` content bytes from content offset `start` (both relative to the content,
 * which begins at slot offset + 24). The caller did the read check and the range check.
 */
export function slotReadStream(file: string, slot: TrunkSlot, start: number, length: number, highWaterMark?: number): Readable {
  if (length <= 0) return Readable.from([]);
  const from = slot.offset + TRUNK_HEADER_LEN + start;
  return fsSync.createReadStream(file, { start: from, end: from + length - 1, highWaterMark });
}

/** The content of a small slot in one piece (a link slot's target name, a test's check). */
export function readSlotContentSync(file: string, slot: TrunkSlot, size: number): Buffer {
  const fd = fsSync.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size);
    const n = readFullySync(fd, buf, slot.offset + TRUNK_HEADER_LEN);
    if (n !== size) throw new FdfsError('EIO', `trunk file ends inside the slot at ${slot.offset}`, { subject: file });
    return buf;
  } finally {
    fsSync.closeSync(fd);
  }
}


/**
 * Where the content of a trunk-stored name lies in its trunk file, for readers that take a file
 * range (the sync sender, HTTP): after the §11.4 read check, and only for a regular (`F`) slot —
 * an `L` slot's content is a logic name, followed by the storage engine, not sent as bytes. Null
 * when this member has no such file.
 */
export function trunkContentRange(storePaths: StorePaths, name: TrunkFileName): { file: string; offset: number; size: number } | null {
  if (name.slot.storePathIndex >= storePaths.count) return null;
  const file = trunkFilePath(storePaths, name.slot);
  if (checkSlotSync(file, name.slot, name) !== SLOT_TYPE_FILE) return null;
  return { file, offset: name.slot.offset + TRUNK_HEADER_LEN, size: name.fileSize };
}
