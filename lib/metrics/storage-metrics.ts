import { Gauge, type Registry } from 'prom-client';
import { storageStatusName } from '../protocol/codes.ts';
import { STAT_COUNTERS, type StorageStat } from '../protocol/records.ts';
import type { PathUsage } from '../protocol/storage-tracker.ts';
import type { PeerSyncStatus } from '../protocol/sync-status.ts';

// The storage's own gauges, read at scrape time: space per store path, the StorageStat counters
// (what 83 reports, fed by the request events), binlog position, replication lag per peer.

export interface StorageMetricsHost {
  readonly groupName: string;
  readonly status: number;
  readonly storePathList: readonly string[];
  diskUsage(): Promise<PathUsage[]>;
  stats(): StorageStat;
  binlogPosition(): { index: number; offset: number } | null;
  syncPeers(): Promise<PeerSyncStatus[]>;
}

export function registerStorageMetrics(registry: Registry, host: StorageMetricsHost): void {
  const r = [registry];
  const MB = 1024 * 1024;
  new Gauge({
    name: 'fdfs_storage_path_bytes', help: 'Store path space in bytes (kind = free | total)', labelNames: ['path', 'index', 'kind'], registers: r,
    async collect() {
      const usage = await host.diskUsage().catch(() => []);
      usage.forEach((u, i) => {
        const labels = { path: host.storePathList[i] ?? '', index: String(i) };
        this.set({ ...labels, kind: 'free' }, u.freeMb * MB);
        this.set({ ...labels, kind: 'total' }, u.totalMb * MB);
      });
    },
  });
  new Gauge({
    name: 'fdfs_storage_status', help: 'This storage\'s status as the trackers push it (1 for the current one)', labelNames: ['group', 'status'], registers: r,
    collect() {
      this.reset();
      this.set({ group: host.groupName, status: storageStatusName(host.status) }, 1);
    },
  });
  new Gauge({
    name: 'fdfs_storage_stat', help: 'FastDFS StorageStat counters (what STORAGE_BEAT reports, §4.5)', labelNames: ['counter'], registers: r,
    collect() {
      const s = host.stats();
      for (const k of STAT_COUNTERS) this.set({ counter: k }, s.counters[k]);
    },
  });
  new Gauge({
    name: 'fdfs_storage_files', help: 'Files stored through this storage (uploads − deletes since the stat file was created)', registers: r,
    collect() {
      const c = host.stats().counters;
      this.set(Math.max(0, c.success_upload_count - c.success_delete_count));
    },
  });
  new Gauge({
    name: 'fdfs_storage_last_update_seconds', help: 'Unix time of the last change (kind = source | sync | synced)', labelNames: ['kind'], registers: r,
    collect() {
      const s = host.stats();
      this.set({ kind: 'source' }, s.last_source_update);
      this.set({ kind: 'sync' }, s.last_sync_update);
      this.set({ kind: 'synced' }, s.last_synced_timestamp);
    },
  });
  new Gauge({
    name: 'fdfs_binlog_position', help: 'Binlog write position (field = index | offset)', labelNames: ['field'], registers: r,
    collect() {
      const p = host.binlogPosition();
      if (!p) return;
      this.set({ field: 'index' }, p.index);
      this.set({ field: 'offset' }, p.offset);
    },
  });
  // The lag gauge is collected first and fills the two others (collection follows registration order).
  let behind: Gauge, bytesBehind: Gauge;
  new Gauge({
    name: 'fdfs_sync_lag_seconds', help: 'Seconds since the source timestamp of the last record pushed to a peer (0 when nothing is behind)', labelNames: ['peer'], registers: r,
    async collect() {
      const peers = await host.syncPeers().catch(() => []);
      this.reset(); behind.reset(); bytesBehind.reset();
      const now = Math.floor(Date.now() / 1000);
      for (const p of peers) {
        behind.set({ peer: p.peerId }, p.recordsBehind);
        bytesBehind.set({ peer: p.peerId }, p.bytesBehind);
        this.set({ peer: p.peerId }, p.recordsBehind > 0 && p.lastPushedTimestamp > 0 ? Math.max(0, now - p.lastPushedTimestamp) : 0);
      }
    },
  });
  behind = new Gauge({ name: 'fdfs_sync_records_behind', help: 'Binlog records not yet pushed to a peer', labelNames: ['peer'], registers: r });
  bytesBehind = new Gauge({ name: 'fdfs_sync_bytes_behind', help: 'Binlog bytes not yet pushed to a peer', labelNames: ['peer'], registers: r });
}
