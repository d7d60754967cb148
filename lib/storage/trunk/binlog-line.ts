import type { TrunkSlot } from './types.ts';

// One line of the trunk binlog and of storage_trunk.dat (PROTOCOL.md §11.7):
// `<ts> <op> <store_path_index> <sub_path_high> <sub_path_low> <trunk_id> <offset> <size>\n`.

/** `A`: the block becomes free; `D`: the block stops being free. */
export type TrunkOp = 'A' | 'D';

export interface TrunkRecord {
  timestamp: number;
  op: TrunkOp;
  slot: TrunkSlot;
}

export function formatTrunkLine(timestamp: number, op: TrunkOp, s: TrunkSlot): string {
  return `${timestamp} ${op} ${s.storePathIndex} ${s.subPathHigh} ${s.subPathLow} ${s.trunkId} ${s.offset} ${s.size}\n`;
}

const INT = /^-?\d+$/;

/**
 * A line without its `\n`, or null when it is not a record (fewer than 8 fields, a bad number, an
 * unknown op): loading skips such lines (§11.7). `legacy` also accepts the 6-field snapshot form
 * `path high low id offset size` of versions < 5.01 (read as `A`).
 */
export function parseTrunkLine(line: string, legacy = false): TrunkRecord | null {
  const f = line.trim().split(/\s+/);
  let ts = 0;
  let op: string = 'A';
  let nums: string[];
  if (f.length >= 8) {
    ts = Number(f[0]);
    op = f[1]!;
    nums = f.slice(2, 8);
    if (!INT.test(f[0]!)) return null;
  } else if (legacy && f.length === 6) {
    nums = f;
  } else {
    return null;
  }
  if (op !== 'A' && op !== 'D') return null;
  if (!nums.every((n) => INT.test(n))) return null;
  const [p, h, l, id, off, size] = nums.map(Number) as [number, number, number, number, number, number];
  return { timestamp: ts, op, slot: { storePathIndex: p, subPathHigh: h, subPathLow: l, trunkId: id, offset: off, size } };
}

/** The identity of a block (exact match of all six fields, as replay and 28 compare them). */
export function slotKey(s: TrunkSlot): string {
  return `${s.storePathIndex}/${s.subPathHigh}/${s.subPathLow}/${s.trunkId}/${s.offset}/${s.size}`;
}

export function sameSlot(a: TrunkSlot, b: TrunkSlot): boolean {
  return a.storePathIndex === b.storePathIndex && a.subPathHigh === b.subPathHigh && a.subPathLow === b.subPathLow
    && a.trunkId === b.trunkId && a.offset === b.offset && a.size === b.size;
}
