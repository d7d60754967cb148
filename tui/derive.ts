import { STORAGE_STATUS, storageStatusName } from '../lib/protocol/codes.ts';
import type { StorageStatRecord } from '../lib/protocol/records.ts';
import { storageKey, type GroupSnap, type Snapshot } from './snapshot.ts';

// Facts computed from snapshots, not asked of the tracker: rates, sync lag, the reason a storage
// is not ACTIVE, and the events between two polls. Pure functions: snapshots in, values out.

const S = STORAGE_STATUS;

/** Snapshot time in Unix seconds (the unit of every timestamp the tracker sends). */
export function snapshotSeconds(snap: Snapshot): number {
  return Math.floor(snap.at / 1000);
}

// ---- durations and sizes in words ----

export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** MB counts as the tracker reports them (MiB), in the largest unit that keeps 3 digits. */
export function formatMb(mb: number): string {
  if (mb < 1024) return `${mb} MB`;
  if (mb < 1024 * 1024) return `${(mb / 1024).toFixed(1)} GB`;
  return `${(mb / 1024 / 1024).toFixed(1)} TB`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

/** Local wall-clock time of a Unix timestamp, "HH:MM:SS" (with the date when not today). */
export function formatTime(unix: number, nowUnix: number): string {
  if (!unix) return 'never';
  const d = new Date(unix * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date(nowUnix * 1000);
  if (d.toDateString() === today.toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

// ---- per-storage facts ----

export function rwModeText(mode: number): 'rw' | 'r' | 'w' | 'none' {
  // §2.6: 0 none, 2 write-only, 4 read-only, 6 both.
  const w = (mode & 2) !== 0;
  const r = (mode & 4) !== 0;
  return r && w ? 'rw' : r ? 'r' : w ? 'w' : 'none';
}

export function storageAddress(s: StorageStatRecord): string {
  return s.ip_addr.includes(':') && !s.ip_addr.includes(',') ? `[${s.ip_addr}]:${s.storage_port}` : `${s.ip_addr}:${s.storage_port}`;
}

/** Seconds since the last heartbeat the tracker saw; null if it never saw one. */
export function heartbeatAge(s: StorageStatRecord, nowSec: number): number | null {
  const t = s.stat.last_heart_beat_time;
  return t > 0 ? Math.max(0, nowSec - t) : null;
}

export function availMb(freeMb: number, reservedMb: number): number {
  return Math.max(0, freeMb - reservedMb);
}

/** Members that take part in sync: not removed, not a stale record of a moved IP. */
function isPeer(s: StorageStatRecord): boolean {
  return s.status !== S.DELETED && s.status !== S.IP_CHANGED && s.status !== S.NONE;
}

export interface PeerLag {
  peer: string;
  /** Seconds behind that peer's latest change; null: the peer has data and nothing was synced yet. */
  seconds: number | null;
}

/**
 * How far `s` is behind each peer. PROTOCOL.md §2.6: sync delay = max(last_source_update in
 * group) − last_synced_timestamp. Taken per peer (and without `s` itself, whose own uploads need
 * no sync) so the operator sees which peer it lags. last_synced_timestamp is the minimum over the
 * sources that report (§7.3), so per-peer figures are upper bounds.
 */
export function syncLags(g: GroupSnap, s: StorageStatRecord): PeerLag[] {
  const out: PeerLag[] = [];
  for (const p of g.storages) {
    if (p.id === s.id || !isPeer(p)) continue;
    const src = p.stat.last_source_update;
    const synced = s.stat.last_synced_timestamp;
    if (src <= 0) out.push({ peer: p.id, seconds: 0 });
    else if (synced <= 0) out.push({ peer: p.id, seconds: null });
    else out.push({ peer: p.id, seconds: Math.max(0, src - synced) });
  }
  return out;
}

/** The worst lag over peers: a number, null for "never synced", undefined when there are no peers. */
export function syncLag(g: GroupSnap, s: StorageStatRecord): number | null | undefined {
  const lags = syncLags(g, s);
  if (lags.length === 0) return undefined;
  if (lags.some((l) => l.seconds === null)) return null;
  return Math.max(...lags.map((l) => l.seconds!));
}

function peerName(g: GroupSnap, id: string): string {
  const p = g.storages.find((x) => x.id === id);
  if (!p) return id;
  return p.ip_addr && p.ip_addr !== id ? `${id} (${p.ip_addr})` : id;
}

function sourceState(g: GroupSnap, id: string): string {
  const p = g.storages.find((x) => x.id === id);
  if (!p) return ', which the tracker does not list';
  return p.status === S.ACTIVE ? '' : `, which is ${storageStatusName(p.status)}`;
}

/**
 * Why a storage is not ACTIVE, in the words an operator needs (null when it is ACTIVE). The
 * question fdfs_monitor leaves open: whom a new member waits for and how far its copy has come,
 * and how long an OFFLINE one has been silent. Status meanings: PROTOCOL.md §4.0, §8.5.
 */
export function whyNotActive(g: GroupSnap, s: StorageStatRecord, nowSec: number): string | null {
  switch (s.status) {
    case S.ACTIVE:
      return null;
    case S.WAIT_SYNC: {
      if (!s.src_id) return 'new member; no sync source assigned yet';
      return `waiting for ${peerName(g, s.src_id)} to start copying old data${sourceState(g, s.src_id)}`;
    }
    case S.SYNCING: {
      const src = s.src_id ? peerName(g, s.src_id) : 'its sync source';
      return `${src} is copying old data: ${syncProgress(g, s, nowSec)}${s.src_id ? sourceState(g, s.src_id) : ''}`;
    }
    case S.OFFLINE: {
      const age = heartbeatAge(s, nowSec);
      if (age === null) return 'offline; the tracker never received a heartbeat';
      const conn = s.up_time === 0 ? 'disconnected; ' : '';
      return `offline: ${conn}no heartbeat for ${formatDuration(age)} (last at ${formatTime(s.stat.last_heart_beat_time, nowSec)})`;
    }
    case S.ONLINE:
      return 'joined; waiting for its first heartbeat to become ACTIVE';
    case S.INIT:
      return 'joined; not initialised yet (no sync-destination request so far)';
    case S.DELETED:
      return 'deleted by an administrator; it rejoins if it reconnects';
    case S.IP_CHANGED:
      return 'old record: this storage came back with another IP address';
    case S.RECOVERY:
      return `rebuilding a lost store path from ${s.src_id ? peerName(g, s.src_id) : 'a peer'}`;
    default:
      return `status ${storageStatusName(s.status)}`;
  }
}

/**
 * Progress of the initial copy (§8.5): the source replays its binlog up to the moment the new
 * member asked (≈ its join time). The member's last_synced_timestamp says how far the replay has
 * come; the source's join time is where its binlog starts.
 */
export function syncProgress(g: GroupSnap, s: StorageStatRecord, nowSec: number): string {
  const synced = s.stat.last_synced_timestamp;
  const recv = s.stat.last_sync_update;
  const recvText = recv > 0 ? `, last file received ${formatDuration(Math.max(0, nowSec - recv))} ago` : '';
  if (synced <= 0) return `no record confirmed yet${recvText}`;
  const src = g.storages.find((x) => x.id === s.src_id);
  const until = s.join_time;
  const start = src?.join_time ?? 0;
  let pct = '';
  if (start > 0 && until > start) {
    const p = Math.min(100, Math.max(0, Math.floor(((synced - start) / (until - start)) * 100)));
    pct = ` (~${p}%)`;
  }
  return `copied up to ${formatTime(synced, nowSec)} of ${formatTime(until, nowSec)}${pct}${recvText}`;
}

// ---- rates from counter deltas ----

export interface CounterSample {
  /** Tracker time of the heartbeat that carried these counters. */
  hb: number;
  writes: number;
  writeBytes: number;
  reads: number;
  readBytes: number;
}

/** Per storage (storageKey), samples at distinct heartbeat times, oldest first. */
export type RateHistory = ReadonlyMap<string, readonly CounterSample[]>;

export interface Rates {
  /** Uploads + appends + modifies per second (successful). */
  writeOps: number;
  writeBytes: number;
  /** Downloads per second (successful). */
  readOps: number;
  readBytes: number;
  /** Seconds the rates are averaged over. */
  span: number;
}

const MAX_SAMPLES = 120;

function sampleOf(s: StorageStatRecord): CounterSample {
  const c = s.stat.counters;
  return {
    hb: s.stat.last_heart_beat_time,
    writes: c.success_upload_count + c.success_append_count + c.success_modify_count,
    writeBytes: c.success_upload_bytes + c.success_append_bytes + c.success_modify_bytes,
    reads: c.success_download_count,
    readBytes: c.success_download_bytes,
  };
}

/**
 * Add the counters of a snapshot to the history. Counters reach the tracker with heartbeats
 * (§4.5), so samples are keyed by the heartbeat time, not by our polling clock: polling faster
 * than the beat would otherwise show bursts and zeros. A counter going down means the storage
 * restarted: its history starts over.
 */
export function recordSamples(history: RateHistory, snap: Snapshot): RateHistory {
  const next = new Map(history);
  for (const g of snap.groups) {
    for (const s of g.storages) {
      const key = storageKey(g.stat.group_name, s.id);
      const sample = sampleOf(s);
      if (sample.hb <= 0) continue;
      const list = history.get(key) ?? [];
      const last = list[list.length - 1];
      if (last && sample.hb <= last.hb) continue;
      const reset = last && (sample.writes < last.writes || sample.reads < last.reads
        || sample.writeBytes < last.writeBytes || sample.readBytes < last.readBytes);
      const grown = reset ? [sample] : [...list, sample];
      next.set(key, grown.length > MAX_SAMPLES ? grown.slice(grown.length - MAX_SAMPLES) : grown);
    }
  }
  return next;
}

/**
 * Average rates over about `windowSec` of heartbeats: from the oldest sample inside the window
 * (or, when beats are sparser than the window, the one before the newest) to the newest.
 */
export function ratesFor(history: RateHistory, key: string, windowSec = 30): Rates | null {
  const list = history.get(key);
  if (!list || list.length < 2) return null;
  const newest = list[list.length - 1]!;
  let from = list[list.length - 2]!;
  for (let i = list.length - 2; i >= 0; i--) {
    if (newest.hb - list[i]!.hb > windowSec) break;
    from = list[i]!;
  }
  const span = newest.hb - from.hb;
  if (span <= 0) return null;
  return {
    writeOps: (newest.writes - from.writes) / span,
    writeBytes: (newest.writeBytes - from.writeBytes) / span,
    readOps: (newest.reads - from.reads) / span,
    readBytes: (newest.readBytes - from.readBytes) / span,
    span,
  };
}

export function formatRate(ops: number, bytes: number): string {
  if (ops === 0 && bytes === 0) return '0/s';
  const o = ops >= 10 ? ops.toFixed(0) : ops.toFixed(1);
  return `${o}/s ${formatBytes(bytes)}/s`;
}

// ---- events between polls ----

export type EventLevel = 'info' | 'ok' | 'warn' | 'error';

export interface MonitorEvent {
  /** Local clock, ms. */
  at: number;
  level: EventLevel;
  text: string;
}

function statusLevel(status: number): EventLevel {
  if (status === S.ACTIVE) return 'ok';
  if (status === S.OFFLINE || status === S.DELETED || status === S.IP_CHANGED) return 'error';
  return 'warn';
}

/** What changed from one poll to the next, in the order an operator reads it. */
export function diffEvents(prev: Snapshot | undefined, cur: Snapshot): MonitorEvent[] {
  const at = cur.at;
  const ev = (level: EventLevel, text: string): MonitorEvent => ({ at, level, text });
  if (!prev) {
    const n = cur.groups.reduce((a, g) => a + g.storages.length, 0);
    const up = cur.trackers.filter((t) => t.configured && t.reachable).length;
    const all = cur.trackers.filter((t) => t.configured).length;
    return [ev(up === all ? 'info' : 'warn', `watching ${all} tracker${all === 1 ? '' : 's'} (${up} reachable), ${cur.groups.length} group${cur.groups.length === 1 ? '' : 's'}, ${n} storage${n === 1 ? '' : 's'}`)];
  }
  const out: MonitorEvent[] = [];
  const prevT = new Map(prev.trackers.map((t) => [t.address, t]));
  for (const t of cur.trackers) {
    const p = prevT.get(t.address);
    if (!p) { out.push(ev('info', `tracker ${t.address} appeared`)); continue; }
    if (p.reachable && !t.reachable) out.push(ev('error', `tracker ${t.address} unreachable${t.error ? `: ${t.error}` : ''}`));
    if (!p.reachable && t.reachable) out.push(ev('ok', `tracker ${t.address} reachable again`));
  }
  if (prev.leader !== cur.leader && (prev.leader || cur.leader)) {
    out.push(ev(cur.leader ? 'warn' : 'error', cur.leader ? `leader is now ${cur.leader}${prev.leader ? ` (was ${prev.leader})` : ''}` : `no leader known (was ${prev.leader})`));
  }
  if (!prev.groupsError && cur.groupsError) out.push(ev('error', `group list unavailable: ${cur.groupsError}`));
  // A failed listing is not a membership change: compare only groups listed both times.
  if (cur.groupsError || prev.groupsError) return out;
  const prevG = new Map(prev.groups.map((g) => [g.stat.group_name, g]));
  for (const g of cur.groups) {
    const name = g.stat.group_name;
    const pg = prevG.get(name);
    if (!pg) { out.push(ev('info', `group ${name} appeared with ${g.storages.length} storage(s)`)); continue; }
    if (pg.stat.writable_server_count > 0 && g.stat.writable_server_count === 0) out.push(ev('error', `${name}: no writable member left`));
    if (pg.stat.writable_server_count === 0 && g.stat.writable_server_count > 0) out.push(ev('ok', `${name}: writable again (${g.stat.writable_server_count})`));
    if (g.error || pg.error) continue;
    const before = new Map(pg.storages.map((s) => [s.id, s]));
    for (const s of g.storages) {
      const p = before.get(s.id);
      const who = `${name} ${s.id}${s.ip_addr && s.ip_addr !== s.id ? ` (${s.ip_addr})` : ''}`;
      if (!p) out.push(ev(statusLevel(s.status), `${who} joined as ${storageStatusName(s.status)}`));
      else if (p.status !== s.status) out.push(ev(statusLevel(s.status), `${who} ${storageStatusName(p.status)} → ${storageStatusName(s.status)}`));
      before.delete(s.id);
    }
    for (const s of before.values()) out.push(ev('warn', `${name} ${s.id} no longer listed`));
  }
  for (const name of prevG.keys()) if (!cur.groups.some((g) => g.stat.group_name === name)) out.push(ev('warn', `group ${name} no longer listed`));
  return out;
}
