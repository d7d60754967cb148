import fs from 'node:fs/promises';
import path from 'node:path';
import type { TrunkBinlog } from './binlog-writer.ts';

// 33 TRUNCATE_BINLOG_FILE on a member (PROTOCOL.md §11.6, §11.10): empty the local trunk binlog,
// keeping `binlog.YYYYmmddHHMMSS` backups when trunk_binlog_max_backups > 0, and delete the snapshot.

const BACKUP = /^binlog\.\d{14}$/;

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export async function truncateTrunkBinlog(binlog: TrunkBinlog, snapshotFile: string, maxBackups: number, now = new Date()): Promise<void> {
  await binlog.whileClosed(async () => {
    if (maxBackups <= 0) {
      await fs.truncate(binlog.file, 0).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
      return;
    }
    const backups = (await fs.readdir(binlog.dir)).filter((n) => BACKUP.test(n)).sort();
    // Oldest first (the names sort by time): keep max − 1 so that with the new one there are max.
    for (const n of backups.slice(0, Math.max(0, backups.length - (maxBackups - 1)))) await fs.rm(path.join(binlog.dir, n), { force: true });
    let target = path.join(binlog.dir, `binlog.${stamp(now)}`);
    // Two truncations within one second must not overwrite the first backup.
    for (let i = 1; await fs.access(target).then(() => true, () => false); i++) target = path.join(binlog.dir, `binlog.${stamp(new Date(now.getTime() + i * 1000))}`);
    await fs.rename(binlog.file, target).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
  });
  await fs.rm(snapshotFile, { force: true });
}
