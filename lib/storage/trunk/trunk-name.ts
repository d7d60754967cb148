import { FdfsError } from '../../protocol/errno.ts';
import {
  EXT7_LEN, buildLogicName, decodeFileName, makeSizeField, type FileSource,
} from '../../protocol/filename.ts';
import type { ExpectedSlot } from './slot-header.ts';
import { TRUNK_HEADER_LEN, type TrunkSlot } from './types.ts';

// Names of trunk-stored files (PROTOCOL.md §6.1, §6.3, §11.2 step 5, §11.11):
//   Mxx/HH/HH/ B64(20-byte header) B64(id, offset, slot size) EXT7  — 60 characters.

/** Everything a trunk name says about its file: where the slot is and what its header must hold. */
export interface TrunkFileName extends ExpectedSlot {
  logicName: string;
  /** Store path `Mxx`, directory `HH/HH` and the trunk location of the name. */
  slot: TrunkSlot;
  source: FileSource;
}

/**
 * §11.11: the slot a 60-character trunk-flagged name points at, or null for any other name (normal,
 * appender, slave — a slave of a trunk master too —, `-m` metadata files, malformed names).
 */
export function parseTrunkName(logicName: string): TrunkFileName | null {
  const d = decodeFileName(logicName);
  if (!d?.trunk) return null;
  return {
    logicName,
    slot: {
      storePathIndex: d.storePathIndex,
      subPathHigh: d.high,
      subPathLow: d.low,
      trunkId: d.trunk.id,
      offset: d.trunk.offset,
      size: d.trunk.slotSize,
    },
    source: d.source,
    slotSize: d.trunk.slotSize,
    fileSize: d.nameSize,
    crc32: d.crc32,
    timestamp: d.timestamp,
    ext7: logicName.slice(-EXT7_LEN),
  };
}

export interface TrunkNameRequest {
  source: FileSource;
  slot: TrunkSlot;
  fileSize: number;
  crc32: number;
  /** §11.2 step 5: the upload's start time, also the slot header's mtime. */
  timestamp: number;
  /** The same 7 characters as in the slot header. */
  ext7: string;
  /** 23 random bits of the size field (§6.3). */
  rand23: number;
}

/** Whether the content the name declares fits its slot after the header (never otherwise for our names). */
export function fitsSlot(name: TrunkFileName): boolean {
  return name.fileSize + TRUNK_HEADER_LEN <= name.slotSize;
}

/**
 * §11.2 step 5: size field = S with the trunk flag, location = B64(id, offset, slot size), `HH/HH` =
 * the trunk file's directory. Throws EINVAL when the content cannot fit the slot.
 */
export function buildTrunkName(r: TrunkNameRequest): string {
  if (r.fileSize + TRUNK_HEADER_LEN > r.slot.size) {
    throw new FdfsError('EINVAL', `${r.fileSize} bytes + ${TRUNK_HEADER_LEN} do not fit a slot of ${r.slot.size}`);
  }
  return buildLogicName({
    storePathIndex: r.slot.storePathIndex,
    high: r.slot.subPathHigh,
    low: r.slot.subPathLow,
    header: {
      source: r.source,
      timestamp: r.timestamp,
      sizeField: makeSizeField('trunk', r.fileSize, r.rand23),
      crc32: r.crc32,
    },
    trunk: { id: r.slot.trunkId, offset: r.slot.offset, slotSize: r.slot.size },
    ext7: r.ext7,
  });
}
