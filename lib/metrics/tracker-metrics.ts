import { Gauge, type Registry } from 'prom-client';
import { STORAGE_STATUS, storageStatusName } from '../protocol/codes.ts';
import type { Cluster } from '../tracker/cluster.ts';

// The tracker's gauges, read at scrape time from its cluster picture (PROTOCOL.md §8).

export interface TrackerMetricsHost {
  readonly cluster: Cluster;
  /**
   * Leader election (§8.6) as far as this tracker knows it: 'leader', 'follower' or 'electing'.
   * A single tracker is its own leader.
   */
  electionState(): string;
}

const STATUS_NAMES = Object.keys(STORAGE_STATUS);

export function registerTrackerMetrics(registry: Registry, host: TrackerMetricsHost): void {
  const r = [registry];
  new Gauge({
    name: 'fdfs_tracker_storages', help: 'Storages known to the tracker, by group and status', labelNames: ['group', 'status'], registers: r,
    collect() {
      this.reset();
      for (const g of host.cluster.groups.values()) {
        const counts = new Map<string, number>(STATUS_NAMES.map((n) => [n, 0]));
        for (const m of g.members) {
          const name = storageStatusName(m.status);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
        for (const [status, n] of counts) this.set({ group: g.name, status }, n);
      }
    },
  });
  new Gauge({
    name: 'fdfs_tracker_storage_status', help: 'Each storage\'s status code (§4.0; 7 = ACTIVE)', labelNames: ['group', 'storage', 'ip'], registers: r,
    collect() {
      this.reset();
      for (const g of host.cluster.groups.values()) for (const m of g.members) this.set({ group: g.name, storage: m.id, ip: m.ip }, m.status);
    },
  });
  new Gauge({
    name: 'fdfs_tracker_group_free_bytes', help: 'Free space of each group as the tracker counts it (its emptiest member)', labelNames: ['group'], registers: r,
    collect() {
      this.reset();
      for (const g of host.cluster.groups.values()) {
        const active = g.members.filter((m) => m.status === STORAGE_STATUS.ACTIVE);
        if (active.length === 0) continue;
        this.set({ group: g.name }, Math.min(...active.map((m) => m.freeMb)) * 1024 * 1024);
      }
    },
  });
  new Gauge({
    name: 'fdfs_tracker_election_state', help: 'Leader election state of this tracker (1 for the current one)', labelNames: ['state'], registers: r,
    collect() {
      this.reset();
      this.set({ state: host.electionState() }, 1);
    },
  });
}
