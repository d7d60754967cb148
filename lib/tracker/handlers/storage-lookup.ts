import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import { CMD, GROUP_NAME_LEN, IP46_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldWriter, fixed, readFixed } from '../../protocol/fields.ts';
import { encodeStorageBrief } from '../../protocol/records.ts';
import { decodeGetMyIpRequest } from '../../protocol/storage-tracker.ts';
import { STORAGE_DEFAULT_PORT } from '../../config/schema.ts';
import { formatStorageIdLine } from '../../config/storage-ids.ts';
import { parseHostPort } from '../../config/values.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageRecord } from '../cluster.ts';
import type { TrackerContext } from '../context.ts';
import { idForIp } from '../id-index.ts';
import { bodyInRange, bodyOfLength, einval, groupField, requireGroup, textAfterGroup, type HandlerEntry } from './common.ts';

// Identity lookups a storage makes at start-up (PROTOCOL.md §4.1, §4.12, §4.13).

/**
 * 60 GET_MY_IP: the storage's address as we see it — with storage ids the whole IP list of its
 * entry (so a dual-IP storage learns both), else the TCP peer address.
 */
async function getMyIp(req: Request, ctx: TrackerContext) {
  // 21 bytes since 6.16; ≤ 6.15 sent the 16-byte group only (§12).
  if (req.length !== GROUP_NAME_LEN + 1 + 4 && req.length !== GROUP_NAME_LEN) throw einval(`GET_MY_IP body of ${req.length} bytes, expected 21`);
  const { group, port } = decodeGetMyIpRequest(await req.body());
  const peer = req.conn.remoteIp;
  const entry = ctx.ids?.find(group, peer, port || STORAGE_DEFAULT_PORT);
  return Buffer.from(entry ? entry.hosts.join(',') : peer, 'latin1');
}

/** "ip:port" (IPv6 in brackets) or, from ≤ 6.15 peers, a bare IP (§12). */
function parseAddress(text: string): { ip: string; port: number } {
  if (isIP(text) !== 0) return { ip: text, port: 0 };
  try {
    const hp = parseHostPort(text, STORAGE_DEFAULT_PORT);
    return { ip: hp.hosts[0]!, port: hp.port };
  } catch {
    throw einval(`invalid storage address "${text}"`);
  }
}

/** The member of `group` at ip:port: by storage id entry when ids are on, else by address. */
function findMember(ctx: TrackerContext, groupName: string, ip: string, port: number): StorageRecord | undefined {
  const g = requireGroup(ctx, groupName);
  if (ctx.ids) {
    const entry = ctx.ids.find(groupName, ip, port || STORAGE_DEFAULT_PORT);
    return entry ? g.find(entry.id) : undefined;
  }
  return g.members.find((m) => m.ips.includes(ip) && (port === 0 || m.port === port));
}

/** 70 GET_SERVER_ID: the id of the storage at ip:port (ids), or what its id would be (IP / IPv6 code). */
async function getServerId(req: Request, ctx: TrackerContext) {
  const body = await bodyInRange(req, GROUP_NAME_LEN + 1, GROUP_NAME_LEN + 64, 'GET_SERVER_ID');
  const group = groupField(body);
  const { ip, port } = parseAddress(textAfterGroup(body));
  if (!ctx.ids) return Buffer.from(idForIp(ip), 'latin1');
  const entry = ctx.ids.find(group, ip, port || STORAGE_DEFAULT_PORT);
  if (!entry) throw new FdfsError('ENOENT', `no storage id for ${ip}:${port} in group ${group}`);
  return Buffer.from(entry.id, 'latin1');
}

/** 71 GET_STATUS: one brief of the storage at ip:port, carrying its first IP. */
async function getStatus(req: Request, ctx: TrackerContext) {
  const body = await bodyInRange(req, GROUP_NAME_LEN + 1, GROUP_NAME_LEN + 64, 'GET_STATUS');
  const group = groupField(body);
  const { ip, port } = parseAddress(textAfterGroup(body));
  const s = findMember(ctx, group, ip, port);
  if (!s) throw new FdfsError('ENOENT', `no storage ${ip}:${port} in group ${group}`);
  return encodeStorageBrief({ status: s.status, port: s.port, id: s.id, ip: s.ip });
}

/**
 * 109 GET_GROUP_NAME (ids only): `i32 port` (IP of the connection) or `ip text + i32 port`.
 * (A storage on a multi-address host sends it from an unbound socket, captures/README.md #7.)
 */
async function getGroupName(req: Request, ctx: TrackerContext) {
  if (!ctx.ids) throw new FdfsError('EOPNOTSUPP', 'GET_GROUP_NAME needs use_storage_id = true');
  if (req.length < 4) throw einval(`GET_GROUP_NAME body of ${req.length} bytes`);
  if (req.length - 4 >= IP46_LEN) throw new FdfsError('ENAMETOOLONG', `IP text of ${req.length - 4} bytes`);
  const body = await req.body();
  const ip = body.length === 4 ? req.conn.remoteIp : readFixed(body, 0, body.length - 4);
  const port = body.readInt32BE(body.length - 4);
  const entry = ctx.ids.find(undefined, ip, port);
  if (!entry) throw new FdfsError('ENOENT', `no storage id for ${ip}:${port}`);
  return fixed(entry.group, GROUP_NAME_LEN);
}

/**
 * 69 FETCH_STORAGE_IDS (§4.13): pages of `id group host:port[ rw=…]` lines. Without ids an
 * "allow empty" request gets zero counts, anything else EOPNOTSUPP.
 */
async function fetchStorageIds(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, 5, 'FETCH_STORAGE_IDS');
  const start = body.readInt32BE(0);
  const allowEmpty = body[4] !== 0;
  if (!ctx.ids) {
    if (allowEmpty) return Buffer.alloc(8);
    throw new FdfsError('EOPNOTSUPP', 'use_storage_id is off');
  }
  const entries = ctx.ids.entries;
  if (start < 0 || start >= entries.length) throw einval(`start_index ${start} outside 0..${entries.length - 1}`);
  // One reply must fit a peer's buffer; the client pages until it has them all.
  const limit = Math.max(1024, ctx.config.buff_size - 10) - 8;
  const lines: string[] = [];
  let size = 0;
  for (let i = start; i < entries.length; i++) {
    const line = `${formatStorageIdLine(entries[i]!)}\n`;
    if (size + line.length > limit && lines.length > 0) break;
    lines.push(line);
    size += line.length;
  }
  const text = Buffer.from(lines.join(''), 'latin1');
  return [new FieldWriter(8).i32(entries.length).i32(lines.length).buf, text];
}

export const lookupHandlers: HandlerEntry[] = [
  [CMD.STORAGE_GET_MY_IP, getMyIp],
  [CMD.STORAGE_GET_SERVER_ID, getServerId],
  [CMD.STORAGE_GET_STATUS, getStatus],
  [CMD.STORAGE_GET_GROUP_NAME, getGroupName],
  [CMD.STORAGE_FETCH_STORAGE_IDS, fetchStorageIds],
];
