import { Buffer } from 'node:buffer';
import { FieldReader, FieldWriter } from './fields.ts';
import { GROUP_NAME_LEN, IP46_LEN, STORAGE_ID_LEN, VERSION_LEN } from './codes.ts';

// Shared fixed records (PROTOCOL.md §1.3, §2.5, §2.6).

// ---- StorageBrief (67 bytes) ----
export const STORAGE_BRIEF_LEN = 67;

export interface StorageBrief {
  status: number;
  port: number;
  id: string;
  ip: string;
}

export function encodeStorageBrief(b: StorageBrief, w = new FieldWriter(STORAGE_BRIEF_LEN)): Buffer {
  w.u8(b.status).i32(b.port).str(b.id, STORAGE_ID_LEN).str(b.ip, IP46_LEN);
  return w.buf;
}

export function decodeStorageBrief(r: FieldReader): StorageBrief {
  return { status: r.u8(), port: r.i32(), id: r.str(STORAGE_ID_LEN), ip: r.str(IP46_LEN) };
}

// ---- StorageStat counters block (348 bytes) ----
export const STORAGE_STAT_LEN = 348;

/** The 38 i64 counters in wire order (§1.3). */
export const STAT_COUNTERS = [
  'total_upload_count', 'success_upload_count',
  'total_append_count', 'success_append_count',
  'total_modify_count', 'success_modify_count',
  'total_truncate_count', 'success_truncate_count',
  'total_set_meta_count', 'success_set_meta_count',
  'total_delete_count', 'success_delete_count',
  'total_download_count', 'success_download_count',
  'total_get_meta_count', 'success_get_meta_count',
  'total_create_link_count', 'success_create_link_count',
  'total_delete_link_count', 'success_delete_link_count',
  'total_upload_bytes', 'success_upload_bytes',
  'total_append_bytes', 'success_append_bytes',
  'total_modify_bytes', 'success_modify_bytes',
  'total_download_bytes', 'success_download_bytes',
  'total_sync_in_bytes', 'success_sync_in_bytes',
  'total_sync_out_bytes', 'success_sync_out_bytes',
  'total_file_open_count', 'success_file_open_count',
  'total_file_read_count', 'success_file_read_count',
  'total_file_write_count', 'success_file_write_count',
] as const;

export type StatCounter = (typeof STAT_COUNTERS)[number];

export interface StorageStat {
  connection: { alloc_count: number; current_count: number; max_count: number };
  counters: Record<StatCounter, number>;
  last_source_update: number;
  last_sync_update: number;
  last_synced_timestamp: number;
  last_heart_beat_time: number;
}

export function emptyCounters(): Record<StatCounter, number> {
  const c = {} as Record<StatCounter, number>;
  for (const k of STAT_COUNTERS) c[k] = 0;
  return c;
}

export function emptyStorageStat(): StorageStat {
  return {
    connection: { alloc_count: 0, current_count: 0, max_count: 0 },
    counters: emptyCounters(),
    last_source_update: 0,
    last_sync_update: 0,
    last_synced_timestamp: 0,
    last_heart_beat_time: 0,
  };
}

export function writeStorageStat(w: FieldWriter, s: StorageStat): void {
  w.i32(s.connection.alloc_count).i32(s.connection.current_count).i32(s.connection.max_count);
  for (const k of STAT_COUNTERS) w.i64(s.counters[k]);
  w.i64(s.last_source_update).i64(s.last_sync_update).i64(s.last_synced_timestamp).i64(s.last_heart_beat_time);
}

export function encodeStorageStat(s: StorageStat): Buffer {
  const w = new FieldWriter(STORAGE_STAT_LEN);
  writeStorageStat(w, s);
  return w.buf;
}

export function decodeStorageStat(r: FieldReader): StorageStat {
  const connection = { alloc_count: r.i32(), current_count: r.i32(), max_count: r.i32() };
  const counters = {} as Record<StatCounter, number>;
  for (const k of STAT_COUNTERS) counters[k] = r.i64();
  return {
    connection,
    counters,
    last_source_update: r.i64(),
    last_sync_update: r.i64(),
    last_synced_timestamp: r.i64(),
    last_heart_beat_time: r.i64(),
  };
}

// ---- GroupStat (113 bytes, §2.5) ----
export const GROUP_STAT_LEN = 113;

export interface GroupStat {
  group_name: string;
  total_mb: number;
  free_mb: number;
  reserved_mb: number;
  trunk_free_mb: number;
  storage_count: number;
  storage_port: number;
  readable_server_count: number;
  writable_server_count: number;
  current_write_server: number;
  store_path_count: number;
  subdir_count_per_path: number;
  current_trunk_file_id: number;
}

