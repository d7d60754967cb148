import type { InitFlag } from '../init-flag.ts';

// The trunk fields of `.data_init_flag` (PROTOCOL.md §7.5): current_trunk_file_id,
// trunk_last_compress_time, trunk_binlog_compress_stage. The storage owns the file; the trunk
// role changes these fields and asks it to save.

export type TrunkFlagFields = Pick<InitFlag, 'current_trunk_file_id' | 'trunk_last_compress_time' | 'trunk_binlog_compress_stage'>;

export interface TrunkFlagStore {
  readonly flag: TrunkFlagFields;
  save(): Promise<void>;
}

/** A flag store kept in memory (tests, a storage without trackers). */
export function memoryFlagStore(initial: Partial<TrunkFlagFields> = {}): TrunkFlagStore & { saves: number } {
  const store = {
    flag: { current_trunk_file_id: 0, trunk_last_compress_time: 0, trunk_binlog_compress_stage: 0, ...initial },
    saves: 0,
    save: async () => { store.saves++; },
  };
  return store;
}
