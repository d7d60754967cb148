import { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN } from '../../protocol/codes.ts';
import { fixed, readFixed } from '../../protocol/fields.ts';
import type { TrunkSlot } from './types.ts';

// Bodies of 27–29 (PROTOCOL.md §11.6): GROUP, then `i32 size` + `u8 store_path_index` (27) or the
// 15-byte trunk info `u8 path, u8 high, u8 low, i32 id, i32 offset, i32 size` (28, 29, 27's reply).

export const TRUNK_INFO_LEN = 15;
export const ALLOC_REQUEST_LEN = GROUP_NAME_LEN + 5;
export const SLOT_REQUEST_LEN = GROUP_NAME_LEN + TRUNK_INFO_LEN;

export function encodeTrunkInfo(s: TrunkSlot): Buffer {
  const b = Buffer.alloc(TRUNK_INFO_LEN);
  b[0] = s.storePathIndex & 0xff;
  b[1] = s.subPathHigh & 0xff;
  b[2] = s.subPathLow & 0xff;
  b.writeInt32BE(s.trunkId | 0, 3);
  b.writeInt32BE(s.offset | 0, 7);
  b.writeInt32BE(s.size | 0, 11);
  return b;
}

export function decodeTrunkInfo(b: Buffer, at = 0): TrunkSlot {
  return {
    storePathIndex: b[at]!,
    subPathHigh: b[at + 1]!,
    subPathLow: b[at + 2]!,
    trunkId: b.readInt32BE(at + 3),
    offset: b.readInt32BE(at + 7),
    size: b.readInt32BE(at + 11),
  };
}

export function encodeAllocRequest(group: string, size: number, storePathIndex: number): Buffer {
  const b = Buffer.alloc(ALLOC_REQUEST_LEN);
  fixed(group, GROUP_NAME_LEN).copy(b);
  b.writeInt32BE(size | 0, GROUP_NAME_LEN);
  b[GROUP_NAME_LEN + 4] = storePathIndex & 0xff;
  return b;
}

export function decodeAllocRequest(b: Buffer): { group: string; size: number; storePathIndex: number } {
  return { group: readFixed(b, 0, GROUP_NAME_LEN), size: b.readInt32BE(GROUP_NAME_LEN), storePathIndex: b[GROUP_NAME_LEN + 4]! };
}

export function encodeSlotRequest(group: string, s: TrunkSlot): Buffer {
  return Buffer.concat([fixed(group, GROUP_NAME_LEN), encodeTrunkInfo(s)]);
}

export function decodeSlotRequest(b: Buffer): { group: string; slot: TrunkSlot } {
  return { group: readFixed(b, 0, GROUP_NAME_LEN), slot: decodeTrunkInfo(b, GROUP_NAME_LEN) };
}
