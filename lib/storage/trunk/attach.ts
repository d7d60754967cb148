import type { StorageConfig } from '../../config/storage-config.ts';
import type { Logger } from '../../util/log.ts';
import type { FileNameGenerator } from '../file-names.ts';
import type { InitFlag } from '../init-flag.ts';
import { ReporterCore } from '../reporter/core.ts';
import { trunkCall } from '../reporter/trunk.ts';
import type { ReservedSpace } from '../../config/values.ts';
import type { StorePaths } from '../store-paths.ts';
import { TrunkRole, type TrunkSelf } from './role.ts';

// How the storage daemon builds its trunk role (kept here so storage-server.ts only wires it).

export interface TrunkHost {
  readonly config: StorageConfig;
  readonly dataDir: string;
  readonly storePaths: StorePaths;
  readonly names: FileNameGenerator;
  readonly upTime: number;
  readonly log: Logger;
  initFlag(): InitFlag;
  saveInitFlag(): Promise<void>;
  self(): TrunkSelf;
  reserve(): ReservedSpace;
  /** The tracker reporter, if any (72/73 travel on its report connections). */
  reporter(): unknown;
  /** The leader tracker's line as the reporter knows it, or null. */
  leader(): string | null;
}

export function createTrunkRole(h: TrunkHost): TrunkRole {
  const c = h.config;
  return new TrunkRole({
    dataDir: h.dataDir,
    storePaths: h.storePaths,
    names: h.names,
    pathMode: c.file_distribute_path_mode === 1 ? 1 : 0,
    flags: { get flag() { return h.initFlag(); }, save: () => h.saveInitFlag() },
    log: h.log.child('trunk'),
    upTime: h.upTime,
    self: () => h.self(),
    reserve: () => h.reserve(),
    trackerCall: (line, cmd, body) => {
      const r = h.reporter();
      if (!(r instanceof ReporterCore)) return Promise.reject(new Error('no tracker reporter'));
      return trunkCall(r, line, cmd, body);
    },
    dial: { connectTimeout: c.connect_timeout, networkTimeout: c.network_timeout, localAddress: c.client_bind && c.bind_addr ? c.bind_addr : undefined },
    heartBeatMs: Math.max(1, c.heart_beat_interval) * 1000,
    syncWaitMs: c.sync_wait_msec > 0 ? c.sync_wait_msec : 100,
    syncIntervalMs: c.sync_interval,
  });
}

/** §11.5: flag 2 counts only from the leader (any tracker while no leader is known). */
export function fromLeader(h: Pick<TrunkHost, 'leader'>, trackerLine: string): boolean {
  const leader = h.leader();
  return leader === null || leader === trackerLine;
}

