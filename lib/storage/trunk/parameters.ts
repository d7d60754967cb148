import { parseBool, parseBytes, parseTimeOfDay, type TimeOfDay } from '../../config/values.ts';
import type { TrunkParameters } from './types.ts';

// The trunk settings of the tracker's 75 reply (PROTOCOL.md §4.2, §11.1). Storages take the
// tracker's values, never their own conf; the tracker already applied the §11.1 adjustments.

const MB = 1024 * 1024;

function bool(v: string | undefined, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  try { return parseBool(v); } catch { return fallback; }
}

function bytes(v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  try { return parseBytes(v); } catch { return fallback; }
}

function int(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) ? n : fallback;
}

function time(v: string | undefined, fallback: TimeOfDay): TimeOfDay {
  if (v === undefined) return fallback;
  try { return parseTimeOfDay(v); } catch { return fallback; }
}

/** The trunk parameters, or undefined when use_trunk_file is off (or absent). */
export function parseTrunkParameters(p: ReadonlyMap<string, string>): TrunkParameters | undefined {
  if (!bool(p.get('use_trunk_file'), false)) return undefined;
  const trunkFileSize = Math.max(4 * MB, bytes(p.get('trunk_file_size'), 64 * MB));
  const allocAlignmentSize = Math.max(0, bytes(p.get('trunk_alloc_alignment_size'), 0));
  // §11.1: the same bounds the tracker applies, in case an older tracker did not.
  let slotMinSize = Math.min(64 * 1024, Math.max(1, bytes(p.get('slot_min_size'), 256)));
  if (slotMinSize < allocAlignmentSize) slotMinSize = allocAlignmentSize;
  const slotMaxSize = Math.min(Math.floor(trunkFileSize / 2), bytes(p.get('slot_max_size'), Math.floor(trunkFileSize / 8)));
  return {
    slotMinSize,
    slotMaxSize,
    trunkFileSize,
    allocAlignmentSize,
    freeSpaceMerge: bool(p.get('trunk_free_space_merge'), false),
    deleteUnusedTrunkFiles: bool(p.get('delete_unused_trunk_files'), false),
    createFileAdvance: bool(p.get('trunk_create_file_advance'), false),
    createFileTimeBase: time(p.get('trunk_create_file_time_base'), { hour: 2, minute: 0 }),
    createFileInterval: int(p.get('trunk_create_file_interval'), 86400),
    createFileSpaceThreshold: bytes(p.get('trunk_create_file_space_threshold'), 0),
    initCheckOccupying: bool(p.get('trunk_init_check_occupying'), false),
    initReloadFromBinlog: bool(p.get('trunk_init_reload_from_binlog'), false),
    compressBinlogMinInterval: int(p.get('trunk_compress_binlog_min_interval'), 0),
    compressBinlogInterval: int(p.get('trunk_compress_binlog_interval'), 0),
    compressBinlogTimeBase: time(p.get('trunk_compress_binlog_time_base'), { hour: 3, minute: 0 }),
    binlogMaxBackups: int(p.get('trunk_binlog_max_backups'), 0),
  };
}
