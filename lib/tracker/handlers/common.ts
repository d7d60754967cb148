import { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { readFixed } from '../../protocol/fields.ts';
import { chooseAddressFor } from '../../protocol/ip.ts';
import type { StorageBrief } from '../../protocol/records.ts';
import type { Handler, Request } from '../../net/packet-server.ts';
import type { GroupRecord, StorageRecord } from '../cluster.ts';
import { connData, type TrackerContext } from '../context.ts';

/** A tracker command handler; a file exports `[code, handler]` pairs for the table. */
export type TrackerHandler = Handler<TrackerContext>;
export type HandlerEntry = readonly [number, TrackerHandler];

export function einval(what: string, subject?: string): FdfsError {
  return new FdfsError('EINVAL', what, { subject });
}

/** §4.5: 59, 72–74, 83–85, 87, 89 (and 79, 88) need a JOIN on the same connection. */
export function joinedStorage(req: Request): StorageRecord {
  const s = connData(req.conn).storage;
  if (!s) throw new FdfsError('EACCES', 'this command needs a JOIN (81) on the connection first', { subject: req.conn.address });
  return s;
}

/** The whole body, which must be exactly `len` bytes (EINVAL otherwise). */
export async function bodyOfLength(req: Request, len: number, what: string): Promise<Buffer> {
  if (req.length !== len) throw einval(`${what}: body of ${req.length} bytes, expected ${len}`);
  return req.body();
}

/** A body in [min, max] bytes. */
export async function bodyInRange(req: Request, min: number, max: number, what: string): Promise<Buffer> {
  if (req.length < min || req.length > max) throw einval(`${what}: body of ${req.length} bytes, expected ${min}..${max}`);
  return req.body();
}

/** The GROUP field at the start of a body. */
export function groupField(body: Buffer): string {
  return readFixed(body, 0, GROUP_NAME_LEN);
}

/** Text after the group (an id or an address): NULs and what follows them dropped. */
export function textAfterGroup(body: Buffer): string {
  const t = body.subarray(GROUP_NAME_LEN).toString('latin1');
  const z = t.indexOf('\0');
  return z < 0 ? t : t.slice(0, z);
}

export function requireGroup(ctx: TrackerContext, name: string): GroupRecord {
  const g = ctx.cluster.getGroup(name);
  if (!g) throw new FdfsError('ENOENT', 'no such group', { subject: name });
  return g;
}

/** §0: a dual-IP storage is answered with the address of the requester's network type. */
export function addressFor(s: StorageRecord, requesterIp: string): string {
  return chooseAddressFor(requesterIp, s.ips);
}

export function briefOf(s: StorageRecord, requesterIp: string): StorageBrief {
  return { status: s.status, port: s.port, id: s.id, ip: addressFor(s, requesterIp) };
}

export const EMPTY = Buffer.alloc(0);
