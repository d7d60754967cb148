import { FdfsError } from '../protocol/errno.ts';
import type { ReservedSpace } from '../config/values.ts';

/**
 * The tracker's choices (PROTOCOL.md §8.1–§8.4) as pure functions: records in, choice out.
 * Round-robin cursors are passed in and the next value is returned, so the caller decides when
 * to store it and a test can replay any sequence.
 */

export interface PathSpace {
  totalMb: number;
  freeMb: number;
}

/** What selection needs to know about a storage. */
export interface SelectableStorage {
  id: string;
  uploadPriority: number;
  /** Per store path, from the last disk report (§4.6); empty before the first report. */
  paths: readonly PathSpace[];
  currentWritePath: number;
  /** stat.last_synced_timestamp (§7.3). */
  lastSyncedTimestamp: number;
}

/** What selection needs to know about a group. */
export interface SelectableGroup<S extends SelectableStorage = SelectableStorage> {
  name: string;
  /** Of the member with the least free space (§8.1). */
  freeMb: number;
  totalMb: number;
  trunkFreeMb: number;
  /** ACTIVE members with write permission, sorted by id (§8.2). */
  writable: readonly S[];
  /** ACTIVE members with read permission, sorted by id. */
  readable: readonly S[];
  /** False while no live member has reported its disks yet (after a tracker restart). */
  diskKnown?: boolean;
}

export type StoreLookup = 0 | 1 | 2;
export type StoreServerMode = 0 | 1 | 2;
export type StorePathMode = 0 | 2;

export interface StorePolicy {
  storeLookup: StoreLookup;
  storeGroup: string;
  reserved: ReservedSpace;
  useTrunk: boolean;
}

/** §8.1 reserve check: MB mode `free > reserved`; ratio mode `free/total > ratio` (false if total 0). */
export function hasReserve(freeMb: number, totalMb: number, reserved: ReservedSpace): boolean {
  if (reserved.kind === 'mb') return freeMb > reserved.mb;
  return totalMb > 0 && freeMb / totalMb > reserved.ratio;
}

/** The reserve check of a group on its disk space alone. */
export function groupDiskOk(g: SelectableGroup, reserved: ReservedSpace): boolean {
  // Issue 15: a tracker that has no disk report yet does not know the group is full; refusing
  // with ENOSPC until the first report (right after a restart) refused every upload.
  if (g.diskKnown === false) return true;
  return hasReserve(g.freeMb, g.totalMb, reserved);
}

/** The reserve check counting free trunk space as free (§8.1 "disk+trunk check"). */
export function groupDiskTrunkOk(g: SelectableGroup, reserved: ReservedSpace): boolean {
  return hasReserve(g.freeMb + g.trunkFreeMb, g.totalMb, reserved);
}

/** reserved_mb as GroupStat/StorageStatRecord report it: ratio mode converts against total_mb (§2.5). */
export function reservedMbOf(totalMb: number, reserved: ReservedSpace): number {
  return reserved.kind === 'mb' ? reserved.mb : Math.floor(totalMb * reserved.ratio);
}

function noSpace(group: string): FdfsError {
  return new FdfsError('ENOSPC', 'reserved storage space reached', { subject: group });
}

/**
 * §8.1 for an explicitly named group (104/107 and store_lookup = 1): ENOENT when unknown or without
 * a writable server, ENOSPC when neither the disk nor (trunking) the disk+trunk check passes.
 */
export function checkExplicitGroup(g: SelectableGroup | undefined, name: string, policy: StorePolicy): SelectableGroup {
  if (!g) throw new FdfsError('ENOENT', 'no such group', { subject: name });
  if (g.writable.length === 0) throw new FdfsError('ENOENT', 'no writable storage in the group', { subject: name });
  if (groupDiskOk(g, policy.reserved)) return g;
  if (policy.useTrunk && groupDiskTrunkOk(g, policy.reserved)) return g;
  throw noSpace(name);
}

/**
 * §8.1 store_lookup for 101/106. `groups` are sorted by name; `current` is current_write_group.
 * Returns the chosen index and the next current_write_group.
 */
