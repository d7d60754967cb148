import { Buffer } from 'node:buffer';
import { FieldReader, FieldWriter, fixed } from './fields.ts';
import { GROUP_NAME_LEN, IP46_LEN, STORAGE_ID_LEN, VERSION_LEN } from './codes.ts';
import { STORAGE_BRIEF_LEN, decodeStorageBrief, encodeStorageBrief, type StorageBrief } from './records.ts';

// Storage ↔ tracker messages (PROTOCOL.md §4).

// ---- 81 STORAGE_JOIN (§4.3) ----
export const JOIN_FIXED_LEN = 145;

export interface JoinRequest {
  group: string;
  port: number;
  storePathCount: number;
  subdirCountPerPath: number;
  uploadPriority: number;
  joinTime: number;
  upTime: number;
  version: string;
  /** 1 = has not finished initial sync (sync_old_done = 0). */
  initFlag: number;
  status: number;
  storageId: string;
  currentTrackerIp: string;
  trackers: string[];
}

export function encodeJoinRequest(j: JoinRequest): Buffer {
  const lines = j.trackers.map((t) => `${t}\n`).join('');
  const w = new FieldWriter(JOIN_FIXED_LEN + Buffer.byteLength(lines, 'latin1'));
  w.str(j.group, GROUP_NAME_LEN + 1).i64(j.port).i64(j.storePathCount).i64(j.subdirCountPerPath)
    .i64(j.uploadPriority).i64(j.joinTime).i64(j.upTime).str(j.version, VERSION_LEN).u8(j.initFlag)
    .u8(j.status & 0xff).str(j.storageId, STORAGE_ID_LEN).str(j.currentTrackerIp, IP46_LEN)
    .i64(j.trackers.length).text(lines);
  return w.buf;
}

export function decodeJoinRequest(body: Buffer): JoinRequest {
  if (body.length < JOIN_FIXED_LEN) throw new RangeError(`join body ${body.length} < ${JOIN_FIXED_LEN}`);
  const r = new FieldReader(body);
  const j = {
    group: r.str(GROUP_NAME_LEN + 1), port: r.i64(), storePathCount: r.i64(), subdirCountPerPath: r.i64(),
    uploadPriority: r.i64(), joinTime: r.i64(), upTime: r.i64(), version: r.str(VERSION_LEN), initFlag: r.u8(),
    status: r.i8(), storageId: r.str(STORAGE_ID_LEN), currentTrackerIp: r.str(IP46_LEN),
  };
  const count = r.i64();
  const trackers = r.text().split('\n').filter((l) => l.length > 0);
  if (count < 1 || count > 16 || trackers.length !== count) throw new RangeError(`join tracker_count ${count} but ${trackers.length} lines`);
  return { ...j, trackers };
}

export function encodeJoinResponse(status: number, srcId: string): Buffer {
  return new FieldWriter(1 + STORAGE_ID_LEN).u8(status).str(srcId, STORAGE_ID_LEN).buf;
}

export function decodeJoinResponse(body: Buffer): { status: number; srcId: string } {
  const r = new FieldReader(body);
  return { status: r.u8(), srcId: r.str(STORAGE_ID_LEN) };
}

// ---- change-push body (§4.8), response to 83/84/89 ----
export const PUSH_FLAG = { LEADER: 1, TRUNK: 2, MEMBERS: 4 } as const;

export interface ChangePush {
  leader?: StorageBrief;
  trunkServer?: StorageBrief;
  members?: StorageBrief[];
}

export function encodeChangePush(p: ChangePush): Buffer {
  const flags = (p.leader ? PUSH_FLAG.LEADER : 0) | (p.trunkServer ? PUSH_FLAG.TRUNK : 0) | (p.members ? PUSH_FLAG.MEMBERS : 0);
  const n = (p.leader ? 1 : 0) + (p.trunkServer ? 1 : 0) + (p.members?.length ?? 0);
  const w = new FieldWriter(1 + n * STORAGE_BRIEF_LEN);
  w.u8(flags);
  if (p.leader) encodeStorageBrief(p.leader, w);
  if (p.trunkServer) encodeStorageBrief(p.trunkServer, w);
  for (const m of p.members ?? []) encodeStorageBrief(m, w);
  return w.buf;
}

export function decodeChangePush(body: Buffer): ChangePush {
  if (body.length === 0) return {};
  const r = new FieldReader(body);
  const flags = r.u8();
  const out: ChangePush = {};
  if (flags & PUSH_FLAG.LEADER) out.leader = decodeStorageBrief(r);
  if (flags & PUSH_FLAG.TRUNK) out.trunkServer = decodeStorageBrief(r);
  if (flags & PUSH_FLAG.MEMBERS) {
    out.members = [];
    while (r.remaining >= STORAGE_BRIEF_LEN) out.members.push(decodeStorageBrief(r));
  }
  return out;
}

