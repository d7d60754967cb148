import { Buffer } from 'node:buffer';
import { FieldReader, FieldWriter } from '../protocol/fields.ts';
import { GROUP_NAME_LEN, STORAGE_ID_LEN, VERSION_LEN } from '../protocol/codes.ts';

// Requests and replies of the monitoring commands 96, 97, 98 (PROTOCOL.md §2.8), client side.
// Pure codecs. Text fields carry stale bytes after the NUL (captures/README.md #3): readFixed
// stops at the first NUL.

const HOST_LEN = 52;

// ---- 96 TRACKER_CLUSTER_STAT ----
export interface TrackerClusterFilter {
  /** Only trackers whose is_active equals this. */
  active?: boolean;
  /** Only trackers whose is_leader equals this. */
  leader?: boolean;
}

export interface TrackerStat {
  host: string;
  isLeader: boolean;
  isActive: boolean;
  connection: { alloc_count: number; current_count: number; max_count: number };
  version: string;
  /** Absolute start time (Unix seconds), not a duration (captures/README.md). */
  upTime: number;
  lastHeartbeatTime: number;
}

export const TRACKER_STAT_LEN = HOST_LEN + 2 + 12 + VERSION_LEN + 16;

export function encodeTrackerClusterStatRequest(f: TrackerClusterFilter = {}): Buffer {
  const by = (f.active === undefined ? 0 : 1) | (f.leader === undefined ? 0 : 2);
  return new FieldWriter(3).u8(by).u8(f.active ? 1 : 0).u8(f.leader ? 1 : 0).buf;
}

export function decodeTrackerClusterStat(body: Buffer): TrackerStat[] {
  const r = new FieldReader(body);
  const count = r.u8();
  if (body.length !== 1 + count * TRACKER_STAT_LEN) throw new RangeError(`tracker stat body ${body.length} for ${count} records`);
  const out: TrackerStat[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      host: r.str(HOST_LEN), isLeader: r.u8() !== 0, isActive: r.u8() !== 0,
      connection: { alloc_count: r.i32(), current_count: r.i32(), max_count: r.i32() },
      version: r.str(VERSION_LEN), upTime: r.i64(), lastHeartbeatTime: r.i64(),
    });
  }
  return out;
}

// ---- 97 STORAGE_CLUSTER_STAT ----
export interface StorageClusterFilter {
  /** Only storages with (op '=') or without (op '!') this status. */
  status?: number;
  statusOp?: '=' | '!';
  trunkServer?: boolean;
}

export interface StorageClusterEntry {
  id: string;
  host: string;
  isTrunkServer: boolean;
  status: number;
  connection: { alloc_count: number; current_count: number; max_count: number };
  version: string;
  upTime: number;
  lastHeartbeatTime: number;
}

export interface StorageClusterStat {
  useStorageId: boolean;
  useTrunkFile: boolean;
  storages: StorageClusterEntry[];
}

export const STORAGE_CLUSTER_ENTRY_LEN = STORAGE_ID_LEN + HOST_LEN + 2 + 12 + VERSION_LEN + 16;

export function encodeStorageClusterStatRequest(f: StorageClusterFilter = {}): Buffer {
  const by = (f.trunkServer === undefined ? 0 : 1) | (f.status === undefined ? 0 : 2);
  return new FieldWriter(4).u8(by).u8((f.statusOp ?? (f.status === undefined ? '\0' : '=')).charCodeAt(0))
    .u8(f.status ?? 0).u8(f.trunkServer ? 1 : 0).buf;
}

export function decodeStorageClusterStat(body: Buffer): StorageClusterStat {
  const r = new FieldReader(body);
  const useStorageId = r.u8() !== 0;
  const useTrunkFile = r.u8() !== 0;
  const count = r.i32();
  if (count < 0 || body.length !== 6 + count * STORAGE_CLUSTER_ENTRY_LEN) throw new RangeError(`storage cluster stat body ${body.length} for ${count} records`);
  const storages: StorageClusterEntry[] = [];
  for (let i = 0; i < count; i++) {
    storages.push({
      id: r.str(STORAGE_ID_LEN), host: r.str(HOST_LEN), isTrunkServer: r.u8() !== 0, status: r.u8(),
      connection: { alloc_count: r.i32(), current_count: r.i32(), max_count: r.i32() },
      version: r.str(VERSION_LEN), upTime: r.i64(), lastHeartbeatTime: r.i64(),
    });
  }
  return { useStorageId, useTrunkFile, storages };
}

// ---- 98 STORAGE_VOLUMN_STAT ----
export interface VolumeFilter {
  diskAvailable?: boolean;
  trunkAvailable?: boolean;
  spaceAvailable?: boolean;
}

export interface VolumeEntry {
  group: string;
  totalMb: number;
  freeMb: number;
  reservedMb: number;
  availMb: number;
  trunkFreeMb: number;
  isDiskAvailable: boolean;
  isTrunkAvailable: boolean;
}

export interface VolumeStat {
  useTrunkFile: boolean;
  groups: VolumeEntry[];
}

export const VOLUME_ENTRY_LEN = GROUP_NAME_LEN + 1 + 40 + 2;

export function encodeVolumeStatRequest(f: VolumeFilter = {}): Buffer {
  const by = (f.diskAvailable === undefined ? 0 : 1) | (f.trunkAvailable === undefined ? 0 : 2) | (f.spaceAvailable === undefined ? 0 : 4);
  return new FieldWriter(4).u8(by).u8(f.diskAvailable ? 1 : 0).u8(f.trunkAvailable ? 1 : 0).u8(f.spaceAvailable ? 1 : 0).buf;
}

export function decodeVolumeStat(body: Buffer): VolumeStat {
  const r = new FieldReader(body);
  const useTrunkFile = r.u8() !== 0;
  const count = r.i32();
  if (count < 0 || body.length !== 5 + count * VOLUME_ENTRY_LEN) throw new RangeError(`volume stat body ${body.length} for ${count} records`);
  const groups: VolumeEntry[] = [];
  for (let i = 0; i < count; i++) {
    groups.push({
      group: r.str(GROUP_NAME_LEN + 1), totalMb: r.i64(), freeMb: r.i64(), reservedMb: r.i64(), availMb: r.i64(),
      trunkFreeMb: r.i64(), isDiskAvailable: r.u8() !== 0, isTrunkAvailable: r.u8() !== 0,
    });
  }
  return { useTrunkFile, groups };
}
