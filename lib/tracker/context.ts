import type { TrackerConfig } from '../config/tracker-config.ts';
import type { Connection } from '../net/packet-server.ts';
import type { Logger } from '../util/log.ts';
import type { Cluster, StorageRecord } from './cluster.ts';
import type { StorageIdIndex } from './id-index.ts';
import type { TrackerStore } from './persistence.ts';
import type { Bootstrap, CopyLock } from './bootstrap.ts';
import type { Election } from './election.ts';
import type { TrackerPeer, TrackerPeers } from './peers.ts';
import type { StorePolicy } from './selection.ts';

/** What every tracker handler receives besides the request (the PacketServer "state"). */
export interface TrackerContext {
  readonly config: TrackerConfig;
  readonly cluster: Cluster;
  readonly store: TrackerStore;
  /** storage_ids.conf, when use_storage_id is on. */
  readonly ids: StorageIdIndex | null;
  /** IPS of §0: 16 or 46. */
  readonly ips: 16 | 46;
  readonly log: Logger;
  /** Unix seconds; injectable so liveness can be tested without sleeping. */
  now(): number;
  /** Unix seconds of our start (64, 96). */
  readonly startTime: number;
  /** last_check_time of the previous run's .tracker_status, 0 if none (64). */
  readonly lastCheckTime: number;
  readonly policy: StorePolicy;
  /** Our own address as the peer of `conn` sees it: the leader's address (95, change push). */
  selfAddress(conn: Connection): { ip: string; port: number };
  /** Connection counters reported by 96: alloc (max_connections), current, max ever. */
  connectionStats(): { alloc: number; current: number; max: number };
  /** Counters of §8.8 "every 1000th" saves. */
  readonly counters: { statBeats: number; syncReports: number };
  /** §11.5: run the trunk server choice for a group (no-op without use_trunk_file or as a follower). */
  checkTrunkServer(groupName: string): void;
  /** The other trackers, learnt from JOIN lines (§8.6). */
  readonly peers: TrackerPeers;
  /** Leader election (§8.6): who leads, whether we do. */
  readonly election: Election;
  /** §8.7: copy the system files from a peer before the first JOIN when we start empty. */
  readonly bootstrap: Bootstrap;
  /** §8.7: the serving side of 61–63. */
  readonly copyLock: CopyLock;
}

/** Per-connection state kept in Connection.data. */
export interface TrackerConnectionData {
  /** The storage a JOIN bound this connection to (§4.3). */
  storage?: StorageRecord;
  /** Change counters already pushed on this connection (§4.8). */
  pushed?: { leader: number; trunk: number; members: number };
  /** The follower tracker a 58 JOIN_LEADER bound this connection to (§8.6). */
  peer?: TrackerPeer;
  /** Trunk-server version last sent in a 65 reply on this connection. */
  trunkSeen?: number;
}

export function connData(conn: Connection): TrackerConnectionData {
  return conn.data as TrackerConnectionData;
}