export function encodeGroupStat(g: GroupStat, w = new FieldWriter(GROUP_STAT_LEN)): Buffer {
  w.str(g.group_name, GROUP_NAME_LEN + 1)
    .i64(g.total_mb).i64(g.free_mb).i64(g.reserved_mb).i64(g.trunk_free_mb)
    .i64(g.storage_count).i64(g.storage_port).i64(g.readable_server_count)
    .i64(g.writable_server_count).i64(g.current_write_server).i64(g.store_path_count)
    .i64(g.subdir_count_per_path).i64(g.current_trunk_file_id);
  return w.buf;
}

export function decodeGroupStat(r: FieldReader): GroupStat {
  return {
    group_name: r.str(GROUP_NAME_LEN + 1),
    total_mb: r.i64(), free_mb: r.i64(), reserved_mb: r.i64(), trunk_free_mb: r.i64(),
    storage_count: r.i64(), storage_port: r.i64(), readable_server_count: r.i64(),
    writable_server_count: r.i64(), current_write_server: r.i64(), store_path_count: r.i64(),
    subdir_count_per_path: r.i64(), current_trunk_file_id: r.i64(),
  };
}

export function decodeGroupStats(body: Buffer): GroupStat[] {
  if (body.length % GROUP_STAT_LEN !== 0) throw new RangeError(`group stat body ${body.length} is not a multiple of ${GROUP_STAT_LEN}`);
  const r = new FieldReader(body);
  const out: GroupStat[] = [];
  while (r.remaining > 0) out.push(decodeGroupStat(r));
  return out;
}

// ---- StorageStatRecord (487 or 517 bytes, §2.6) ----
export const RW_MODE = { NONE: 0, WRITE: 2, READ: 4, BOTH: 6 } as const;

export interface StorageStatRecord {
  status: number;
  rw_mode: number;
  id: string;
  ip_addr: string;
  src_id: string;
  version: string;
  join_time: number;
  up_time: number;
  total_mb: number;
  free_mb: number;
  reserved_mb: number;
  upload_priority: number;
  store_path_count: number;
  subdir_count_per_path: number;
  current_write_path: number;
  storage_port: number;
  stat: StorageStat;
  if_trunk_server: boolean;
}

export function storageStatRecordLen(ips: number): number {
  return 1 + 1 + STORAGE_ID_LEN + ips + STORAGE_ID_LEN + VERSION_LEN + 8 * 10 + STORAGE_STAT_LEN + 1;
}

export function encodeStorageStatRecord(s: StorageStatRecord, ips: number): Buffer {
  const w = new FieldWriter(storageStatRecordLen(ips));
  w.u8(s.status).u8(s.rw_mode).str(s.id, STORAGE_ID_LEN).str(s.ip_addr, ips).str(s.src_id, STORAGE_ID_LEN)
    .str(s.version, VERSION_LEN).i64(s.join_time).i64(s.up_time).i64(s.total_mb).i64(s.free_mb)
    .i64(s.reserved_mb).i64(s.upload_priority).i64(s.store_path_count).i64(s.subdir_count_per_path)
    .i64(s.current_write_path).i64(s.storage_port);
  writeStorageStat(w, s.stat);
  w.u8(s.if_trunk_server ? 1 : 0);
  return w.buf;
}

export function decodeStorageStatRecord(r: FieldReader, ips: number): StorageStatRecord {
  return {
    status: r.u8(), rw_mode: r.u8(), id: r.str(STORAGE_ID_LEN), ip_addr: r.str(ips), src_id: r.str(STORAGE_ID_LEN),
    version: r.str(VERSION_LEN), join_time: r.i64(), up_time: r.i64(), total_mb: r.i64(), free_mb: r.i64(),
    reserved_mb: r.i64(), upload_priority: r.i64(), store_path_count: r.i64(), subdir_count_per_path: r.i64(),
    current_write_path: r.i64(), storage_port: r.i64(), stat: decodeStorageStat(r), if_trunk_server: r.u8() !== 0,
  };
}

/** §2.6: clients detect IPS by `len % 487 == 0` first, then `% 517`. */
export function decodeStorageStatRecords(body: Buffer): StorageStatRecord[] {
  const l16 = storageStatRecordLen(16);
  const l46 = storageStatRecordLen(46);
  const ips = body.length % l16 === 0 ? 16 : body.length % l46 === 0 ? 46 : 0;
  if (!ips) throw new RangeError(`storage list body ${body.length} fits neither ${l16} nor ${l46}-byte records`);
  const r = new FieldReader(body);
  const out: StorageStatRecord[] = [];
  while (r.remaining > 0) out.push(decodeStorageStatRecord(r, ips));
  return out;
}
