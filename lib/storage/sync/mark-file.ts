import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../binlog.ts';

// Per-peer sync mark files (PROTOCOL.md §5.9): `<base_path>/data/sync/<peer_id>.mark` with storage
// ids, `<peer_ip>_<own_port>.mark` without. INI text in the C key order, so a C storage taking over
// our base path (or the other way round) continues where the other stopped.

export interface SyncMark {
  /** binlog.NNN holding the next unsent line. */
  binlogIndex: number;
  /** Byte offset of the next unsent line in that file. */
  binlogOffset: number;
  /** This storage copies the peer's old data (it is the peer's sync source, §4.9). */
  needSyncOld: boolean;
  /** That copy is finished (the reader reached the end of the binlog once). */
  syncOldDone: boolean;
  /** Lower-case records up to this timestamp belong to the old-data copy (§5.7). */
  untilTimestamp: number;
  scanRowCount: number;
  syncRowCount: number;
}

export function newMark(): SyncMark {
  return { binlogIndex: 0, binlogOffset: 0, needSyncOld: false, syncOldDone: false, untilTimestamp: 0, scanRowCount: 0, syncRowCount: 0 };
}

/** File name of the mark for a peer (§5.9). */
export function markFileName(peer: { id: string; ip: string }, useStorageId: boolean, ownPort: number): string {
  return useStorageId ? `${peer.id}.mark` : `${peer.ip}_${ownPort}.mark`;
}

export function formatMark(m: SyncMark): string {
  return [
    `binlog_index=${m.binlogIndex}`,
    `binlog_offset=${m.binlogOffset}`,
    `need_sync_old=${m.needSyncOld ? 1 : 0}`,
    `sync_old_done=${m.syncOldDone ? 1 : 0}`,
    `until_timestamp=${m.untilTimestamp}`,
    `scan_row_count=${m.scanRowCount}`,
    `sync_row_count=${m.syncRowCount}`,
  ].join('\n') + '\n';
}

export function parseMark(text: string): SyncMark {
  const kv = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const num = (k: string): number => {
    const n = Number(kv.get(k) ?? 0);
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  };
  return {
    binlogIndex: num('binlog_index'),
    binlogOffset: num('binlog_offset'),
    needSyncOld: num('need_sync_old') !== 0,
    syncOldDone: num('sync_old_done') !== 0,
    untilTimestamp: num('until_timestamp'),
    scanRowCount: num('scan_row_count'),
    syncRowCount: num('sync_row_count'),
  };
}

export async function readMark(file: string): Promise<SyncMark | null> {
  try {
    return parseMark(await fs.readFile(file, 'latin1'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function writeMark(file: string, m: SyncMark): Promise<void> {
  // No fsync: a mark that is a little behind only makes the next session re-push records, which
  // the receivers' EEXIST/ENOENT rules make harmless (§5.10).
  return writeFileAtomic(file, formatMark(m), false);
}

/** `YYYYmmddHHMMSS` in local time, the suffix of a mark renamed aside (§5.9). */
export function markAsideSuffix(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * §5.9: the mark of a deleted peer is renamed to `<mark>.YYYYmmddHHMMSS`, so a storage that later
 * re-joins under the same id gets a full copy again. Returns the new name, or null without a mark.
 */
export async function renameMarkAside(file: string, d = new Date()): Promise<string | null> {
  const aside = `${file}.${markAsideSuffix(d)}`;
  try {
    await fs.rename(file, aside);
    return path.basename(aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
