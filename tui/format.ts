import { storageStatusName } from '../lib/protocol/codes.ts';
import { STAT_COUNTERS, type StorageStatRecord } from '../lib/protocol/records.ts';
import type { GroupSnap, Snapshot, TrackerSnap } from './snapshot.ts';
import {
  availMb, formatDuration, formatMb, formatTime, heartbeatAge, rwModeText, snapshotSeconds, storageAddress,
  syncLag, syncLags, whyNotActive,
} from './derive.ts';

// `fdfs monitor --once`: the snapshot as text grouped like fdfs_monitor's dump (trackers, then
// each group and its storages) but in words, and as JSON for scripts. Pure: snapshot in, text out.

/** A text bar of `fraction` filled, `width` cells: "█████░░░░░" (or "#####....." in ASCII). */
export function bar(fraction: number, width: number, ascii = false): string {
  const w = Math.max(0, Math.floor(width));
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * w);
  return (ascii ? '#' : '█').repeat(full) + (ascii ? '.' : '░').repeat(w - full);
}

/** Fraction of the group's space in use (0 when the size is unknown). */
export function usedFraction(totalMb: number, freeMb: number): number {
  return totalMb > 0 ? (totalMb - freeMb) / totalMb : 0;
}

export function lagText(lag: number | null | undefined): string {
  if (lag === undefined) return '-';
  if (lag === null) return 'never';
  return formatDuration(lag);
}

function trackerLine(t: TrackerSnap, nowS: number): string {
  const role = t.isLeader ? 'leader' : t.reachable ? 'follower' : '';
  const parts = [t.address.padEnd(22), role.padEnd(8), t.reachable ? 'reachable' : 'UNREACHABLE'];
  if (t.latencyMs !== undefined) parts.push(`${t.latencyMs} ms`);
  if (t.stat) {
    parts.push(t.stat.version);
    if (t.stat.upTime > 0) parts.push(`up since ${formatTime(t.stat.upTime, nowS)}`);
  }
  if (!t.configured) parts.push('(listed by the leader)');
  if (t.error) parts.push(`- ${t.error}`);
  return `  ${parts.join('  ').trimEnd()}`;
}

function counterPairs(s: StorageStatRecord): string[] {
  // total_X / success_X pairs, shown as "X total/ok"; all 19 pairs, as fdfs_monitor shows them all.
  const out: string[] = [];
  for (let i = 0; i < STAT_COUNTERS.length; i += 2) {
    const name = STAT_COUNTERS[i]!.replace(/^total_/, '');
    out.push(`${name} ${s.stat.counters[STAT_COUNTERS[i]!]}/${s.stat.counters[STAT_COUNTERS[i + 1]!]}`);
  }
  return out;
}

function storageBlock(g: GroupSnap, s: StorageStatRecord, index: number, nowS: number): string[] {
  const lines: string[] = [];
  const idText = s.id === s.ip_addr ? s.id : `${s.id} (${s.ip_addr})`;
  lines.push(`  Storage ${index}: ${idText}  ${storageAddress(s)}  ${storageStatusName(s.status)}  ${rwModeText(s.rw_mode)}${s.if_trunk_server ? '  trunk server' : ''}`);
  const why = whyNotActive(g, s, nowS);
  if (why) lines.push(`    why not ACTIVE: ${why}`);
  const age = heartbeatAge(s, nowS);
  lines.push(`    version ${s.version || '?'}, joined ${formatTime(s.join_time, nowS)}, ${s.up_time > 0 ? `up since ${formatTime(s.up_time, nowS)}` : 'not connected'}`);
  lines.push(`    heartbeat ${age === null ? 'never' : `${formatDuration(age)} ago`}, free ${formatMb(s.free_mb)} of ${formatMb(s.total_mb)}, available ${formatMb(availMb(s.free_mb, s.reserved_mb))}`);
  lines.push(`    store paths ${s.store_path_count}, write path ${s.current_write_path}, subdirs ${s.subdir_count_per_path}, upload priority ${s.upload_priority}${s.src_id ? `, sync source ${s.src_id}` : ''}`);
  const lags = syncLags(g, s);
  if (lags.length) lines.push(`    sync lag: ${lags.map((l) => `${l.peer} ${lagText(l.seconds)}`).join(', ')}`);
  lines.push(`    last source update ${formatTime(s.stat.last_source_update, nowS)}, last sync update ${formatTime(s.stat.last_sync_update, nowS)}, synced up to ${formatTime(s.stat.last_synced_timestamp, nowS)}`);
  const c = s.stat.connection;
  lines.push(`    connections ${c.current_count} now, ${c.max_count} max, ${c.alloc_count} allocated`);
  const pairs = counterPairs(s);
  for (let i = 0; i < pairs.length; i += 5) lines.push(`    ${pairs.slice(i, i + 5).join(', ')}`);
  return lines;
}

