import type { Argv, CommandModule } from 'yargs';
import { querySyncStatus, type PeerSyncStatus } from '../../../lib/client/sync-status.ts';
import { STORAGE_STATUS as ST, storageStatusName } from '../../../lib/protocol/codes.ts';
import { formatAddress } from '../../../lib/protocol/ip.ts';
import type { GroupStat, StorageStatRecord } from '../../../lib/protocol/records.ts';
import type { TrackerStatus } from '../../../lib/client/tracker-client.ts';
import { formatAge, formatMb, printJson, printLine, withClient, withClientOptions, type ClientArgs } from '../../common.ts';

interface ListArgs extends ClientArgs {
  group?: string;
}

const RW: Record<number, string> = { 0: 'none', 2: 'write', 4: 'read', 6: 'rw' };

/**
 * Replication lag of one member in seconds (§2.6, as fdfs_monitor computes it, but against the
 * other members only): the newest change any other member took from a client, minus the second up
 * to which the tracker knows this member holds the others' files (§7.3). null: not known yet (it
 * never reported progress while the others hold data); 0 when nothing is pending.
 */
export function syncLagSeconds(s: StorageStatRecord, group: readonly StorageStatRecord[]): number | null {
  let newest = 0;
  for (const o of group) if (o !== s && o.id !== s.id) newest = Math.max(newest, o.stat.last_source_update);
  if (newest === 0) return 0;
  if (s.stat.last_synced_timestamp <= 0) return null;
  return Math.max(0, newest - s.stat.last_synced_timestamp);
}

/** Storages worth asking for FDFS_SYNC_STATUS (the others are down or not yet replicating). */
const ASKED = new Set<number>([ST.ACTIVE, ST.ONLINE, ST.SYNCING]);

/**
 * FDFS_SYNC_STATUS (122) of every ACTIVE/ONLINE/SYNCING storage, in parallel with short timeouts.
 * Missing from the map (shown as "-"): not asked, unreachable, or a C storage without the extension.
 */
async function syncStatuses(groups: ReadonlyArray<{ group: GroupStat; storages: StorageStatRecord[] }>): Promise<Map<StorageStatRecord, PeerSyncStatus[]>> {
  const out = new Map<StorageStatRecord, PeerSyncStatus[]>();
  const asks: Array<Promise<void>> = [];
  for (const { group, storages } of groups) {
    for (const s of storages) {
      if (!ASKED.has(s.status)) continue;
      const host = s.ip_addr.split(',')[0]!.trim();
      asks.push(querySyncStatus(host, s.storage_port, group.group_name, { connectTimeout: 2, networkTimeout: 3 })
        .then((peers) => { if (peers) out.set(s, peers); }, () => {}));
    }
  }
  await Promise.all(asks);
  return out;
}

/** Records behind of the peer that lacks the most (null: not known). */
function maxRecordsBehind(peers: readonly PeerSyncStatus[] | undefined): number | null {
  if (!peers) return null;
  let max = 0;
  for (const p of peers) max = Math.max(max, p.recordsBehind);
  return max;
}

