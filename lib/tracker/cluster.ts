import { EventEmitter } from 'node:events';
import { STORAGE_STATUS as ST } from '../protocol/codes.ts';
import { RW_MODE, emptyStorageStat, type StorageStat } from '../protocol/records.ts';
import type { SyncTimestamp } from '../protocol/storage-tracker.ts';
import type { PathSpace, SelectableGroup, SelectableStorage } from './selection.ts';
import { withLiveLinks } from './link-watch.ts';

/**
 * The tracker's picture of the cluster: groups sorted by name, members by id (PROTOCOL.md §8).
 * Every status change goes through setStatus() so that the change counter of the group (which
 * drives the member push of §4.8) and the 'status' event cannot be forgotten.
 */

/** strcmp order, which is how FastDFS sorts group names and storage ids. */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** §4.0 "available". */
export function isAvailable(status: number): boolean {
  return status === ST.OFFLINE || status === ST.ONLINE || status === ST.ACTIVE;
}

export class StorageRecord implements SelectableStorage {
  status: number = ST.INIT;
  /** RW_MODE bits; from the rw= option of storage_ids.conf, both otherwise. */
  rwMode: number = RW_MODE.BOTH;
  version = '';
  joinTime = 0;
  /** Process start of the storage; 0 while disconnected (§2.6). */
  upTime = 0;
  storePathCount = 0;
  subdirCountPerPath = 0;
  uploadPriority = 0;
  paths: PathSpace[] = [];
  totalMb = 0;
  freeMb = 0;
  /** False until the first disk report: uploads are refused until then (§4.6). */
  diskReported = false;
  currentWritePath = 0;
  syncSrcId = '';
  syncUntil = 0;
  /** Bytes of storage_changelog.dat already sent to this storage (§4.15). */
  changelogOffset = 0;
  stat: StorageStat = emptyStorageStat();
  /** The report connection it joined on; closing that one (not an older one) takes it offline. */
  connection: object | null = null;

  constructor(readonly group: GroupRecord, readonly id: string, public ips: string[], public port: number) {}

  /** The first address: what LIST_STORAGE, GET_STATUS and the data files carry. */
  get ip(): string { return this.ips[0] ?? ''; }
  get lastSyncedTimestamp(): number { return this.stat.last_synced_timestamp; }
  get lastHeartBeatTime(): number { return this.stat.last_heart_beat_time; }
  get readable(): boolean { return this.status === ST.ACTIVE && (this.rwMode & RW_MODE.READ) !== 0; }
  get writable(): boolean { return this.status === ST.ACTIVE && (this.rwMode & RW_MODE.WRITE) !== 0; }
  /** Neither DELETED nor IP_CHANGED: what the data files keep (§8.8). */
  get live(): boolean { return this.status !== ST.DELETED && this.status !== ST.IP_CHANGED; }
}

export class GroupRecord implements SelectableGroup<StorageRecord> {
  currentTrunkFileId = 0;
  trunkServerId = '';
  lastTrunkServerId = '';
  trunkFreeMb = 0;
  /** Members in the order they were first added (the order of storage_servers_new.dat, §8.8). */
  readonly members: StorageRecord[] = [];
  currentWriteServer = 0;
  currentReadServer = 0;
  /** Bumped on membership and status changes; compared per connection for the push (§4.8). */
  changeCount = 0;
  trunkChangeCount = 0;
  /** last_sync_timestamps[src][dest] of §7.3. */
  readonly syncTimestamps = new Map<string, Map<string, number>>();

  constructor(readonly name: string, public port: number, public storePathCount: number, public subdirCountPerPath: number) {}

  find(id: string): StorageRecord | undefined {
    return this.members.find((m) => m.id === id);
  }

  /** Members sorted by id (§2.6, §4.8, §8.2). */
  get sorted(): StorageRecord[] {
    return [...this.members].sort((a, b) => byteOrder(a.id, b.id));
  }

  // Members whose report link went silent are left out while others remain (link-watch.ts).
  get writable(): StorageRecord[] { return withLiveLinks(this.sorted.filter((m) => m.writable)); }
  get readable(): StorageRecord[] { return withLiveLinks(this.sorted.filter((m) => m.readable)); }

  /** The live member with the least free space among those that reported their disks (§8.1). */
  private get tightest(): StorageRecord | undefined {
    let best: StorageRecord | undefined;
    for (const m of this.members) {
      if (!m.live || !m.diskReported) continue;
      if (!best || m.freeMb < best.freeMb) best = m;
    }
    return best;
  }

