import { Buffer } from 'node:buffer';
import { ClientConnection } from '../net/client-connection.ts';
import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN } from '../protocol/codes.ts';
import { FdfsError } from '../protocol/errno.ts';
import { FieldReader, FieldWriter, readFixed } from '../protocol/fields.ts';
import { formatAddress, normalizeIp } from '../protocol/ip.ts';
import { STORAGE_BRIEF_LEN, decodeStorageBrief, type StorageBrief } from '../protocol/records.ts';
import {
  decodeParameters, encodeFetchIdsRequest, encodeGetMyIpRequest, encodeGroupAddress, encodeReportStatus,
} from '../protocol/storage-tracker.ts';
import { FETCH_IDS_MAX_ROUNDS, fetchStorageIdPages, trackerLine, type TrackerEndpoint } from '../net/tracker-calls.ts';

/**
 * The storage's short tracker requests (PROTOCOL.md §4, §4.1, §4.2, §4.10, §4.12, §4.13): one small
 * async function per command over a ClientConnection, so that the reporter reads as the start-up
 * sequence of §4. Connection helpers dial one `tracker_server` entry (one or two addresses).
 */

export type { TrackerEndpoint };
export { trackerLine };

export interface TrackerDialOptions {
  /** Seconds per connect attempt (connect_timeout, default 10). */
  connectTimeout?: number;
  /** Seconds without progress before a request fails (network_timeout, daemons default 60). */
  networkTimeout?: number;
  /** Source address (the storage's bind address), '' or undefined = any. */
  localAddress?: string;
}

/**
 * Connect to one tracker entry. For a dual-address entry, the address that worked last time
 * (`preferred`) is tried first, then the other (§1.4 rule 3). Resolves with the connection and the
 * index of the address that answered; rejects with the last connect error.
 */