export function chooseStoreGroup<G extends SelectableGroup>(groups: readonly G[], current: number, policy: StorePolicy): { index: number; nextCurrent: number } {
  if (policy.storeLookup === 1) {
    const index = groups.findIndex((g) => g.name === policy.storeGroup);
    checkExplicitGroup(groups[index], policy.storeGroup, policy);
    return { index, nextCurrent: current };
  }
  if (groups.length === 0) throw new FdfsError('ENOENT', 'no group has joined yet');
  const start = current >= 0 && current < groups.length ? current : 0;
  let index = -1;
  const first = groups[start]!;
  if (first.writable.length > 0 && (groupDiskOk(first, policy.reserved)
    || (policy.storeLookup === 2 && policy.useTrunk && groupDiskTrunkOk(first, policy.reserved)))) {
    index = start;
  } else {
    // Scan forward from the current group, then wrap (C: tracker_deal_service_query_storage).
    for (let k = 1; k < groups.length && index < 0; k++) {
      const i = (start + k) % groups.length;
      const g = groups[i]!;
      if (g.writable.length > 0 && groupDiskOk(g, policy.reserved)) index = i;
    }
    if (index < 0) {
      if (!groups.some((g) => g.writable.length > 0)) throw new FdfsError('ENOENT', 'no writable storage in any group');
      if (!policy.useTrunk) throw noSpace('all groups');
      index = groups.findIndex((g) => g.writable.length > 0 && groupDiskTrunkOk(g, policy.reserved));
      if (index < 0) throw noSpace('all groups');
    }
  }
  const nextCurrent = policy.storeLookup === 0 ? (index + 1) % groups.length : index;
  return { index, nextCurrent };
}

/**
 * §8.1 load balance: after every disk/trunk report the current group becomes the writable group
 * with the most free space (ties: the first); if that one fails the reserve check and trunking is
 * on, the one with the most free trunk space. Returns -1 when no group is writable.
 */
export function loadBalanceGroupIndex(groups: readonly SelectableGroup[], reserved: ReservedSpace, useTrunk: boolean): number {
  let best = -1;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.writable.length === 0) continue;
    if (best < 0 || g.freeMb > groups[best]!.freeMb) best = i;
  }
  if (best < 0 || !useTrunk || groupDiskOk(groups[best]!, reserved)) return best;
  let trunkBest = best;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.writable.length > 0 && g.trunkFreeMb > groups[trunkBest]!.trunkFreeMb) trunkBest = i;
  }
  return trunkBest;
}

/**
 * The group's "store server" (§8.4 fallback, §11.5 trunk candidate): the first writable member, or
 * with store_server = 2 the one with the lowest upload_priority (first in id order on ties).
 */
export function designatedStoreServer<S extends SelectableStorage>(writable: readonly S[], mode: StoreServerMode): S | undefined {
  if (mode !== 2) return writable[0];
  let best: S | undefined;
  for (const s of writable) if (!best || s.uploadPriority < best.uploadPriority) best = s;
  return best;
}

/**
 * §8.2 server choice among the writable list (sorted by id). `current` is current_write_server.
 * Mode 0 round robin (post-increment, wraps), 1 first by id, 2 lowest upload_priority.
 */
export function chooseStoreServer<S extends SelectableStorage>(writable: readonly S[], mode: StoreServerMode, current: number): { server: S; nextCurrent: number } {
  if (writable.length === 0) throw new FdfsError('ENOENT', 'no writable storage');
  if (mode === 0) {
    const i = current >= 0 && current < writable.length ? current : 0;
    return { server: writable[i]!, nextCurrent: (i + 1) % writable.length };
  }
  return { server: designatedStoreServer(writable, mode)!, nextCurrent: current };
}

/** §8.3 per-path check: MB mode `free > reserved_mb / path_count`; ratio mode `free/total > ratio`. */
export function pathHasReserve(p: PathSpace | undefined, extraMb: number, reserved: ReservedSpace, pathCount: number): boolean {
  if (!p) return false;
  const free = p.freeMb + extraMb;
  if (reserved.kind === 'mb') return free > Math.floor(reserved.mb / Math.max(1, pathCount));
  return p.totalMb > 0 && free / p.totalMb > reserved.ratio;
}

/**
 * §8.3 store path for the chosen storage: its current_write_path if it passes the per-path check,
 * else the first path that does, else (trunking) the first that does counting the group's free
 * trunk space, else ENOSPC. Mode 0 then advances current_write_path by one (wrapping).
 */
export function chooseStorePath(s: SelectableStorage, pathCount: number, policy: { reserved: ReservedSpace; useTrunk: boolean; storePath: StorePathMode; trunkFreeMb: number }): { index: number; nextCurrentWritePath: number } {
  const count = Math.max(1, pathCount);
  let index = s.currentWritePath >= 0 && s.currentWritePath < count ? s.currentWritePath : 0;
  // No disk report from this storage yet: its paths are unknown, not full (it refuses itself).
  if (s.paths.length > 0 && !pathHasReserve(s.paths[index], 0, policy.reserved, count)) {
    index = -1;
    for (let i = 0; i < count && index < 0; i++) if (pathHasReserve(s.paths[i], 0, policy.reserved, count)) index = i;
    if (index < 0 && policy.useTrunk) {
      for (let i = 0; i < count && index < 0; i++) if (pathHasReserve(s.paths[i], policy.trunkFreeMb, policy.reserved, count)) index = i;
    }
    if (index < 0) throw noSpace(s.id);
  }
  let next = s.currentWritePath;
  if (policy.storePath === 0) {
    next = s.currentWritePath + 1;
    if (next >= count || next < 0) next = 0;
  }
  return { index, nextCurrentWritePath: next };
}

