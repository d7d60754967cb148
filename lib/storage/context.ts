import { EventEmitter } from 'node:events';
import type { ReservedSpace } from '../config/values.ts';
import type { FileSource } from '../protocol/filename.ts';
import { emptyStorageStat, type StatCounter, type StorageStat } from '../protocol/records.ts';
import type { Logger } from '../util/log.ts';
import type { BinlogWriter } from './binlog.ts';
import type { StorageEngine } from './engine/engine.ts';
import type { FileLocks } from './file-locks.ts';
import type { FileNameGenerator } from './file-names.ts';
import type { MetadataStore } from './metadata-store.ts';
import type { PathSelectMode, StorePaths } from './store-paths.ts';
import type { SyncReceiver } from './sync/receiver.ts';
import type { PeerSyncStatus } from '../protocol/sync-status.ts';
import type { SlotAllocator, TrunkParameters, TrunkService } from './trunk/types.ts';

// What every storage command handler works with (handlers/*.ts). StorageServer builds it.

/**
 * The StorageStat counters (§1.3) of this storage. Handlers report what happened through
 * count(); the heartbeat, storage_stat.dat and (later) metrics read the same numbers.
 * Emits 'change' after each update so a reporter can send a beat with fresh counters soon.
 */
export class StorageCounters extends EventEmitter {
  readonly stat: StorageStat;
  /** True when something changed since the stat file was last written. */
  dirty = false;

  constructor(initial?: StorageStat) {
    super();
    this.stat = initial ?? emptyStorageStat();
  }

  count(name: StatCounter, n = 1): void {
    this.stat.counters[name] += n;
    this.dirty = true;
  }

  /** A client changed a file here (upload, delete, metadata): §4.5 last_source_update. */
  sourceUpdated(now = Math.floor(Date.now() / 1000)): void {
    this.stat.last_source_update = now;
    this.dirty = true;
    this.emit('change');
  }

  snapshot(): StorageStat {
    const s = this.stat;
    return {
      connection: { ...s.connection },
      counters: { ...s.counters },
      last_source_update: s.last_source_update,
      last_sync_update: s.last_sync_update,
      last_synced_timestamp: s.last_synced_timestamp,
      last_heart_beat_time: s.last_heart_beat_time,
    };
  }
}

/** Parameters the trackers impose at start-up (§4.2), with the local values as defaults. */
export interface TrackerParameters {
  /** response_ip_addr_size: IPS of the QUERY_FILE_INFO reply (§3.8). */
  ipAddrSize: 16 | 46;
  reserve: ReservedSpace;
  /** store_path: how an upload with index −1 picks its store path (§8.3). */
  pathMode: PathSelectMode;
  useStorageId: boolean;
  idTypeInFilename: 'id' | 'ip';
  storeSlaveFileUseLink: boolean;
  /** storage_sync_file_max_delay: a file older than this is on every member (HTTP 404 vs proxy, §10). */
  syncFileMaxDelay: number;
  /** use_trunk_file and the trunk settings of the 75 reply (§11.1); absent while trunk mode is off. */
  trunk?: TrunkParameters;
}

export interface StorageContext {
  /** Own group; requests naming another one get EINVAL (§3). */
  readonly groupName: string;
  readonly storePaths: StorePaths;
  readonly binlog: BinlogWriter;
  readonly names: FileNameGenerator;
  readonly meta: MetadataStore;
  readonly counters: StorageCounters;
  readonly params: TrackerParameters;
  readonly log: Logger;
  /** Where file content lives (lib/storage/engine/engine.ts): handlers reach the disk only through it. */
  readonly engine: StorageEngine;
  /** fsync_after_written_bytes (0 = never). */
  readonly fsyncAfterBytes: number;
  /** Logic names being finalised right now, so two uploads never claim the same name (§6.5). */
  readonly claimedNames: Set<string>;
  /** Serialises in-place changes of one file (append, modify, truncate, rename), keyed by physical path. */
  readonly fileLocks: FileLocks;
  /** §3.8: the IP of a file's source storage (server ids resolved through storage_ids). */
  sourceIpOf(source: FileSource): string;
  /** Progress of incoming replication, per source storage (sync handlers, §4.7); absent in bare tests. */
  readonly sync?: SyncReceiver;
  /** Outgoing replication per peer (FDFS_SYNC_STATUS, lib/protocol/sync-status.ts); absent in bare tests. */
  syncStatus?(): Promise<PeerSyncStatus[]>;
  /**
   * Whether `ip` is an address of a storage of our group, as the trackers and storage_ids.conf
   * know them; sync commands from anyone else are refused (handlers/peer-only.ts). Absent when
   * the storage runs without trackers (no member list to check against).
   */
  isGroupMember?(ip: string): boolean | Promise<boolean>;
  /** The group's trunk server as seen from here (§11.5, §11.6); absent while trunk mode is off. */
  readonly trunkAllocator?: SlotAllocator;
  /** The trunk role's side of 27–33 (lib/storage/handlers/trunk-*.ts); absent while trunk mode is off. */
  readonly trunk?: TrunkService;
}
