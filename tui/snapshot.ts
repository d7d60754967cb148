import { ConnectionPool } from '../lib/client/pool.ts';
import { TrackerClient, type TrackerEntry } from '../lib/client/tracker-client.ts';
import {
  decodeTrackerClusterStat, encodeTrackerClusterStatRequest,
  type StorageClusterStat, type TrackerStat, type VolumeEntry,
} from '../lib/client/monitor-records.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { toFdfsError } from '../lib/protocol/errno.ts';
import { formatAddress } from '../lib/protocol/ip.ts';
import type { GroupStat, StorageStatRecord } from '../lib/protocol/records.ts';

// What the monitor knows about a cluster at one moment, and how it finds out: only the public
// client commands 91, 92, 95, 96, 97, 98 (PROTOCOL.md §2.5, §2.6, §2.8), so a C FastDFS cluster
// can be watched too. Collecting never throws: every failure is recorded where it happened
// (a tracker, a group, the whole listing), so one dead tracker or a half-answered query costs
// one line on the screen, not the monitor.

export type { TrackerEntry } from '../lib/client/tracker-client.ts';

export interface TrackerSnap {
  /** "host:port" as configured (two hosts of one entry: "ip1,ip2:port"). */
  address: string;
  /** False when this tracker is only known from the leader's 96 list, not from our options. */
  configured: boolean;
  /** Answered 95 during this poll. For unconfigured trackers: the leader's is_active flag. */
  reachable: boolean;
  /** "ECONNREFUSED: …" when unreachable or a query failed. */
  error?: string;
  /** This tracker's answer to 95 ("" when it knows no leader: ENOENT). */
  leader?: string;
  /** Answered 96, which only the leader does (§2.8), or named leader by the leader's 96. */
  isLeader: boolean;
  /** Round trip of the 95 request, ms. */
  latencyMs?: number;
  /** This tracker's record in the leader's 96 answer (version, start time, connections). */
  stat?: TrackerStat;
}

export interface GroupSnap {
  stat: GroupStat;
  /** 92 answer, sorted by id; empty when `error` is set. */
  storages: StorageStatRecord[];
  /** The group's 98 entry (avail_mb, disk availability), when 98 answered. */
  volume?: VolumeEntry;
  /** 92 failed on every reachable tracker. */
  error?: string;
}

export interface Snapshot {
  /** Local clock when the poll finished, ms since the epoch. */
  at: number;
  trackers: TrackerSnap[];
  /** "ip:port" of the leader, as the leader (or, failing that, most trackers) says. */
  leader?: string;
  /** The tracker whose 91/92 answers are shown. */
  source?: string;
  groups: GroupSnap[];
  /** 91 failed on every tracker (or none was reachable). */
  groupsError?: string;
  /** From 97: whether the cluster names storages by id and uses trunk files. */
  cluster?: { useStorageId: boolean; useTrunkFile: boolean };
}

export interface CollectOptions {
  /** Seconds per connect attempt. Default 3: a monitor should not hang on a dead host. */
  connectTimeout?: number;
  /** Seconds without progress before a query fails. Default 5. */
  networkTimeout?: number;
  /**
   * Connections to reuse across polls (the hook passes one; kept open between polls). Without
   * it a pool is made for this call and closed at the end.
   */
  pool?: ConnectionPool;
  /** Clock, for tests. */
  now?: () => number;
}

export function entryAddress(e: TrackerEntry): string {
  return e.hosts.length === 1 ? formatAddress(e.hosts[0]!, e.port) : `${e.hosts.join(',')}:${e.port}`;
}

function errorText(err: unknown): string {
  return toFdfsError(err).message;
}

/** Key of a storage across snapshots: ids are unique within a group (§2.6). */
export function storageKey(group: string, id: string): string {
  return `${group}/${id}`;
}

interface Probe {
  snap: TrackerSnap;
  client: TrackerClient;
  trackerStats?: TrackerStat[];
}

async function probe(entry: TrackerEntry, pool: ConnectionPool): Promise<Probe> {
  const client = new TrackerClient([entry], pool);
  const snap: TrackerSnap = { address: entryAddress(entry), configured: true, reachable: false, isLeader: false };
  const out: Probe = { snap, client };
  const t0 = performance.now();
  try {
    snap.leader = await client.getLeader();
    snap.reachable = true;
    snap.latencyMs = Math.round(performance.now() - t0);
  } catch (err) {
    const e = toFdfsError(err);
    // ENOENT is an answer: "no leader known" (§2.8). Anything else means we could not talk to it.
    if (e.code === 'ENOENT') {
      snap.reachable = true;
      snap.leader = '';
      snap.latencyMs = Math.round(performance.now() - t0);
    } else {
      snap.error = e.message;
      return out;
    }
  }
  try {
    // Sent to this tracker only (not TrackerClient.trackerClusterStat, which would follow the
    // leader): answering at all is what tells us this one is the leader.
    const reply = await client.request(CMD.SERVER_TRACKER_CLUSTER_STAT, encodeTrackerClusterStatRequest());
    out.trackerStats = decodeTrackerClusterStat(reply);
    snap.isLeader = true;
  } catch (err) {
    const e = toFdfsError(err);
    if (e.code !== 'EOPNOTSUPP') snap.error = `96: ${e.message}`;
  }
  return out;
}

