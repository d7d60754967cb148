import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import { writeFileAtomic } from '../binlog.ts';
import path from 'node:path';
import { formatTrunkLine, parseTrunkLine } from './binlog-line.ts';
import type { TrunkSlot } from './types.ts';

// `<base_path>/data/storage_trunk.dat` (PROTOCOL.md §11.7, §11.10): line 1 = the trunk binlog size
// at snapshot time, then one `A` line per free block.

export const SNAPSHOT_FILE = 'storage_trunk.dat';

export function snapshotPath(dataDir: string): string {
  return path.join(dataDir, SNAPSHOT_FILE);
}

export interface Snapshot {
  /** Trunk binlog bytes the snapshot already contains. */
  binlogOffset: number;
  blocks: TrunkSlot[];
  /** Lines that are not records (skipped, §11.7). */
  skipped: number;
}

export function formatSnapshot(binlogOffset: number, blocks: readonly TrunkSlot[], now: number): string {
  let text = `${binlogOffset}\n`;
  for (const b of blocks) text += formatTrunkLine(now, 'A', b);
  return text;
}

export function parseSnapshot(text: string): Snapshot {
  const lines = text.split('\n');
  const first = (lines.shift() ?? '').trim();
  const binlogOffset = /^\d+$/.test(first) ? Number(first) : 0;
  const blocks: TrunkSlot[] = [];
  let skipped = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    // The 6-field form of versions < 5.01 is accepted too.
    const r = parseTrunkLine(line, true);
    if (r && r.op === 'A') blocks.push(r.slot);
    else skipped++;
  }
  return { binlogOffset, blocks, skipped };
}

export async function readSnapshot(file: string): Promise<Snapshot | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseSnapshot(text);
}

/**
 * Temp name then rename, fsync'ed (writeFileAtomic): a crash leaves the old snapshot or the new one,
 * and the start-up sweep of state temp files removes a half-written one. C names its temp file
 * `.storage_trunk.dat.tmp`; the name is private to the storage.
 */
export function writeSnapshot(file: string, binlogOffset: number, blocks: readonly TrunkSlot[], now = Math.floor(Date.now() / 1000)): Promise<void> {
  return writeFileAtomic(file, Buffer.from(formatSnapshot(binlogOffset, blocks, now), 'latin1'));
}