// ---- 84 REPORT_DISK_USAGE (§4.6) ----
export interface PathUsage { totalMb: number; freeMb: number }

export function encodeDiskUsage(paths: PathUsage[]): Buffer {
  const w = new FieldWriter(paths.length * 16);
  for (const p of paths) w.i64(p.totalMb).i64(p.freeMb);
  return w.buf;
}

export function decodeDiskUsage(body: Buffer): PathUsage[] {
  if (body.length % 16 !== 0) throw new RangeError(`disk usage body ${body.length} not a multiple of 16`);
  const r = new FieldReader(body);
  const out: PathUsage[] = [];
  while (r.remaining > 0) out.push({ totalMb: r.i64(), freeMb: r.i64() });
  return out;
}

// ---- 89 SYNC_REPORT (§4.7) ----
export interface SyncTimestamp { peerId: string; timestamp: number }

export function encodeSyncReport(items: SyncTimestamp[]): Buffer {
  const w = new FieldWriter(items.length * 20);
  for (const i of items) w.str(i.peerId, STORAGE_ID_LEN).i32(i.timestamp);
  return w.buf;
}

export function decodeSyncReport(body: Buffer): SyncTimestamp[] {
  if (body.length % 20 !== 0) throw new RangeError(`sync report body ${body.length} not a multiple of 20`);
  const r = new FieldReader(body);
  const out: SyncTimestamp[] = [];
  while (r.remaining > 0) out.push({ peerId: r.str(STORAGE_ID_LEN), timestamp: r.i32() });
  return out;
}

// ---- 87/88/79/86 TrackerStorageSyncReqBody (§4.9): ID src_id + i64 until ----
export interface SyncSource { srcId: string; until: number }

export function encodeSyncSource(s: SyncSource): Buffer {
  return new FieldWriter(STORAGE_ID_LEN + 8).str(s.srcId, STORAGE_ID_LEN).i64(s.until).buf;
}

export function decodeSyncSource(body: Buffer): SyncSource | null {
  if (body.length === 0) return null;
  const r = new FieldReader(body);
  return { srcId: r.str(STORAGE_ID_LEN), until: r.i64() };
}

// ---- 60 GET_MY_IP (§4.1): str[17] group + i32 port ----
export function encodeGetMyIpRequest(group: string, port: number): Buffer {
  return new FieldWriter(GROUP_NAME_LEN + 1 + 4).str(group, GROUP_NAME_LEN + 1).i32(port).buf;
}

export function decodeGetMyIpRequest(body: Buffer): { group: string; port: number } {
  // ≤ 6.15 sent only the 16-byte group (§12).
  const r = new FieldReader(body);
  if (body.length === GROUP_NAME_LEN) return { group: r.str(GROUP_NAME_LEN), port: 0 };
  return { group: r.str(GROUP_NAME_LEN + 1), port: r.i32() };
}

// ---- 75 PARAMETER_REQ (§4.2): key=value lines ----
export function encodeParameters(params: Array<[string, string | number]>): Buffer {
  return Buffer.from(params.map(([k, v]) => `${k}=${v}\n`).join(''), 'latin1');
}

export function decodeParameters(body: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of body.toString('latin1').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

// ---- 76 REPORT_STATUS (§4.10): GROUP + brief ----
export function encodeReportStatus(group: string, brief: StorageBrief): Buffer {
  return Buffer.concat([fixed(group, GROUP_NAME_LEN), encodeStorageBrief(brief)]);
}

export function decodeReportStatus(body: Buffer): { group: string; brief: StorageBrief } {
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), brief: decodeStorageBrief(r) };
}

// ---- 70/71: GROUP + "ip:port" ----
export function encodeGroupAddress(group: string, address: string): Buffer {
  return Buffer.concat([fixed(group, GROUP_NAME_LEN), Buffer.from(address, 'latin1')]);
}

export function decodeGroupAddress(body: Buffer): { group: string; address: string } {
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), address: r.text() };
}

// ---- 92 LIST_STORAGE request: GROUP + optional id (no NUL) ----
export function encodeListStorageRequest(group: string, id?: string): Buffer {
  return Buffer.concat([fixed(group, GROUP_NAME_LEN), Buffer.from(id ?? '', 'latin1')]);
}

// ---- 69 FETCH_STORAGE_IDS (§4.13) ----
export function encodeFetchIdsRequest(startIndex: number, allowEmpty: boolean): Buffer {
  return new FieldWriter(5).i32(startIndex).u8(allowEmpty ? 1 : 0).buf;
}

export function decodeFetchIdsResponse(body: Buffer): { total: number; lines: string[] } {
  const r = new FieldReader(body);
  const total = r.i32();
  const count = r.i32();
  const lines = r.text().split('\n').filter((l) => l.length > 0);
  if (lines.length !== count) throw new RangeError(`storage ids reply announces ${count} lines, has ${lines.length}`);
  return { total, lines };
}