function storageJson(s: StorageStatRecord, group: readonly StorageStatRecord[], peers: readonly PeerSyncStatus[] | undefined) {
  return {
    ...s, status: storageStatusName(s.status), status_code: s.status, address: formatAddress(s.ip_addr, s.storage_port),
    sync_lag_seconds: syncLagSeconds(s, group),
    // FDFS_SYNC_STATUS (fdfs extension): this storage's binlog not yet pushed to each peer; null
    // when not available (storage not ACTIVE/ONLINE/SYNCING, unreachable, or a FastDFS C storage).
    sync_records_behind_max: maxRecordsBehind(peers),
    sync_peers: peers ? peers.map((p) => ({
      peer_id: p.peerId, peer_status: storageStatusName(p.status), records_behind: p.recordsBehind, bytes_behind: p.bytesBehind,
      last_pushed_timestamp: p.lastPushedTimestamp,
    })) : null,
  };
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** "0s", "12s", "3m"; "?" while the tracker has no progress report from it. */
function lagText(s: StorageStatRecord, group: readonly StorageStatRecord[]): string {
  if (group.length < 2) return '-';
  const lag = syncLagSeconds(s, group);
  return lag === null ? '?' : formatAge(lag);
}

/** Local wall-clock time of a unix second, as HH:MM:SS (the date when it is not today). */
function clock(ts: number): string {
  const d = new Date(ts * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? time : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}

/** The tracker table: address, leader or follower, reachable, up time (§8.6). */
function trackerLines(trackers: readonly TrackerStatus[], now: number): string[] {
  const leader = trackers.find((t) => t.role === 'leader')?.address;
  const head = `trackers: ${trackers.length} (${leader ? `leader ${leader}` : 'no leader known'})`;
  const rows = [['  ADDRESS', 'ROLE', 'REACHABLE', 'UP', 'VERSION']];
  for (const t of trackers) {
    rows.push([`  ${t.address}`, t.reachable ? t.role : '-', t.reachable ? 'yes' : `no (${t.error ?? 'down'})`,
      t.upSince ? formatAge(now - t.upSince) : '-', t.version ?? '-']);
  }
  return [head, ...table(rows)];
}

export const listCommand: CommandModule<any, ListArgs> = {
  command: 'list [group]',
  describe: 'trackers (leader or follower, reachable, up time), groups and their storages: status, address, space, last heartbeat (like fdfs_monitor)',
  builder: (y): Argv<any> => withClientOptions(y).positional('group', { type: 'string', describe: 'only this group' }),
  handler: (argv) => withClient(argv, async (client) => {
    const groups: GroupStat[] = argv.group ? [await client.tracker.listGroup(argv.group)] : await client.listGroups();
    const result: Array<{ group: GroupStat; storages: StorageStatRecord[] }> = [];
    for (const g of groups) result.push({ group: g, storages: await client.listStorages(g.group_name) });
    const [sync, trackers] = await Promise.all([syncStatuses(result), client.tracker.trackerStatuses()]);
    const now = Date.now() / 1000;
    if (argv.json) {
      printJson({
        trackers: trackers.map((t) => ({
          address: t.address, role: t.role, reachable: t.reachable, leader: t.leader, version: t.version ?? null,
          up_since: t.upSince ?? null, up_seconds: t.upSince ? Math.max(0, Math.floor(now - t.upSince)) : null, error: t.error ?? null,
        })),
        groups: result.map((r) => ({ ...r.group, storages: r.storages.map((s) => storageJson(s, r.storages, sync.get(s))) })),
      });
      return;
    }
    for (const line of trackerLines(trackers, now)) printLine(line);
    printLine();
    if (result.length === 0) { printLine('no groups'); return; }
    result.forEach(({ group: g, storages }, n) => {
      if (n > 0) printLine();
      const avail = Math.max(0, g.free_mb - g.reserved_mb);
      printLine(`${g.group_name}: ${g.storage_count} storage${g.storage_count === 1 ? '' : 's'} (${g.readable_server_count} readable, ${g.writable_server_count} writable)`
        + `, free ${formatMb(g.free_mb)} of ${formatMb(g.total_mb)}, ${formatMb(avail)} available above the reserve`
        + (g.storage_port > 0 ? `, port ${g.storage_port}` : ''));
      if (storages.length === 0) return;
      const rows = [['  STATUS', 'ADDRESS', 'ID', 'FREE / TOTAL', 'HEARTBEAT', 'MODE', 'VERSION', 'SYNC LAG', 'SYNCED UP TO', 'SYNC FROM', 'MAX RECS BEHIND']];
      for (const s of storages) {
        const hb = s.stat.last_heart_beat_time > 0 ? `${formatAge(now - s.stat.last_heart_beat_time)} ago` : 'never';
        rows.push([
          `  ${storageStatusName(s.status)}`, formatAddress(s.ip_addr, s.storage_port), s.id,
          `${formatMb(s.free_mb)} / ${formatMb(s.total_mb)}`, hb, RW[s.rw_mode] ?? String(s.rw_mode), s.version,
          lagText(s, storages), s.stat.last_synced_timestamp > 0 ? clock(s.stat.last_synced_timestamp) : '-', s.src_id || '-',
          String(maxRecordsBehind(sync.get(s)) ?? '-'),
        ]);
      }
      for (const line of table(rows)) printLine(line);
    });
  }),
};
