import { Buffer } from 'node:buffer';
import { FieldReader, FieldWriter, fixed } from './fields.ts';
import { GROUP_NAME_LEN } from './codes.ts';

// Client ↔ tracker queries (PROTOCOL.md §2.1, §2.2). IPS = 16 or 46 (§0); IPs travel in IPS-1 bytes.

export interface StorageAddress {
  ip: string;
  port: number;
}

export interface StoreTarget extends StorageAddress {
  group: string;
  storePathIndex: number;
}

export interface StoreTargets {
  group: string;
  servers: StorageAddress[];
  storePathIndex: number;
}

export interface FetchTargets {
  group: string;
  servers: StorageAddress[];
}

/** Body of 104/107: exactly 16 bytes of group name. */
export function encodeGroupBody(group: string): Buffer {
  return fixed(group, GROUP_NAME_LEN);
}

export function encodeStoreOneResponse(t: StoreTarget, ips: number): Buffer {
  return new FieldWriter(GROUP_NAME_LEN + ips - 1 + 8 + 1)
    .str(t.group, GROUP_NAME_LEN).str(t.ip, ips - 1).i64(t.port).u8(t.storePathIndex).buf;
}

/** §2.1: length 40 (IPS 16) or 70 (IPS 46). */
export function decodeStoreOneResponse(body: Buffer): StoreTarget {
  const ips = body.length === 40 ? 16 : body.length === 70 ? 46 : 0;
  if (!ips) throw new RangeError(`query-store response of ${body.length} bytes (expected 40 or 70)`);
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), ip: r.str(ips - 1), port: r.i64(), storePathIndex: r.u8() };
}

export function encodeStoreAllResponse(t: StoreTargets, ips: number): Buffer {
  const w = new FieldWriter(GROUP_NAME_LEN + t.servers.length * (ips - 1 + 8) + 1);
  w.str(t.group, GROUP_NAME_LEN);
  for (const s of t.servers) w.str(s.ip, ips - 1).i64(s.port);
  w.u8(t.storePathIndex);
  return w.buf;
}

export function decodeStoreAllResponse(body: Buffer): StoreTargets {
  const n = body.length - GROUP_NAME_LEN - 1;
  const ips = n > 0 && n % 23 === 0 ? 16 : n > 0 && n % 53 === 0 ? 46 : 0;
  if (!ips) throw new RangeError(`query-store-all response of ${body.length} bytes`);
  const r = new FieldReader(body);
  const group = r.str(GROUP_NAME_LEN);
  const servers: StorageAddress[] = [];
  for (let i = 0; i < n / (ips + 7); i++) servers.push({ ip: r.str(ips - 1), port: r.i64() });
  return { group, servers, storePathIndex: r.u8() };
}

/** 102/103/105 request: GROUP + remote file name. */
export function encodeFileRequest(group: string, logicName: string): Buffer {
  return Buffer.concat([fixed(group, GROUP_NAME_LEN), Buffer.from(logicName, 'latin1')]);
}

export function decodeFileRequest(body: Buffer): { group: string; logicName: string } {
  if (body.length < GROUP_NAME_LEN) throw new RangeError('file request shorter than the group field');
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), logicName: r.text() };
}

export function encodeFetchResponse(t: FetchTargets, ips: number): Buffer {
  const w = new FieldWriter(GROUP_NAME_LEN + t.servers.length * (ips - 1 + 8));
  w.str(t.group, GROUP_NAME_LEN);
  for (const s of t.servers) w.str(s.ip, ips - 1).i64(s.port);
  return w.buf;
}

/** §2.2: clients infer IPS: (len−39) % 23 == 0 first, then (len−69) % 53. */
export function decodeFetchResponse(body: Buffer): FetchTargets {
  let ips = 0;
  if (body.length >= 39 && (body.length - 39) % 23 === 0) ips = 16;
  else if (body.length >= 69 && (body.length - 69) % 53 === 0) ips = 46;
  if (!ips) throw new RangeError(`query-fetch response of ${body.length} bytes`);
  const r = new FieldReader(body);
  const group = r.str(GROUP_NAME_LEN);
  const servers: StorageAddress[] = [];
  while (r.remaining > 0) servers.push({ ip: r.str(ips - 1), port: r.i64() });
  return { group, servers };
}
