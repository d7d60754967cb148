import type { StorageStat } from '../protocol/records.ts';
import type { PathUsage } from '../protocol/storage-tracker.ts';
import type { StorageBrief } from '../protocol/records.ts';

/**
 * What the storage daemon exposes to its tracker reporter (tracker-reporter.ts):
 * the reporter reads identity/counters from it and pushes tracker answers back.
 */
export interface ReporterHost {
  readonly groupName: string;            // '' when it must be fetched with 109 (ids only)
  readonly port: number;                 // service port
  readonly bindAddr: string;             // '' = any; used as localAddress of outgoing tracker connections
  readonly storePathCount: number;
  readonly subdirCountPerPath: number;
  readonly uploadPriority: number;
  readonly joinTime: number;             // first-ever join, persisted in .data_init_flag
  readonly upTime: number;               // process start (unix s)
  readonly serverId: string;             // configured server_id or ''
  syncOldDone: boolean;                  // init flag (join body init_flag = !syncOldDone)
  status: number;                        // own status as last pushed by the leader, STORAGE_STATUS.INIT if unknown
  diskUsage(): Promise<PathUsage[]>;     // per store path, MB
  stats(): StorageStat;                  // current counters (last_source_update etc.)
  onMyIp(ips: string[]): void;           // reply of 60 (first entry = IPv4 used as source in names)
  onParameters(params: Map<string, string>): void; // reply of 75 (§4.2): response_ip_addr_size, store_slave_file_use_link, reserved_storage_space, use_storage_id, id_type_in_filename...
  onServerId(id: string): void;          // own id (from 70 / config / own IP when ids are off)
  onStorageIds(lines: string[]): void;   // reply of 69 (ids mode)
  onGroupMembers(members: StorageBrief[], trackerAddress: string): void; // change-push member list
  onOwnStatus(status: number): void;
  onSyncSource(src: { srcId: string; until: number } | null): void;
  saveInitFlag(): Promise<void>;         // persist joinTime/syncOldDone/src after changes
  readonly syncSource?: { srcId: string; until: number } | null; // recorded sync source, re-sent with 88 after a restart
  onGroupName?(group: string): void;     // group learnt with 109 (ids only)
}
