import { Buffer } from 'node:buffer';
import type { ClientConnection } from '../net/client-connection.ts';
import { CMD, GROUP_NAME_LEN } from '../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { fixed } from '../protocol/fields.ts';
import { formatAddress } from '../protocol/ip.ts';
import { decodeGroupStats, decodeStorageStatRecords, type GroupStat, type StorageStatRecord } from '../protocol/records.ts';
import { decodeParameters, encodeFetchIdsRequest, encodeListStorageRequest } from '../protocol/storage-tracker.ts';
import { fetchStorageIdPages, isUnreachable, trackerLine, tryTrackers } from '../net/tracker-calls.ts';
import { silentLogger, type Logger } from '../util/log.ts';
import {
  decodeFetchResponse, decodeStoreAllResponse, decodeStoreOneResponse, encodeFileRequest, encodeGroupBody,
  type StorageAddress, type StoreTarget, type StoreTargets,
} from '../protocol/tracker-queries.ts';
import { parseHostPort } from '../config/values.ts';
import { parseStorageIds, type StorageIdEntry } from '../config/storage-ids.ts';
import { connectError, type ConnectionPool } from './pool.ts';
import {
  decodeStorageClusterStat, decodeTrackerClusterStat, decodeVolumeStat, encodeStorageClusterStatRequest,
  encodeTrackerClusterStatRequest, encodeVolumeStatRequest, type StorageClusterFilter, type StorageClusterStat,
  type TrackerClusterFilter, type TrackerStat, type VolumeFilter, type VolumeStat,
} from './monitor-records.ts';

// Client ↔ tracker (PROTOCOL.md §2): which tracker to ask (§1.4) and one method per query.

export const DEFAULT_TRACKER_PORT = 22122;

/** One tracker_server entry: one or two addresses (inner, outer) sharing a port. */
export interface TrackerEntry {
  hosts: string[];
  port: number;
}

/** One row of `fdfs list`'s tracker table. */
export interface TrackerStatus {
  address: string;
  reachable: boolean;
  /** The leader this tracker names (95), null when it names none or cannot be asked. */
  leader: string | null;
  role: 'leader' | 'follower' | 'unknown';
  /** Start time (Unix seconds) as the leader's 96 reports it. */
  upSince?: number;
  version?: string;
  /** Why it was not reachable (errno name). */
  error?: string;
}

export type TrackerSpec = string | { host: string; port?: number } | TrackerEntry;

function entryKey(e: TrackerEntry): string {
  return `${e.hosts.join(',')}:${e.port}`;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

/**
 * §1.4 point 1: de-duplicated and sorted by (number of addresses, address text in byte order,
 * port); the order given is not kept, so every client rotates over trackers the same way.
 */
export function normalizeTrackers(specs: readonly TrackerSpec[]): TrackerEntry[] {
  const seen = new Map<string, TrackerEntry>();
  for (const s of specs) {
    let e: TrackerEntry;
    if (typeof s === 'string') {
      try {
        e = parseHostPort(s, DEFAULT_TRACKER_PORT);
      } catch (err) {
        throw new FdfsError('EINVAL', `bad tracker address: ${(err as Error).message}`, { subject: s });
      }
    } else if ('hosts' in s) {
      e = { hosts: [...s.hosts], port: s.port };
    } else {
      e = { hosts: [s.host], port: s.port ?? DEFAULT_TRACKER_PORT };
    }
    if (e.hosts.length === 0) throw new FdfsError('EINVAL', 'tracker entry without an address');
    seen.set(entryKey(e), e);
  }
  return [...seen.values()].sort((a, b) => {
    if (a.hosts.length !== b.hosts.length) return a.hosts.length - b.hosts.length;
    for (let i = 0; i < a.hosts.length; i++) {
      const c = compareBytes(a.hosts[i]!, b.hosts[i]!);
      if (c !== 0) return c;
    }
    return a.port - b.port;
  });
}

function groupBody(group: string): Buffer {
  if (!/^[A-Za-z0-9]{1,16}$/.test(group)) throw new FdfsError('EINVAL', 'invalid group name', { subject: group });
  return encodeGroupBody(group);
}

function decodeOr<T>(what: string, subject: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new FdfsError('EPROTO', `malformed ${what} response: ${(err as Error).message}`, { subject });
  }
}