  get diskKnown(): boolean { return this.tightest !== undefined; }
  get freeMb(): number { return this.tightest?.freeMb ?? 0; }
  get totalMb(): number { return this.tightest?.totalMb ?? 0; }
}

export interface StatusChange {
  storage: StorageRecord;
  from: number;
  to: number;
  why: string;
}

export interface ClusterEvents {
  status: [StatusChange];
  'storage-added': [StorageRecord];
  'group-added': [GroupRecord];
}

export class Cluster extends EventEmitter<ClusterEvents> {
  readonly groups = new Map<string, GroupRecord>();
  /** Index into sortedGroups() (§8.1). */
  currentWriteGroup = 0;

  sortedGroups(): GroupRecord[] {
    return [...this.groups.values()].sort((a, b) => byteOrder(a.name, b.name));
  }

  getGroup(name: string): GroupRecord | undefined {
    return this.groups.get(name);
  }

  addGroup(name: string, port: number, storePathCount: number, subdirCountPerPath: number): GroupRecord {
    const g = new GroupRecord(name, port, storePathCount, subdirCountPerPath);
    this.groups.set(name, g);
    this.emit('group-added', g);
    return g;
  }

  removeGroup(g: GroupRecord): void {
    this.groups.delete(g.name);
    if (this.currentWriteGroup >= this.groups.size) this.currentWriteGroup = 0;
  }

  addStorage(g: GroupRecord, id: string, ips: string[], port: number, status: number = ST.INIT): StorageRecord {
    const s = new StorageRecord(g, id, ips, port);
    s.status = status;
    g.members.push(s);
    g.changeCount++;
    this.emit('storage-added', s);
    return s;
  }

  setStatus(s: StorageRecord, status: number, why: string): boolean {
    if (s.status === status) return false;
    const from = s.status;
    s.status = status;
    s.group.changeCount++;
    if ((from === ST.ACTIVE) !== (status === ST.ACTIVE)) this.sourcesChanged(s);
    this.emit('status', { storage: s, from, to: status, why });
    return true;
  }

  /**
   * §8.5 active_store_server, on every heartbeat and disk report: unless the storage is still being
   * initialised (INIT, WAIT_SYNC, SYNCING) or is an IP_CHANGED leftover, it becomes ACTIVE.
   */
  activate(s: StorageRecord, why: string): boolean {
    if (s.status === ST.INIT || s.status === ST.WAIT_SYNC || s.status === ST.SYNCING || s.status === ST.IP_CHANGED) return false;
    return this.setStatus(s, ST.ACTIVE, why);
  }

  /** §8.5: the report connection of a joined storage closed. */
  disconnect(s: StorageRecord): void {
    s.connection = null;
    s.upTime = 0;
    const keep: number[] = [ST.INIT, ST.WAIT_SYNC, ST.SYNCING, ST.DELETED, ST.IP_CHANGED, ST.RECOVERY];
    if (!keep.includes(s.status)) this.setStatus(s, ST.OFFLINE, 'report connection closed');
  }

  /** §8.5: ACTIVE storages silent for longer than `interval` seconds go OFFLINE. Returns them. */
  checkAlive(now: number, interval: number): StorageRecord[] {
    const out: StorageRecord[] = [];
    for (const g of this.groups.values()) {
      for (const s of g.members) {
        if (s.status === ST.ACTIVE && now - s.lastHeartBeatTime > interval) {
          this.setStatus(s, ST.OFFLINE, `no heartbeat for ${now - s.lastHeartBeatTime} s`);
          out.push(s);
        }
      }
    }
    return out;
  }

  /**
   * §4.10 merge rule for a status reported by a peer (76) or a follower's view: DELETED and
   * IP_CHANGED always win; a storage being served (INIT, ONLINE, ACTIVE, RECOVERY) keeps its
   * status; otherwise only a numerically larger status is taken.
   */
  mergeStatus(s: StorageRecord, status: number, why: string): boolean {
    if (status === s.status) return false;
    if (status === ST.DELETED || status === ST.IP_CHANGED) return this.setStatus(s, status, why);
    const settled: number[] = [ST.INIT, ST.ONLINE, ST.ACTIVE, ST.RECOVERY];
    if (settled.includes(s.status)) return false;
    return status > s.status ? this.setStatus(s, status, why) : false;
  }