/** §8.3 mode 2: at each disk report the path with strictly more free space than the current one wins. */
export function loadBalancePath(paths: readonly PathSpace[], current: number): number {
  let best = current >= 0 && current < paths.length ? current : 0;
  for (let i = 0; i < paths.length; i++) if (paths[i]!.freeMb > (paths[best]?.freeMb ?? -1)) best = i;
  return best;
}

// ---- §8.4 download / update server selection ----

export interface FetchContext<S extends SelectableStorage> {
  /** ACTIVE + read permission, sorted by id. */
  readable: readonly S[];
  /** ACTIVE + write permission, sorted by id. */
  writable: readonly S[];
  /** The member the file name names as its source (by id or by IP), whatever its status. */
  source: S | undefined;
  /** Not an appender and not a slave file. */
  normal: boolean;
  /** Creation timestamp from the file name. */
  fileTimestamp: number;
  now: number;
  downloadServer: 0 | 1;
  storeServer: StoreServerMode;
  syncFileMaxDelay: number;
  syncFileMaxTime: number;
  currentReadServer: number;
  currentWriteServer: number;
}

/**
 * Whether a replica may already hold the file (§8.4): it is the source, or the file is older than
 * storage_sync_file_max_delay, or the replica synced past the file's timestamp, or it synced up to
 * (almost) that second and the file is older than storage_sync_file_max_time.
 */
export function mayHoldFile(s: SelectableStorage, isSource: boolean, fileTs: number, now: number, maxDelay: number, maxTime: number): boolean {
  return isSource
    || fileTs < now - maxDelay
    || s.lastSyncedTimestamp > fileTs
    || (s.lastSyncedTimestamp + 1 >= fileTs && now - fileTs > maxTime);
}

function fallbackStoreServer<S extends SelectableStorage>(ctx: FetchContext<S>, subject: string): S {
  const s = designatedStoreServer(ctx.writable, ctx.storeServer);
  if (s && ctx.readable.includes(s)) return s;
  throw new FdfsError('ENOENT', 'no readable storage holds the file', { subject });
}

/** 102 FETCH_ONE (§8.4). Returns the server and the next current_read_server. */
export function chooseFetchOne<S extends SelectableStorage>(ctx: FetchContext<S>, subject = ''): { server: S; nextReadServer: number } {
  const sourceReadable = ctx.source !== undefined && ctx.readable.includes(ctx.source);
  if ((!ctx.normal || ctx.downloadServer === 1) && sourceReadable) {
    return { server: ctx.source!, nextReadServer: ctx.currentReadServer };
  }
  if (ctx.normal && ctx.readable.length > 0) {
    const n = ctx.readable.length;
    const start = ctx.currentReadServer >= 0 && ctx.currentReadServer < n ? ctx.currentReadServer : 0;
    const nextReadServer = (start + 1) % n;
    for (let k = 0; k < n; k++) {
      const s = ctx.readable[(start + k) % n]!;
      if (mayHoldFile(s, s === ctx.source, ctx.fileTimestamp, ctx.now, ctx.syncFileMaxDelay, ctx.syncFileMaxTime)) {
        return { server: s, nextReadServer };
      }
    }
    return { server: fallbackStoreServer(ctx, subject), nextReadServer };
  }
  return { server: fallbackStoreServer(ctx, subject), nextReadServer: ctx.currentReadServer };
}

/** 105 FETCH_ALL (§8.4): every readable server that may hold a normal file; else the source only. */
export function chooseFetchAll<S extends SelectableStorage>(ctx: FetchContext<S>, subject = ''): S[] {
  let out: S[];
  if (ctx.normal) {
    out = ctx.readable.filter((s) => mayHoldFile(s, s === ctx.source, ctx.fileTimestamp, ctx.now, ctx.syncFileMaxDelay, ctx.syncFileMaxTime));
  } else {
    out = ctx.source !== undefined && ctx.readable.includes(ctx.source) ? [ctx.source] : [];
  }
  return out.length > 0 ? out : [fallbackStoreServer(ctx, subject)];
}

/** 103 UPDATE (§8.4): the source if it is ACTIVE and writable, else a writable server per §8.2. */
export function chooseUpdate<S extends SelectableStorage>(ctx: FetchContext<S>, subject = ''): { server: S; nextWriteServer: number } {
  if (ctx.source !== undefined && ctx.writable.includes(ctx.source)) {
    return { server: ctx.source, nextWriteServer: ctx.currentWriteServer };
  }
  if (ctx.writable.length === 0) throw new FdfsError('ENOENT', 'no writable storage for the update', { subject });
  const { server, nextCurrent } = chooseStoreServer(ctx.writable, ctx.storeServer, ctx.currentWriteServer);
  return { server, nextWriteServer: nextCurrent };
}