function groupBlock(g: GroupSnap, index: number, nowS: number): string[] {
  const st = g.stat;
  const lines: string[] = [];
  lines.push(`Group ${index}: ${st.group_name}`);
  const writable = st.writable_server_count === 0 ? 'writable 0 (NO WRITABLE MEMBER: uploads fail)' : `writable ${st.writable_server_count}`;
  lines.push(`  members ${st.storage_count}, readable ${st.readable_server_count}, ${writable}, storage port ${st.storage_port < 0 ? 'mixed' : st.storage_port}`);
  const used = usedFraction(st.total_mb, st.free_mb);
  lines.push(`  space [${bar(used, 20, true)}] ${Math.round(used * 100)}% used: free ${formatMb(st.free_mb)} of ${formatMb(st.total_mb)}, reserve ${formatMb(st.reserved_mb)}, available ${formatMb(availMb(st.free_mb, st.reserved_mb))}`);
  lines.push(`  store paths ${st.store_path_count}, subdirs per path ${st.subdir_count_per_path}, trunk ${st.current_trunk_file_id < 0 ? 'off' : `file id ${st.current_trunk_file_id}, free ${formatMb(st.trunk_free_mb)}`}`);
  if (g.error) lines.push(`  storages unavailable: ${g.error}`);
  g.storages.forEach((s, i) => {
    lines.push('');
    lines.push(...storageBlock(g, s, i + 1, nowS));
  });
  return lines;
}

/** The plain-text snapshot of `fdfs monitor --once`. */
export function formatSnapshotText(snap: Snapshot): string {
  const nowS = snapshotSeconds(snap);
  const lines: string[] = [];
  lines.push(`fdfs monitor snapshot, ${new Date(snap.at).toISOString()}`);
  lines.push(`leader: ${snap.leader ?? 'unknown'}${snap.source ? `; lists from ${snap.source}` : ''}`);
  lines.push('');
  lines.push(`Trackers (${snap.trackers.length}):`);
  for (const t of snap.trackers) lines.push(trackerLine(t, nowS));
  lines.push('');
  if (snap.groupsError) {
    lines.push(`Groups: unavailable (${snap.groupsError})`);
  } else {
    lines.push(`Groups (${snap.groups.length}):`);
    snap.groups.forEach((g, i) => {
      lines.push('');
      lines.push(...groupBlock(g, i + 1, nowS));
    });
  }
  return lines.join('\n') + '\n';
}

// ---- JSON (documented in tui/README.md; fields are only ever added) ----

export const SNAPSHOT_JSON_VERSION = 1;

function storageJson(g: GroupSnap, s: StorageStatRecord, nowS: number): Record<string, unknown> {
  const lag = syncLag(g, s);
  return {
    id: s.id,
    ip: s.ip_addr,
    port: s.storage_port,
    address: storageAddress(s),
    status: storageStatusName(s.status),
    statusCode: s.status,
    why: whyNotActive(g, s, nowS),
    rwMode: rwModeText(s.rw_mode),
    syncSource: s.src_id || null,
    version: s.version,
    joinTime: s.join_time,
    upTime: s.up_time,
    lastHeartbeat: s.stat.last_heart_beat_time,
    heartbeatAgeSec: heartbeatAge(s, nowS),
    totalMb: s.total_mb,
    freeMb: s.free_mb,
    reservedMb: s.reserved_mb,
    availMb: availMb(s.free_mb, s.reserved_mb),
    uploadPriority: s.upload_priority,
    storePathCount: s.store_path_count,
    subdirCountPerPath: s.subdir_count_per_path,
    currentWritePath: s.current_write_path,
    isTrunkServer: s.if_trunk_server,
    lastSourceUpdate: s.stat.last_source_update,
    lastSyncUpdate: s.stat.last_sync_update,
    lastSyncedTimestamp: s.stat.last_synced_timestamp,
    syncLagSec: lag === undefined ? null : lag,
    syncLag: syncLags(g, s),
    connections: { alloc: s.stat.connection.alloc_count, current: s.stat.connection.current_count, max: s.stat.connection.max_count },
    counters: { ...s.stat.counters },
  };
}

/** The object printed by `fdfs monitor --once --json` (shape: tui/README.md). */
export function snapshotJson(snap: Snapshot): Record<string, unknown> {
  const nowS = snapshotSeconds(snap);
  return {
    version: SNAPSHOT_JSON_VERSION,
    time: new Date(snap.at).toISOString(),
    timestamp: nowS,
    leader: snap.leader ?? null,
    source: snap.source ?? null,
    useStorageId: snap.cluster?.useStorageId ?? null,
    useTrunkFile: snap.cluster?.useTrunkFile ?? null,
    error: snap.groupsError ?? null,
    trackers: snap.trackers.map((t) => ({
      address: t.address,
      configured: t.configured,
      reachable: t.reachable,
      isLeader: t.isLeader,
      leader: t.leader === undefined || t.leader === '' ? null : t.leader,
      latencyMs: t.latencyMs ?? null,
      version: t.stat?.version ?? null,
      startTime: t.stat?.upTime ?? null,
      error: t.error ?? null,
    })),
    groups: snap.groups.map((g) => ({
      name: g.stat.group_name,
      totalMb: g.stat.total_mb,
      freeMb: g.stat.free_mb,
      reservedMb: g.stat.reserved_mb,
      availMb: availMb(g.stat.free_mb, g.stat.reserved_mb),
      trunkFreeMb: g.stat.trunk_free_mb,
      storageCount: g.stat.storage_count,
      readableCount: g.stat.readable_server_count,
      writableCount: g.stat.writable_server_count,
      storagePort: g.stat.storage_port,
      storePathCount: g.stat.store_path_count,
      subdirCountPerPath: g.stat.subdir_count_per_path,
      currentWriteServer: g.stat.current_write_server,
      currentTrunkFileId: g.stat.current_trunk_file_id,
      diskAvailable: g.volume ? g.volume.isDiskAvailable : null,
      error: g.error ?? null,
      storages: g.storages.map((s) => storageJson(g, s, nowS)),
    })),
  };
}

export function formatSnapshotJson(snap: Snapshot): string {
  return JSON.stringify(snapshotJson(snap), null, 2) + '\n';
}