  /**
   * §2.7 DELETE_STORAGE effect: DELETED, statistics cleared, no longer anybody's sync source, its
   * sync timestamps dropped.
   */
  deleteStorage(s: StorageRecord): void {
    const g = s.group;
    this.setStatus(s, ST.DELETED, 'deleted by admin');
    s.paths = [];
    s.totalMb = 0;
    s.freeMb = 0;
    s.diskReported = false;
    s.uploadPriority = 0;
    s.storePathCount = 0;
    s.subdirCountPerPath = 0;
    s.currentWritePath = 0;
    s.stat = emptyStorageStat();
    s.syncSrcId = '';
    s.syncUntil = 0;
    s.upTime = 0;
    for (const m of g.members) {
      if (m.syncSrcId === s.id) { m.syncSrcId = ''; m.syncUntil = 0; }
    }
    g.syncTimestamps.delete(s.id);
    for (const row of g.syncTimestamps.values()) row.delete(s.id);
    if (g.trunkServerId === s.id) {
      g.trunkServerId = '';
      g.trunkChangeCount++;
    }
  }

  /**
   * §4.7/§7.3 SYNC_REPORT from `dest`: store last_sync_timestamps[src][dest] for ACTIVE sources,
   * then recompute dest's last_synced_timestamp — with store_server = 0 the minimum over the
   * ACTIVE sources, else the largest value ever seen.
   *
   * Deviation from 6.16, which takes the minimum of the non-zero values only: a source that has not
   * reported anything yet would then not count, and §8.4 would send a download of that source's
   * new file to a member that does not hold it. fdfs storages report every source within a second
   * (the sync watermark), so counting zeros costs nothing with them.
   */
  recordSyncReport(dest: StorageRecord, items: readonly SyncTimestamp[], storeServer: number): void {
    const g = dest.group;
    this.syncRule = storeServer;
    let max = 0;
    for (const { peerId, timestamp } of items) {
      const src = g.find(peerId);
      if (!src || src === dest || src.status !== ST.ACTIVE) continue;
      let row = g.syncTimestamps.get(src.id);
      if (!row) g.syncTimestamps.set(src.id, row = new Map());
      row.set(dest.id, timestamp);
      if (timestamp > max) max = timestamp;
    }
    if (storeServer === 0) {
      this.recomputeSynced(dest);
    } else if (max > dest.stat.last_synced_timestamp) {
      dest.stat.last_synced_timestamp = max;
    }
  }

  /** store_server of the last sync report: how last_synced_timestamp is derived (§7.3). */
  private syncRule = 0;

  /**
   * store_server = 0: the minimum of last_sync_timestamps[src][dest] over the ACTIVE sources
   * (0 for one that never reported). Unchanged when no other member is ACTIVE.
   */
  private recomputeSynced(dest: StorageRecord): void {
    let min = Infinity;
    for (const src of dest.group.members) {
      if (src === dest || src.status !== ST.ACTIVE) continue;
      min = Math.min(min, dest.group.syncTimestamps.get(src.id)?.get(dest.id) ?? 0);
    }
    if (min !== Infinity) dest.stat.last_synced_timestamp = min;
  }

  /** A member became ACTIVE or stopped being it: the set of sources of every other member changed. */
  private sourcesChanged(s: StorageRecord): void {
    if (this.syncRule !== 0) return;
    for (const m of s.group.members) if (m !== s) this.recomputeSynced(m);
  }

  /** Recompute every member's last_synced_timestamp from the table (after loading it, §8.8). */
  recomputeSyncedTimestamps(storeServer: number): void {
    this.syncRule = storeServer;
    for (const g of this.groups.values()) {
      for (const dest of g.members) {
        if (storeServer === 0) {
          const min = this.minSyncedFrom(dest, () => true);
          if (min > 0) dest.stat.last_synced_timestamp = min;
        } else {
          let max = dest.stat.last_synced_timestamp;
          for (const row of g.syncTimestamps.values()) max = Math.max(max, row.get(dest.id) ?? 0);
          dest.stat.last_synced_timestamp = max;
        }
      }
    }
  }

  private minSyncedFrom(dest: StorageRecord, accept: (src: StorageRecord) => boolean): number {
    let min = 0;
    for (const src of dest.group.members) {
      if (src === dest || !accept(src)) continue;
      const t = dest.group.syncTimestamps.get(src.id)?.get(dest.id) ?? 0;
      if (t > 0 && (min === 0 || t < min)) min = t;
    }
    return min;
  }
}