export async function connectTracker(t: TrackerEndpoint, opts: TrackerDialOptions = {}, preferred = 0):
  Promise<{ conn: ClientConnection; hostIndex: number }> {
  const order = t.hosts.map((_, i) => i);
  if (preferred > 0 && preferred < order.length) order.unshift(...order.splice(preferred, 1));
  let last: unknown = new FdfsError('ENOTCONN', 'tracker entry has no address', { subject: trackerLine(t) });
  for (const i of order) {
    try {
      const conn = await ClientConnection.connect(t.hosts[i]!, t.port, {
        connectTimeout: opts.connectTimeout,
        networkTimeout: opts.networkTimeout ?? 60,
        localAddress: opts.localAddress || undefined,
      });
      return { conn, hostIndex: i };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/**
 * Short connection: connect, run `fn`, then QUIT (82) — how the C storage ends its 60/76 short
 * connections (§4). The connection is closed whatever `fn` does.
 */
export async function withTracker<T>(t: TrackerEndpoint, opts: TrackerDialOptions,
  fn: (conn: ClientConnection) => Promise<T>): Promise<T> {
  const { conn } = await connectTracker(t, opts);
  try {
    return await fn(conn);
  } finally {
    await conn.quit();
  }
}

/** The IP text the tracker saw on this socket (what it will use as our address). */
export function localIpOf(conn: ClientConnection): string {
  return normalizeIp(conn.socket.localAddress);
}

/** The tracker IP actually dialled (the JOIN's current_tracker_ip, §4.3). */
export function remoteIpOf(conn: ClientConnection): string {
  return normalizeIp(conn.socket.remoteAddress) || conn.host;
}

function expectEmpty(body: Buffer, cmd: number, conn: ClientConnection): void {
  // The C storage refuses a non-empty body where none is expected (tracker_client_thread.c).
  if (body.length !== 0) {
    conn.usable = false;
    throw new FdfsError('EPROTO', `${body.length}-byte reply to command ${cmd}, expected none`, { subject: conn.address });
  }
}

// ---- 109 STORAGE_GET_GROUP_NAME (§4.12) ----

/**
 * Group of this storage from storage_ids.conf. With `ip` the 13-byte form `ip text + i32 port` is
 * sent: the 4-byte port-only form makes the tracker use the socket's peer IP, which fails on a host
 * with several addresses (captures README, discrepancy 7).
 */
export async function getGroupName(conn: ClientConnection, port: number, ip?: string): Promise<string> {
  const ipText = Buffer.from(ip ?? '', 'latin1');
  const body = new FieldWriter(ipText.length + 4).bytes(ipText).i32(port).buf;
  const reply = await conn.request(CMD.STORAGE_GET_GROUP_NAME, body, { maxResponse: 64 });
  if (reply.length < GROUP_NAME_LEN) {
    throw new FdfsError('EPROTO', `GET_GROUP_NAME reply of ${reply.length} bytes, expected ${GROUP_NAME_LEN}`, { subject: conn.address });
  }
  const group = readFixed(reply, 0, GROUP_NAME_LEN);
  if (group === '') throw new FdfsError('ENOENT', 'tracker returned an empty group name', { subject: conn.address });
  return group;
}

// ---- 60 STORAGE_GET_MY_IP (§4.1) ----

/** Our address list as this tracker sees it (one or two IPs, comma separated on the wire). */
export async function getMyIp(conn: ClientConnection, group: string, port: number): Promise<string[]> {
  const reply = await conn.request(CMD.STORAGE_GET_MY_IP, encodeGetMyIpRequest(group, port), { maxResponse: 256 });
  const ips = reply.toString('latin1').replace(/\0.*$/s, '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ips.length === 0) throw new FdfsError('EPROTO', 'GET_MY_IP reply holds no address', { subject: conn.address });
  return ips;
}

// ---- 75 STORAGE_PARAMETER_REQ (§4.2) ----

/** The cluster parameters every storage must adopt (`key=value` lines). */
export async function getParameters(conn: ClientConnection): Promise<Map<string, string>> {
  const reply = await conn.request(CMD.STORAGE_PARAMETER_REQ, [], { maxResponse: 64 * 1024 });
  const params = decodeParameters(reply);
  if (!params.has('use_storage_id')) {
    throw new FdfsError('EPROTO', 'PARAMETER_REQ reply lacks use_storage_id', { subject: conn.address });
  }
  return params;
}

// ---- 69 STORAGE_FETCH_STORAGE_IDS (§4.13) ----

export { FETCH_IDS_MAX_ROUNDS };

/** The whole storage_ids.conf of the tracker as `id group ip[:port]` lines, paged (shared with the client). */
export function fetchStorageIds(conn: ClientConnection, allowEmpty = false): Promise<string[]> {
  return fetchStorageIdPages((start) => conn.request(CMD.STORAGE_FETCH_STORAGE_IDS, encodeFetchIdsRequest(start, allowEmpty),
    { maxResponse: 4 * 1024 * 1024 }), conn.address);
}

// ---- 70 STORAGE_GET_SERVER_ID (§4.12) ----

/** Our storage id as the tracker knows it, looked up by group + "ip:port". */
export async function getServerId(conn: ClientConnection, group: string, ip: string, port: number): Promise<string> {
  const reply = await conn.request(CMD.STORAGE_GET_SERVER_ID, encodeGroupAddress(group, formatAddress(ip, port)),
    { maxResponse: 64 });
  const id = reply.toString('latin1').replace(/\0.*$/s, '');
  if (id === '' || id.length >= STORAGE_ID_LEN) {
    throw new FdfsError('EPROTO', `GET_SERVER_ID reply ${JSON.stringify(id)} is not a storage id`, { subject: conn.address });
  }
  return id;
}

// ---- 71 STORAGE_GET_STATUS (§4.12) ----

/** How this tracker sees a storage (ip = its first address). */
export async function getStorageStatus(conn: ClientConnection, group: string, ip: string, port: number): Promise<StorageBrief> {
  const reply = await conn.request(CMD.STORAGE_GET_STATUS, encodeGroupAddress(group, formatAddress(ip, port)),
    { maxResponse: 1024 });
  if (reply.length < STORAGE_BRIEF_LEN) {
    throw new FdfsError('EPROTO', `GET_STATUS reply of ${reply.length} bytes, expected ${STORAGE_BRIEF_LEN}`, { subject: conn.address });
  }
  return decodeStorageBrief(new FieldReader(reply));
}

// ---- 64 TRACKER_GET_STATUS (§8.6) ----

/**
 * Whether this tracker is the leader (first byte of the 17-byte reply). The C storage asks every
 * tracker this when it needs the leader and no change-push has named one yet.
 */
export async function isTrackerLeader(conn: ClientConnection): Promise<boolean> {
  const reply = await conn.request(CMD.TRACKER_GET_STATUS, [], { maxResponse: 1024 });
  if (reply.length < 1) throw new FdfsError('EPROTO', 'empty TRACKER_GET_STATUS reply', { subject: conn.address });
  return reply[0] !== 0;
}

// ---- 76 STORAGE_REPORT_STATUS (§4.10) ----

/** Report one storage's status (a sync source about its dest, or RECOVERY about itself). */
export async function reportStatus(conn: ClientConnection, group: string, brief: StorageBrief): Promise<void> {
  const reply = await conn.request(CMD.STORAGE_REPORT_STATUS, encodeReportStatus(group, brief), { maxResponse: 1024 });
  expectEmpty(reply, CMD.STORAGE_REPORT_STATUS, conn);
}

export interface TrackerOutcome {
  tracker: string;
  error?: FdfsError;
}

/**
 * 76 to every tracker, each on its own short connection (connect, send, QUIT — §4.10), in
 * parallel. Never throws: the outcome per tracker says who missed the report, so replication can
 * retry. The C storage sends port 0 in this brief (captures README, discrepancy 10); callers
 * choose what to put there.
 */
export async function reportStatusToTrackers(trackers: readonly TrackerEndpoint[], group: string, brief: StorageBrief,
  opts: TrackerDialOptions = {}): Promise<TrackerOutcome[]> {
  return Promise.all(trackers.map(async (t): Promise<TrackerOutcome> => {
    try {
      await withTracker(t, opts, (conn) => reportStatus(conn, group, brief));
      return { tracker: trackerLine(t) };
    } catch (err) {
      const e = err instanceof FdfsError ? err : new FdfsError('EIO', String(err), { subject: trackerLine(t) });
      return { tracker: trackerLine(t), error: e };
    }
  }));
}
