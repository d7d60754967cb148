import type { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../util/log.ts';
import type { TrunkBinlog } from './binlog-writer.ts';
import type { TrunkFlagStore } from './flag-store.ts';
import { SNAPSHOT_FILE } from './snapshot.ts';

// Trunk binlog compression and its start-up repair (PROTOCOL.md §11.10, C storage_trunk_compress).
// The stage is stored in .data_init_flag as trunk_binlog_compress_stage, so a crash at any step is
// rolled back or finished at the next start.

export const STAGE = {
  NONE: 0,
  BEGIN: 1,
  APPLY_DONE: 2,
  SAVE_DONE: 3,
  COMMIT_MERGING: 4,
  COMMIT_MERGE_DONE: 5,
  SUCCESS: 6,
  ROLLBACK_MERGING: 7,
  ROLLBACK_MERGE_DONE: 8,
  FINISHED: 9,
} as const;

export interface CompressOptions {
  dataDir: string;
  binlog: TrunkBinlog;
  flags: TrunkFlagStore;
  /** Write storage_trunk.dat from the allocator (merged when enabled); line 1 = binlog size now. */
  saveSnapshot(): Promise<void>;
  log: Logger;
  now?: () => number;
}

function files(o: Pick<CompressOptions, 'dataDir' | 'binlog'>) {
  const trunkDir = o.binlog.dir;
  const snapshot = path.join(o.dataDir, SNAPSHOT_FILE);
  return {
    snapshot,
    snapshotRollback: `${snapshot}.rollback`,
    binlog: o.binlog.file,
    binlogRollback: path.join(trunkDir, 'binlog.rollback'),
    binlogTmp: path.join(trunkDir, 'binlog.tmp'),
  };
}

async function setStage(o: Pick<CompressOptions, 'flags'>, stage: number): Promise<void> {
  o.flags.flag.trunk_binlog_compress_stage = stage;
  await o.flags.save();
}

async function exists(file: string): Promise<boolean> {
  try { await fs.access(file); return true; } catch { return false; }
}

/** `out` = the concatenation of `parts` (missing ones skipped), fsync'ed, through `tmp`. */
async function concatInto(out: string, tmp: string, parts: Array<{ file: string; skipFirstLine?: boolean }>): Promise<void> {
  const fh = await fs.open(tmp, 'w', 0o644);
  try {
    for (const p of parts) {
      let data: Buffer;
      try { data = await fs.readFile(p.file); } catch { continue; }
      if (p.skipFirstLine) {
        const nl = data.indexOf(0x0a);
        data = nl < 0 ? data.subarray(data.length) : data.subarray(nl + 1);
      }
      await fh.write(data);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, out);
}

/** Delete every `data/trunk/*.mark`: each member gets 33 and the whole new binlog (§11.10 stage 6). */
export async function deleteMarks(trunkDir: string): Promise<void> {
  let names: string[] = [];
  try { names = await fs.readdir(trunkDir); } catch { return; }
  await Promise.all(names.filter((n) => n.endsWith('.mark')).map((n) => fs.rm(path.join(trunkDir, n), { force: true })));
}

/** Run one compression; on failure roll back (and rethrow when even that fails). */
export async function compressTrunkBinlog(o: CompressOptions): Promise<void> {
  const f = files(o);
  const now = o.now ?? (() => Math.floor(Date.now() / 1000));
  try {
    await setStage(o, STAGE.BEGIN);
    await fs.rm(f.snapshotRollback, { force: true });
    await fs.rm(f.binlogRollback, { force: true });

    if (await exists(f.snapshot)) await fs.rename(f.snapshot, f.snapshotRollback);
    else await fs.writeFile(f.snapshotRollback, '');
    // New records go to a new empty binlog from here on.
    await o.binlog.whileClosed(() => fs.rename(f.binlog, f.binlogRollback));
    await setStage(o, STAGE.APPLY_DONE);

    await o.saveSnapshot();
    await setStage(o, STAGE.SAVE_DONE);

    await setStage(o, STAGE.COMMIT_MERGING);
    await o.binlog.whileClosed(() => concatInto(f.binlog, f.binlogTmp, [{ file: f.snapshot, skipFirstLine: true }, { file: f.binlog }]));
    await setStage(o, STAGE.COMMIT_MERGE_DONE);
  } catch (err) {
    o.log('error', `trunk binlog compression failed: ${(err as Error).message}; rolling back`);
    await rollback(o);
    throw err;
  }
  await finishCommit(o);
  o.flags.flag.trunk_last_compress_time = now();
  await setStage(o, STAGE.FINISHED);
  o.log('info', `trunk binlog compressed to ${o.binlog.size} bytes`);
}

/** Stages 5 → 6: temporaries gone, marks deleted. */
async function finishCommit(o: Pick<CompressOptions, 'dataDir' | 'binlog' | 'flags'>): Promise<void> {
  const f = files(o);
  await fs.rm(f.snapshot, { force: true });
  await fs.rm(f.snapshotRollback, { force: true });
  await fs.rm(f.binlogRollback, { force: true });
  await fs.rm(f.binlogTmp, { force: true });
  await setStage(o, STAGE.SUCCESS);
  await deleteMarks(o.binlog.dir);
}

/** binlog = binlog.rollback + what was logged since; snapshot from its rollback file (stages 7, 8). */
export async function rollback(o: Pick<CompressOptions, 'dataDir' | 'binlog' | 'flags'>): Promise<void> {
  const f = files(o);
  if (o.flags.flag.trunk_binlog_compress_stage !== STAGE.ROLLBACK_MERGE_DONE) {
    await setStage(o, STAGE.ROLLBACK_MERGING);
    if (await exists(f.binlogRollback)) {
      await o.binlog.whileClosed(() => concatInto(f.binlog, f.binlogTmp, [{ file: f.binlogRollback }, { file: f.binlog }]));
    }
    await setStage(o, STAGE.ROLLBACK_MERGE_DONE);
  }
  await fs.rm(f.binlogRollback, { force: true });
  if (await exists(f.snapshotRollback)) {
    const st = await fs.stat(f.snapshotRollback);
    // An empty rollback file stands for "there was no snapshot".
    if (st.size === 0) {
      await fs.rm(f.snapshot, { force: true });
      await fs.rm(f.snapshotRollback, { force: true });
    } else {
      await fs.rename(f.snapshotRollback, f.snapshot);
    }
  }
  await fs.rm(f.binlogTmp, { force: true });
  await setStage(o, STAGE.FINISHED);
}

/**
 * §11.10 start-up repair of an unfinished compression: 1–4 and 7 ⇒ rollback; 8 ⇒ binlog.rollback
 * deleted, then the rest of the rollback; 5 ⇒ temporaries deleted, then as 6; 6 ⇒ marks deleted.
 */
export async function repairCompression(o: Pick<CompressOptions, 'dataDir' | 'binlog' | 'flags' | 'log'>): Promise<'none' | 'rolled-back' | 'finished'> {
  const stage = o.flags.flag.trunk_binlog_compress_stage;
  switch (stage) {
    case STAGE.BEGIN: case STAGE.APPLY_DONE: case STAGE.SAVE_DONE: case STAGE.COMMIT_MERGING: case STAGE.ROLLBACK_MERGING:
    case STAGE.ROLLBACK_MERGE_DONE:
      o.log('warn', `trunk binlog compression stopped at stage ${stage}: rolling back`);
      await rollback(o);
      return 'rolled-back';
    case STAGE.COMMIT_MERGE_DONE:
      o.log('warn', `trunk binlog compression stopped at stage ${stage}: finishing it`);
      await finishCommit(o);
      await setStage(o, STAGE.FINISHED);
      return 'finished';
    case STAGE.SUCCESS:
      await deleteMarks(o.binlog.dir);
      await setStage(o, STAGE.FINISHED);
      return 'finished';
    default:
      return 'none';
  }
}