function sameAddress(a: string, b: string): boolean {
  return a.replace(/^\[|\]/g, '') === b.replace(/^\[|\]/g, '');
}

/** Does the 96 record's host name this configured entry? */
function matches(entry: TrackerEntry, host: string): boolean {
  return entry.hosts.some((h) => sameAddress(formatAddress(h, entry.port), host));
}

/**
 * One poll of the whole cluster. Trackers are probed in parallel (95, then 96); the group listing
 * (91, 92 per group, 97, 98) comes from the leader when it answers, else from the first reachable
 * tracker, moving on to the next tracker when one fails halfway.
 */
export async function collectSnapshot(trackers: readonly TrackerEntry[], opts: CollectOptions = {}): Promise<Snapshot> {
  const now = opts.now ?? Date.now;
  const ownPool = !opts.pool;
  const pool = opts.pool ?? new ConnectionPool({ connectTimeout: opts.connectTimeout ?? 3, networkTimeout: opts.networkTimeout ?? 5 });
  try {
    const probes = await Promise.all(trackers.map((t) => probe(t, pool).catch((err): Probe => ({
      // probe() catches everything it expects; this is the belt to its braces.
      snap: { address: entryAddress(t), configured: true, reachable: false, isLeader: false, error: errorText(err) },
      client: new TrackerClient([t], pool),
    }))));
    const snap: Snapshot = { at: 0, trackers: probes.map((p) => p.snap), groups: [] };

    const leaderProbe = probes.find((p) => p.snap.isLeader);
    if (leaderProbe) {
      snap.leader = leaderProbe.snap.leader || undefined;
      if (!snap.leader) {
        const self = leaderProbe.trackerStats?.find((s) => s.isLeader);
        snap.leader = self?.host;
      }
      for (const rec of leaderProbe.trackerStats ?? []) {
        let i = trackers.findIndex((t) => matches(t, rec.host));
        // The leader may know itself by another address than ours for it (a host name, NAT):
        // its own record is the one flagged leader.
        if (i < 0 && rec.isLeader && !leaderProbe.snap.stat) i = probes.indexOf(leaderProbe);
        if (i >= 0) {
          probes[i]!.snap.stat = rec;
          if (rec.isLeader) probes[i]!.snap.isLeader = true;
        } else {
          snap.trackers.push({ address: rec.host, configured: false, reachable: rec.isActive, isLeader: rec.isLeader, stat: rec });
        }
      }
    } else {
      // No leader answered 96: go by what the reachable trackers say (most frequent answer).
      const votes = new Map<string, number>();
      for (const p of probes) if (p.snap.leader) votes.set(p.snap.leader, (votes.get(p.snap.leader) ?? 0) + 1);
      snap.leader = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    }

    const order = probes.filter((p) => p.snap.reachable).sort((a, b) => Number(b.snap.isLeader) - Number(a.snap.isLeader));
    await collectGroups(snap, order);
    snap.at = now();
    return snap;
  } catch (err) {
    // Only a bug can get here (every query failure is caught where it happens); still a snapshot.
    return { at: now(), trackers: trackers.map((t) => ({ address: entryAddress(t), configured: true, reachable: false, isLeader: false })),
      groups: [], groupsError: errorText(err) };
  } finally {
    if (ownPool) pool.close();
  }
}

async function collectGroups(snap: Snapshot, order: Probe[]): Promise<void> {
  if (order.length === 0) {
    snap.groupsError = 'no tracker reachable';
    return;
  }
  let groups: GroupStat[] | undefined;
  let sourceIdx = 0;
  const errors: string[] = [];
  for (; sourceIdx < order.length; sourceIdx++) {
    try {
      groups = await order[sourceIdx]!.client.listGroups();
      break;
    } catch (err) {
      errors.push(`${order[sourceIdx]!.snap.address}: ${errorText(err)}`);
    }
  }
  if (!groups) {
    snap.groupsError = `91 failed: ${errors.join('; ')}`;
    return;
  }
  snap.source = order[sourceIdx]!.snap.address;
  // The source first, then the others: a tracker that dies between 91 and 92 costs a retry.
  const askOrder = [order[sourceIdx]!, ...order.filter((_, i) => i !== sourceIdx)];
  for (const stat of groups) {
    const g: GroupSnap = { stat, storages: [] };
    const errs: string[] = [];
    for (const p of askOrder) {
      try {
        g.storages = await p.client.listStorages(stat.group_name);
        g.error = undefined;
        break;
      } catch (err) {
        errs.push(`${p.snap.address}: ${errorText(err)}`);
        g.error = `92 failed: ${errs.join('; ')}`;
      }
    }
    snap.groups.push(g);
  }
  // Extras: nice to have, never worth an error on screen beyond a missing column.
  const source = askOrder[0]!.client;
  try {
    const cs: StorageClusterStat = await source.storageClusterStat();
    snap.cluster = { useStorageId: cs.useStorageId, useTrunkFile: cs.useTrunkFile };
  } catch { /* C trackers before 6.x lack 97 */ }
  try {
    const vs = await source.volumeStat();
    for (const v of vs.groups) {
      const g = snap.groups.find((x) => x.stat.group_name === v.group);
      if (g) g.volume = v;
    }
  } catch { /* likewise 98 */ }
}
