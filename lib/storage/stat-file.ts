import fs from 'node:fs/promises';
import { STAT_COUNTERS, emptyStorageStat, type StatCounter, type StorageStat } from '../protocol/records.ts';
import { writeFileAtomic } from './binlog.ts';

// storage_stat.dat (PROTOCOL.md §7.4): the StorageStat counters plus the round-robin sub-directory
// cursor of §6.5, as `key=value` lines.

/** Round-robin write cursor (file_distribute_path_mode = 0, §6.5). */
export interface DistCursor {
  high: number;
  low: number;
  /** Files written into the current pair since it became current. */
  count: number;
}

const DOWNLOAD_PAIR: readonly StatCounter[] = ['total_download_count', 'success_download_count'];
const FIRST_AFTER_TRUNCATE = STAT_COUNTERS.indexOf('total_set_meta_count');

/**
 * The key order 6.16.1 really writes (captures/README.md discrepancy 12; §7.4 describes the set,
 * not the order): the wire order of §1.3, except that the download pair follows the truncate pair
 * and is followed by the two timestamps; then the cursor.
 */
export const STAT_FILE_KEYS: readonly (StatCounter | 'last_source_update' | 'last_sync_update')[] = [
  ...STAT_COUNTERS.slice(0, FIRST_AFTER_TRUNCATE),
  ...DOWNLOAD_PAIR,
  'last_source_update', 'last_sync_update',
  ...STAT_COUNTERS.slice(FIRST_AFTER_TRUNCATE).filter((k) => !DOWNLOAD_PAIR.includes(k)),
];

export function formatStatFile(stat: StorageStat, dist: DistCursor): string {
  const lines: string[] = [];
  for (const k of STAT_FILE_KEYS) {
    const v = k === 'last_source_update' || k === 'last_sync_update' ? stat[k] : stat.counters[k];
    lines.push(`${k}=${Math.trunc(v)}`);
  }
  lines.push(`dist_path_index_high=${dist.high}`, `dist_path_index_low=${dist.low}`, `dist_write_file_count=${dist.count}`);
  return lines.join('\n') + '\n';
}

/** Parse storage_stat.dat; unknown keys and unparsable values are ignored (the file is ours). */
export function parseStatFile(text: string): { stat: StorageStat; dist: DistCursor } {
  const stat = emptyStorageStat();
  const dist: DistCursor = { high: 0, low: 0, count: 0 };
  const counters = new Set<string>(STAT_COUNTERS);
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = Number(line.slice(eq + 1).trim());
    if (!Number.isFinite(value)) continue;
    if (counters.has(key)) stat.counters[key as StatCounter] = value;
    else if (key === 'last_source_update' || key === 'last_sync_update') stat[key] = value;
    else if (key === 'dist_path_index_high') dist.high = value;
    else if (key === 'dist_path_index_low') dist.low = value;
    else if (key === 'dist_write_file_count') dist.count = value;
  }
  return { stat, dist };
}

/** null when the file does not exist yet (first start). */
export async function readStatFile(file: string): Promise<{ stat: StorageStat; dist: DistCursor } | null> {
  try {
    return parseStatFile(await fs.readFile(file, 'latin1'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function writeStatFile(file: string, stat: StorageStat, dist: DistCursor): Promise<void> {
  return writeFileAtomic(file, formatStatFile(stat, dist));
}