/**
 * The trackers of one cluster. Each call takes the tracker at the cursor (or the next that
 * connects) and moves the cursor past it, so successive operations rotate over the trackers
 * (§1.4 point 2). Failover happens only when connecting (§1.4 point 4).
 */
export class TrackerClient {
  readonly entries: TrackerEntry[];
  #cursor = 0;
  /** Index into an entry's hosts of the address that connected last time (§1.4 point 3). */
  readonly #lastHost = new Map<TrackerEntry, number>();

  readonly #log: Logger;

  constructor(specs: readonly TrackerSpec[], readonly pool: ConnectionPool, log: Logger = silentLogger) {
    this.#log = log;
    this.entries = normalizeTrackers(specs);
    if (this.entries.length === 0) throw new FdfsError('EINVAL', 'no tracker server given');
  }

  /** "ip:port" of every tracker address, in the order they are tried. */
  get addresses(): string[] {
    return this.entries.flatMap((e) => e.hosts.map((h) => formatAddress(h, e.port)));
  }

  /**
   * Run fn on a connection to the first tracker that connects, starting at the cursor (shared
   * order and failover: lib/net/tracker-calls.ts). A tracker that cannot be reached, or (for an
   * idempotent query) whose connection dies or times out under the request, is given up for the
   * next one, with one log line.
   */
  async withTracker<T>(fn: (conn: ClientConnection) => Promise<T>,
    opts: { idempotent?: boolean; subject?: string; askOthersOn?: readonly string[] } = {}): Promise<T> {
    const idempotent = opts.idempotent ?? true;
    const { value } = await tryTrackers(this.entries, async (entry, idx) => {
      const first = this.#lastHost.get(entry) ?? 0;
      let lease;
      let failure: FdfsError | undefined;
      for (let k = 0; k < entry.hosts.length && !lease; k++) {
        const hi = (first + k) % entry.hosts.length;
        try {
          lease = await this.pool.acquire(entry.hosts[hi]!, entry.port);
          this.#lastHost.set(entry, hi);
        } catch (err) {
          failure = connectError(err, formatAddress(entry.hosts[hi]!, entry.port), 'tracker');
        }
      }
      if (!lease) throw failure!;
      this.#cursor = (idx + 1) % this.entries.length;
      try {
        return await this.pool.use(lease, fn, { idempotent, subject: opts.subject });
      } catch (err) {
        // Only a query may be repeated elsewhere: an admin command may have taken effect.
        throw idempotent ? err : Object.assign(toFdfsError(err), { final: true });
      }
    }, {
      start: this.#cursor,
      moveOn: (e) => !(e as { final?: boolean }).final && (isUnreachable(e) || (opts.askOthersOn?.includes(e.code) ?? false)),
      onMoveOn: (failed, e, next) => this.#log('warn', `tracker ${trackerLine(failed)}: ${e.code}, trying ${trackerLine(next)}`),
    });
    return value;
  }

  /** One request with a small reply on some tracker. */
  request(cmd: number, body: Buffer | Buffer[] = [], subject?: string, idempotent = true): Promise<Buffer> {
    return this.withTracker((conn) => conn.request(cmd, body, { subject }), { idempotent, subject });
  }

