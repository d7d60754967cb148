import { STORAGE_STATUS } from '../../lib/protocol/codes.ts';
import { emptyStorageStat, type StorageBrief, type StorageStat } from '../../lib/protocol/records.ts';
import type { PathUsage } from '../../lib/protocol/storage-tracker.ts';
import type { ReporterHost } from '../../lib/storage/reporter-host.ts';

// The storage side of a TrackerReporter in tests: fixed answers, and a log of every call the
// reporter makes into it.

export class FakeHost implements ReporterHost {
  groupName = 'group1';
  port = 23000;
  bindAddr = '';
  storePathCount = 1;
  subdirCountPerPath = 256;
  uploadPriority = 10;
  joinTime = 1_700_000_000;
  upTime = 1_700_000_100;
  serverId = '';
  syncOldDone = false;
  /** The .data_init_flag record (optional host member the reporter reads for 88). */
  syncSource: { srcId: string; until: number } | null = null;
  status: number = STORAGE_STATUS.INIT;
  stat: StorageStat = emptyStorageStat();
  usage: PathUsage[] = [{ totalMb: 1000, freeMb: 600 }];
  readonly calls: Array<[string, unknown]> = [];

  constructor(init: Partial<FakeHost> = {}) { Object.assign(this, init); }

  async diskUsage(): Promise<PathUsage[]> { return this.usage; }
  stats(): StorageStat { return structuredClone(this.stat); }
  onMyIp(ips: string[]): void { this.calls.push(['onMyIp', ips]); }
  onParameters(params: Map<string, string>): void { this.calls.push(['onParameters', params]); }
  onServerId(id: string): void { this.calls.push(['onServerId', id]); }
  onStorageIds(lines: string[]): void { this.calls.push(['onStorageIds', lines]); }
  onGroupMembers(members: StorageBrief[], trackerAddress: string): void { this.calls.push(['onGroupMembers', { members, trackerAddress }]); }
  onOwnStatus(status: number): void { this.status = status; this.calls.push(['onOwnStatus', status]); }
  onSyncSource(src: { srcId: string; until: number } | null): void { this.calls.push(['onSyncSource', src]); }
  async saveInitFlag(): Promise<void> { this.calls.push(['saveInitFlag', this.syncOldDone]); }

  called(name: string): unknown[] { return this.calls.filter(([n]) => n === name).map(([, v]) => v); }
}
