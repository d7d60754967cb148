import { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN, STORAGE_ID_LEN, VERSION_LEN } from './codes.ts';
import { FieldReader, FieldWriter, readFixed } from './fields.ts';

// Tracker ↔ tracker bodies (PROTOCOL.md §8.6 election, §8.7 bootstrap): pure codecs.

/** 64 GET_STATUS reply (17 bytes): is_leader, running_time, restart_interval (both multiples of 300 s). */
export interface TrackerRunningStatus {
  isLeader: boolean;
  runningTime: number;
  restartInterval: number;
}

export const TRACKER_STATUS_LEN = 17;

export function encodeTrackerStatus(s: TrackerRunningStatus): Buffer {
  return new FieldWriter(TRACKER_STATUS_LEN).u8(s.isLeader ? 1 : 0).i64(s.runningTime).i64(s.restartInterval).buf;
}

export function decodeTrackerStatus(body: Buffer): TrackerRunningStatus {
  if (body.length !== TRACKER_STATUS_LEN) throw new RangeError(`GET_STATUS reply of ${body.length} bytes, expected ${TRACKER_STATUS_LEN}`);
  const r = new FieldReader(body);
  return { isLeader: r.u8() !== 0, runningTime: r.i64(), restartInterval: r.i64() };
}

/** §8.6 / tracker_calc_running_times: both figures rounded down to the 300 s status-file period. */
export function runningStatusOf(isLeader: boolean, now: number, startTime: number, lastCheckTime: number): TrackerRunningStatus {
  const round = (n: number) => Math.max(0, Math.floor(n / 300) * 300);
  return { isLeader, runningTime: round(now - startTime), restartInterval: lastCheckTime > 0 ? round(startTime - lastCheckTime) : 0 };
}

/** 58 JOIN_LEADER body (24 bytes). */
export interface JoinLeader {
  upTime: number;
  version: string;
  serverPort: number;
}

export const JOIN_LEADER_LEN = 8 + VERSION_LEN + 8;

export function encodeJoinLeader(j: JoinLeader): Buffer {
  return new FieldWriter(JOIN_LEADER_LEN).i64(j.upTime).str(j.version, VERSION_LEN).i64(j.serverPort).buf;
}

export function decodeJoinLeader(body: Buffer): JoinLeader {
  if (body.length !== JOIN_LEADER_LEN) throw new RangeError(`JOIN_LEADER body of ${body.length} bytes, expected ${JOIN_LEADER_LEN}`);
  const r = new FieldReader(body);
  return { upTime: r.i64(), version: r.str(VERSION_LEN), serverPort: r.i64() };
}

/** 65 PING_LEADER body (12 bytes): the follower's connection counters. */
export interface ConnectionCounters {
  alloc: number;
  current: number;
  max: number;
}

export const PING_LEADER_LEN = 12;

export function encodePingLeader(c: ConnectionCounters): Buffer {
  return new FieldWriter(PING_LEADER_LEN).i32(c.alloc).i32(c.current).i32(c.max).buf;
}

export function decodePingLeader(body: Buffer): ConnectionCounters {
  if (body.length !== PING_LEADER_LEN) throw new RangeError(`PING_LEADER body of ${body.length} bytes, expected ${PING_LEADER_LEN}`);
  const r = new FieldReader(body);
  return { alloc: r.i32(), current: r.i32(), max: r.i32() };
}

/** 65 reply when trunk servers changed: N × (GROUP + ID trunk_server_id), every group. */
export interface TrunkServerOfGroup {
  group: string;
  trunkServerId: string;
}

const TRUNK_ENTRY_LEN = GROUP_NAME_LEN + STORAGE_ID_LEN;

export function encodeTrunkServers(list: readonly TrunkServerOfGroup[]): Buffer {
  const w = new FieldWriter(list.length * TRUNK_ENTRY_LEN);
  for (const e of list) w.str(e.group, GROUP_NAME_LEN).str(e.trunkServerId, STORAGE_ID_LEN);
  return w.buf;
}

export function decodeTrunkServers(body: Buffer): TrunkServerOfGroup[] {
  if (body.length % TRUNK_ENTRY_LEN !== 0) throw new RangeError(`PING_LEADER reply of ${body.length} bytes is not n × ${TRUNK_ENTRY_LEN}`);
  const out: TrunkServerOfGroup[] = [];
  for (let off = 0; off < body.length; off += TRUNK_ENTRY_LEN) {
    // The C leader copies the id with its terminator; the follower reads at most 15 bytes.
    out.push({ group: readFixed(body, off, GROUP_NAME_LEN), trunkServerId: readFixed(body, off + GROUP_NAME_LEN, STORAGE_ID_LEN - 1) });
  }
  return out;
}

/** 63 GET_ONE_SYS_FILE request (9 bytes) and reply header (i64 file size, then the bytes). */
export const SYS_FILE_REQUEST_LEN = 9;
/** Bytes per 63 reply: 8192 − 8 − 10 − 1 (§8.7). */
export const SYS_FILE_CHUNK = 8173;

export function encodeSysFileRequest(index: number, offset: number): Buffer {
  return new FieldWriter(SYS_FILE_REQUEST_LEN).u8(index).i64(offset).buf;
}

export function decodeSysFileRequest(body: Buffer): { index: number; offset: number } {
  if (body.length !== SYS_FILE_REQUEST_LEN) throw new RangeError(`GET_ONE_SYS_FILE body of ${body.length} bytes, expected ${SYS_FILE_REQUEST_LEN}`);
  const r = new FieldReader(body);
  return { index: r.u8(), offset: r.i64() };
}
