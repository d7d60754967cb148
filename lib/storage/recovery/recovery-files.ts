import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../binlog.ts';

// The work files of a disk recovery, all in `<store_pathN>/data/` (PROTOCOL.md §5.11): the flag
// file that says a recovery is under way, one binlog per recovery thread and its mark.

export const RECOVERY_FLAG_FILE = '.recovery.flag';
const BINLOG_BASE = '.binlog.recovery';
const MARK_BASE = '.recovery.mark';

export interface RecoveryFlag {
  /** Our status as the trackers saw it before the recovery (re-reported at the end). */
  savedStorageStatus: number;
  /** The peer's binlog is fetched and rewritten into `.binlog.recovery.0`. */
  fetchBinlogDone: boolean;
  /** How many per-thread binlogs the records are spread over; −1 while fetching. */
  recoveryThreads: number;
}

export class RecoveryFiles {
  constructor(readonly dataDir: string) {}

  get flagFile(): string { return path.join(this.dataDir, RECOVERY_FLAG_FILE); }
  binlogFile(i: number): string { return path.join(this.dataDir, `${BINLOG_BASE}.${i}`); }
  markFile(i: number): string { return path.join(this.dataDir, `${MARK_BASE}.${i}`); }
  binlogTmpFile(i: number): string { return path.join(this.dataDir, `${BINLOG_BASE}.${i}.tmp`); }

  async readFlag(): Promise<RecoveryFlag | null> {
    let text: string;
    try {
      text = await fs.readFile(this.flagFile, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const kv = new Map<string, string>();
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
    const int = (k: string, d: number) => {
      const n = Number(kv.get(k));
      return Number.isInteger(n) ? n : d;
    };
    return {
      savedStorageStatus: int('saved_storage_status', -1),
      fetchBinlogDone: int('fetch_binlog_done', 0) === 1,
      recoveryThreads: int('recovery_threads', -1),
    };
  }

  /** §5.11 key order: saved_storage_status, fetch_binlog_done, recovery_threads. */
  writeFlag(f: RecoveryFlag): Promise<void> {
    return writeFileAtomic(this.flagFile,
      `saved_storage_status=${f.savedStorageStatus}\nfetch_binlog_done=${f.fetchBinlogDone ? 1 : 0}\nrecovery_threads=${f.recoveryThreads}\n`);
  }

  async readMark(i: number): Promise<number> {
    try {
      const m = /binlog_offset=(\d+)/.exec(await fs.readFile(this.markFile(i), 'latin1'));
      return m ? Number(m[1]) : 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  }

  writeMark(i: number, offset: number): Promise<void> {
    return writeFileAtomic(this.markFile(i), `binlog_offset=${offset}\n`);
  }

  /** Older versions used `.binlog.recovery` / `.recovery.mark` without index: they become index 0. */
  async migrateLegacy(): Promise<void> {
    for (const [from, to] of [[path.join(this.dataDir, BINLOG_BASE), this.binlogFile(0)], [path.join(this.dataDir, MARK_BASE), this.markFile(0)]] as const) {
      try {
        await fs.rename(from, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /** Every work file: the flag last, so a crash in between still resumes. */
  async removeAll(): Promise<void> {
    const names = await fs.readdir(this.dataDir).catch(() => [] as string[]);
    for (const n of names) {
      if ((n.startsWith(`${BINLOG_BASE}`) || n.startsWith(`${MARK_BASE}`)) && n !== RECOVERY_FLAG_FILE) {
        await fs.rm(path.join(this.dataDir, n), { force: true });
      }
    }
    await fs.rm(this.flagFile, { force: true });
  }
}

/** C Time33Hash (unsigned 32-bit): spreads records over the recovery threads (§5.11 restore step 2). */
export function time33(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h + (h << 5) + text.charCodeAt(i)) >>> 0;
  return h;
}