  /**
   * A store/fetch query (101–107). ENOENT ("no storage available") and ENOSPC also ask the next
   * tracker: a tracker that just (re)started knows its storages only after their next JOIN, beat
   * and disk report, while its peers already do. When every tracker says so, the first answer is
   * the error.
   */
  #query(cmd: number, body: Buffer | Buffer[], subject?: string): Promise<Buffer> {
    return this.withTracker((conn) => conn.request(cmd, body, { subject }), { subject, askOthersOn: ['ENOENT', 'ENOSPC'] });
  }

  /** Run fn once on every tracker (93 goes to all of them, §2.7); results in entry order. */
  async onEveryTracker<T>(fn: (conn: ClientConnection) => Promise<T>): Promise<Array<{ address: string; value?: T; error?: FdfsError }>> {
    const out: Array<{ address: string; value?: T; error?: FdfsError }> = [];
    for (const e of this.entries) {
      const address = formatAddress(e.hosts[this.#lastHost.get(e) ?? 0]!, e.port);
      let done = false;
      let error: FdfsError | undefined;
      for (const host of e.hosts) {
        try {
          const value = await this.pool.run(host, e.port, fn, { role: 'tracker' });
          out.push({ address: formatAddress(host, e.port), value });
          done = true;
          break;
        } catch (err) {
          error = toFdfsError(err, formatAddress(host, e.port));
          // A status from a tracker that answered is final; only a failed connect tries the other address.
          if (!['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(error.code)) break;
        }
      }
      if (!done) out.push({ address, error });
    }
    return out;
  }

  // ---- §2.1 query store ----

  /** 101 (any group) or 104 (given group): where to upload. */
  async queryStore(group?: string): Promise<StoreTarget> {
    const body = group === undefined ? [] : groupBody(group);
    const cmd = group === undefined ? CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE : CMD.SERVICE_QUERY_STORE_WITH_GROUP_ONE;
    const reply = await this.#query(cmd, body, group);
    return decodeOr('query-store', group ?? 'tracker', () => decodeStoreOneResponse(reply));
  }

  /** 106 / 107: every writable storage of the chosen group. */
  async queryStoreAll(group?: string): Promise<StoreTargets> {
    const body = group === undefined ? [] : groupBody(group);
    const cmd = group === undefined ? CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ALL : CMD.SERVICE_QUERY_STORE_WITH_GROUP_ALL;
    const reply = await this.#query(cmd, body, group);
    return decodeOr('query-store-all', group ?? 'tracker', () => decodeStoreAllResponse(reply));
  }

  // ---- §2.2 query fetch / update ----

  async #fileQuery(cmd: number, group: string, logicName: string): Promise<StorageAddress[]> {
    const subject = `${group}/${logicName}`;
    const reply = await this.#query(cmd, encodeFileRequest(group, logicName), subject);
    const t = decodeOr('query-fetch', subject, () => decodeFetchResponse(reply));
    if (t.servers.length === 0) throw new FdfsError('ENOENT', 'no storage server returned', { subject });
    return t.servers;
  }

  /** 102: a storage to download / query from. */
  async queryFetch(group: string, logicName: string): Promise<StorageAddress> {
    return (await this.#fileQuery(CMD.SERVICE_QUERY_FETCH_ONE, group, logicName))[0]!;
  }

  /** 103: the storage to change the file on (its source, §8.4). */
  async queryUpdate(group: string, logicName: string): Promise<StorageAddress> {
    return (await this.#fileQuery(CMD.SERVICE_QUERY_UPDATE, group, logicName))[0]!;
  }

  /** 105: every storage that can serve the file. */
  queryFetchAll(group: string, logicName: string): Promise<StorageAddress[]> {
    return this.#fileQuery(CMD.SERVICE_QUERY_FETCH_ALL, group, logicName);
  }

  // ---- §2.5, §2.6 listings ----

  /** 91: every group, sorted by name. */
  async listGroups(): Promise<GroupStat[]> {
    const reply = await this.request(CMD.SERVER_LIST_ALL_GROUPS);
    return decodeOr('list-groups', 'tracker', () => decodeGroupStats(reply));
  }

  /** 90: one group. */
  async listGroup(group: string): Promise<GroupStat> {
    const reply = await this.request(CMD.SERVER_LIST_ONE_GROUP, groupBody(group), group);
    return decodeOr('list-group', group, () => {
      const all = decodeGroupStats(reply);
      if (all.length !== 1) throw new RangeError(`${all.length} records`);
      return all[0]!;
    });
  }

  /** 92: the storages of a group (or the one with the given id), sorted by id. */
  async listStorages(group: string, id?: string): Promise<StorageStatRecord[]> {
    groupBody(group);
    if (id !== undefined && (id.length === 0 || id.length > 15)) throw new FdfsError('EINVAL', 'storage id must be 1..15 bytes', { subject: id });
    const subject = id === undefined ? group : `${group} ${id}`;
    const reply = await this.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(group, id), subject);
    if (reply.length === 0) return [];
    return decodeOr('list-storage', subject, () => decodeStorageStatRecords(reply));
  }

  // ---- §2.7 admin ----

  /**
   * 93 on every tracker, like the reference client: refused with EBUSY while any tracker lists
   * the storage as ONLINE/ACTIVE; succeeds when at least one tracker deleted it.
   */
  async deleteStorage(group: string, id: string): Promise<void> {
    const subject = `${group} ${id}`;
    const listed = await this.onEveryTracker((conn) => conn.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(group, id), { subject }));
    for (const r of listed) {
      if (!r.value) continue;
      const recs = decodeOr('list-storage', subject, () => decodeStorageStatRecords(r.value!));
      // 6 ONLINE, 7 ACTIVE (§4.0)
      if (recs.some((s) => s.status === 6 || s.status === 7)) throw new FdfsError('EBUSY', `storage is online on tracker ${r.address}`, { subject });
    }
    const body = Buffer.concat([groupBody(group), Buffer.from(id, 'latin1')]);
    const results = await this.onEveryTracker((conn) => conn.request(CMD.SERVER_DELETE_STORAGE, body, { subject }));
    if (results.some((r) => r.value !== undefined)) return;
    throw results.find((r) => r.error && r.error.code !== 'ENOENT')?.error ?? results[0]?.error
      ?? new FdfsError('ENOENT', 'storage not found', { subject });
  }

  /** 108: remove an empty group. */
  async deleteGroup(group: string): Promise<void> {
    const body = fixed(group, GROUP_NAME_LEN);
    groupBody(group);
    await this.request(CMD.SERVER_DELETE_GROUP, body, group, false);
  }

  /** 94: only the leader answers; the others say EOPNOTSUPP and the next tracker is asked (§2.7). */
  async setTrunkServer(group: string, id?: string): Promise<string> {
    const body = Buffer.concat([groupBody(group), Buffer.from(id ?? '', 'latin1')]);
    let last: FdfsError | undefined;
    for (let i = 0; i < this.entries.length; i++) {
      try {
        const reply = await this.request(CMD.SERVER_SET_TRUNK_SERVER, body, group, false);
        const nul = reply.indexOf(0);
        return reply.toString('latin1', 0, nul < 0 ? reply.length : nul);
      } catch (err) {
        last = toFdfsError(err, group);
        if (last.code !== 'EOPNOTSUPP') throw last;
      }
    }
    throw last!;
  }

  // ---- §2.8 monitoring ----

  /** 95: "ip:port" of the leader. */
  async getLeader(): Promise<string> {
    return (await this.request(CMD.SERVER_GET_LEADER)).toString('latin1');
  }

  /**
   * Every configured tracker as the cluster sees it: reachable or not, the leader it names (95),
   * and from the leader's 96 its role, version and start time. Never throws: an unreachable
   * tracker is a row with `reachable: false`.
   */
  async trackerStatuses(): Promise<TrackerStatus[]> {
    const rows = await Promise.all(this.entries.map(async (e): Promise<TrackerStatus> => {
      let address = formatAddress(e.hosts[0]!, e.port);
      let error: string | undefined;
      for (const host of e.hosts) {
        address = formatAddress(host, e.port);
        try {
          const leader = (await this.pool.run(host, e.port, (conn) => conn.request(CMD.SERVER_GET_LEADER), { role: 'tracker' })).toString('latin1');
          return { address, reachable: true, leader, role: 'follower' };
        } catch (err) {
          const fe = toFdfsError(err, address);
          // An answer (ENOENT: no leader yet) still means the tracker is up.
          if (!isUnreachable(fe)) return { address, reachable: true, leader: null, role: 'unknown' };
          error = fe.code;
        }
      }
      return { address, reachable: false, leader: null, role: 'unknown', error };
    }));
    const votes = new Map<string, number>();
    for (const r of rows) if (r.leader) votes.set(r.leader, (votes.get(r.leader) ?? 0) + 1);
    const leader = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    let stats: TrackerStat[] = [];
    if (leader) stats = await this.trackerClusterStat().catch(() => []);
    for (const r of rows) {
      if (r.reachable && r.leader) r.role = r.address === r.leader ? 'leader' : 'follower';
      const st = stats.find((x) => x.host === r.address);
      if (st) {
        r.version = st.version;
        if (st.upTime > 0) r.upSince = st.upTime;
      }
    }
    return rows;
  }

  /** 96 (answered by the leader only: asks the leader named by 95 when it is one of ours). */
  async trackerClusterStat(filter: TrackerClusterFilter = {}): Promise<TrackerStat[]> {
    const body = encodeTrackerClusterStatRequest(filter);
    const reply = await this.#onLeader(CMD.SERVER_TRACKER_CLUSTER_STAT, body);
    return decodeOr('tracker-cluster-stat', 'tracker', () => decodeTrackerClusterStat(reply));
  }

  /** 97: every storage of the cluster. */
  async storageClusterStat(filter: StorageClusterFilter = {}): Promise<StorageClusterStat> {
    const reply = await this.request(CMD.SERVER_STORAGE_CLUSTER_STAT, encodeStorageClusterStatRequest(filter));
    return decodeOr('storage-cluster-stat', 'tracker', () => decodeStorageClusterStat(reply));
  }

  /** 98: space per group. */
  async volumeStat(filter: VolumeFilter = {}): Promise<VolumeStat> {
    const reply = await this.request(CMD.SERVER_STORAGE_VOLUMN_STAT, encodeVolumeStatRequest(filter));
    return decodeOr('volume-stat', 'tracker', () => decodeVolumeStat(reply));
  }

  async #onLeader(cmd: number, body: Buffer): Promise<Buffer> {
    try {
      return await this.request(cmd, body);
    } catch (err) {
      const e = toFdfsError(err);
      if (e.code !== 'EOPNOTSUPP') throw e;
    }
    const leader = await this.getLeader();
    const i = leader.lastIndexOf(':');
    const host = leader.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(leader.slice(i + 1));
    return this.pool.run(host, port, (conn) => conn.request(cmd, body, { subject: leader }), { idempotent: true, role: 'tracker' });
  }

  // ---- parameters and storage ids (load_fdfs_parameters_from_tracker, §9.3) ----

  /** 75: the tracker's parameters (use_storage_id, id_type_in_filename, …). */
  async parameters(): Promise<Map<string, string>> {
    return decodeParameters(await this.request(CMD.STORAGE_PARAMETER_REQ));
  }

  /** 69, paged until every entry of storage_ids.conf arrived (§4.13). */
  async fetchStorageIds(): Promise<StorageIdEntry[]> {
    return this.withTracker(async (conn) => {
      const lines = await fetchStorageIdPages((start) => conn.request(CMD.STORAGE_FETCH_STORAGE_IDS, encodeFetchIdsRequest(start, true)), conn.address);
      // The reply lines have the storage_ids.conf syntax (§4.13).
      return decodeOr('fetch-storage-ids', conn.address, () => parseStorageIds(lines.join('\n'), `tracker ${conn.address}`));
    });
  }
}
