import { Buffer } from 'node:buffer';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { FdfsError } from '../../protocol/errno.ts';
import type { Logger } from '../../util/log.ts';
import type { StorePaths } from '../store-paths.ts';
import { describe, type TrunkAllocator } from './allocator.ts';
import { parseTrunkLine, slotKey } from './binlog-line.ts';
import { readSnapshot } from './snapshot.ts';
import { trunkFilePath } from './trunk-file.ts';
import { TRUNK_HEADER_LEN, type TrunkParameters, type TrunkSlot } from './types.ts';

// Loading the allocator when a storage becomes trunk server (PROTOCOL.md §11.7, C
// storage_trunk_load / storage_trunk_restore): a full replay of the trunk binlog, or the snapshot
// plus the binlog from the snapshot's offset.

export interface LoadOptions {
  allocator: TrunkAllocator;
  params: Pick<TrunkParameters, 'slotMinSize' | 'initCheckOccupying' | 'initReloadFromBinlog'>;
  binlogFile: string;
  snapshotFile: string;
  storePaths: StorePaths;
  log: Logger;
}

export interface LoadResult {
  mode: 'full' | 'snapshot';
  /** Binlog records applied. */
  replayed: number;
  /** The snapshot's offset lies beyond the binlog end: only the snapshot is rewritten (§11.7). */
  offsetBeyondEnd: boolean;
}

/** Each line of `file` from byte `start`, as text without `\n`. */
async function* lines(file: string, start: number): AsyncGenerator<string> {
  let stream;
  try {
    await fs.access(file);
    stream = createReadStream(file, { start, encoding: 'latin1' });
  } catch {
    return;
  }
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    stream.destroy();
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
}

function checkPath(o: LoadOptions, s: TrunkSlot, where: string): void {
  if (s.storePathIndex < 0 || s.storePathIndex >= o.storePaths.count) {
    // §11.7: loading fails; the storage cannot serve 27–29.
    throw new FdfsError('EINVAL', `${where}: trunk block on store path ${s.storePathIndex}, which does not exist`);
  }
}

/** §11.4 unused test: a slot whose header bytes 9–23 are not all zero is in use. */
export async function slotInUse(storePaths: StorePaths, s: TrunkSlot): Promise<boolean> {
  let fh;
  try {
    fh = await fs.open(trunkFilePath(storePaths, s), 'r');
  } catch {
    return false;
  }
  try {
    const b = Buffer.alloc(TRUNK_HEADER_LEN);
    const { bytesRead } = await fh.read(b, 0, TRUNK_HEADER_LEN, s.offset);
    for (let i = 9; i < bytesRead; i++) if (b[i] !== 0) return true;
    return false;
  } finally {
    await fh.close();
  }
}

export async function loadAllocator(o: LoadOptions): Promise<LoadResult> {
  const snapshot = o.params.initReloadFromBinlog ? null : await readSnapshot(o.snapshotFile);
  if (o.params.initReloadFromBinlog) await fs.rm(o.snapshotFile, { force: true });
  if (!snapshot) return { mode: 'full', replayed: await fullReplay(o), offsetBeyondEnd: false };

  const a = o.allocator;
  for (const s of snapshot.blocks) {
    checkPath(o, s, o.snapshotFile);
    if (o.params.initCheckOccupying && await slotInUse(o.storePaths, s)) {
      o.log('warn', `trunk snapshot block ${describe(s)} is in use on disk: skipped`);
      continue;
    }
    try {
      a.add(s);
    } catch (err) {
      o.log('warn', `trunk snapshot block ${describe(s)}: ${(err as Error).message}`);
    }
  }
  const end = await fileSize(o.binlogFile);
  if (snapshot.binlogOffset > end) {
    o.log('warn', `trunk snapshot offset ${snapshot.binlogOffset} lies beyond the binlog end ${end}`);
    return { mode: 'snapshot', replayed: 0, offsetBeyondEnd: true };
  }
  let replayed = 0;
  for await (const line of lines(o.binlogFile, snapshot.binlogOffset)) {
    const r = parseTrunkLine(line);
    if (!r) continue;
    checkPath(o, r.slot, o.binlogFile);
    replayed++;
    if (r.op === 'A') {
      if (r.slot.size < o.params.slotMinSize) continue;
      try { a.add(r.slot); } catch { /* §11.7: overlaps are ignored */ }
    } else {
      a.remove(r.slot);
    }
  }
  return { mode: 'snapshot', replayed, offsetBeyondEnd: false };
}

/** §11.7 full replay: exact-match A/D over the whole binlog, then every block ≥ slot_min_size is free. */
async function fullReplay(o: LoadOptions): Promise<number> {
  const blocks = new Map<string, TrunkSlot>();
  let replayed = 0;
  let duplicates = 0;
  let misses = 0;
  for await (const line of lines(o.binlogFile, 0)) {
    const r = parseTrunkLine(line);
    if (!r) continue;
    checkPath(o, r.slot, o.binlogFile);
    replayed++;
    const key = slotKey(r.slot);
    if (r.op === 'A') {
      if (blocks.has(key)) duplicates++;
      else blocks.set(key, r.slot);
    } else if (!blocks.delete(key)) {
      misses++;
    }
  }
  if (duplicates || misses) o.log('debug', `trunk binlog replay: ${duplicates} duplicate A, ${misses} D without block`);
  for (const s of blocks.values()) {
    if (s.size < o.params.slotMinSize) continue;
    try {
      o.allocator.add(s);
    } catch (err) {
      o.log('warn', `trunk binlog block ${describe(s)}: ${(err as Error).message}`);
    }
  }
  return replayed;
}
