import fs from 'node:fs/promises';
import path from 'node:path';

// Temp files a crash or a full disk left behind (crash safety writes a temp name, then renames,
// STYLE.md): nobody ever reads them, so start-up removes them before they pile up.

/** `<file>.tmp` and `<file>.<pid>.<random>.tmp`, as writeFileAtomic and the tracker write them. */
export const STATE_TEMP = /\.tmp$/;

export interface SweepOptions {
  /** Only names matching this are removed. */
  match: RegExp;
  /** Keep files modified at or after this time (ms): a write of this process may own them. */
  olderThanMs?: number;
}

/** Remove matching regular files directly in `dir`; returns how many went. A missing dir is 0. */
export async function sweepTempFiles(dir: string, opts: SweepOptions): Promise<number> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (!opts.match.test(name)) continue;
    const file = path.join(dir, name);
    try {
      const st = await fs.lstat(file);
      if (!st.isFile()) continue;
      if (opts.olderThanMs !== undefined && st.mtimeMs >= opts.olderThanMs) continue;
      await fs.rm(file, { force: true });
      n++;
    } catch { /* gone meanwhile */ }
  }
  return n;
}

/** sweepTempFiles over many directories, at most `limit` at a time. */
export async function sweepTempFilesIn(dirs: Iterable<string>, opts: SweepOptions, limit = 8): Promise<number> {
  const it = dirs[Symbol.iterator]();
  let total = 0;
  const worker = async (): Promise<void> => {
    for (let r = it.next(); !r.done; r = it.next()) {
      const n = await sweepTempFiles(r.value, opts);
      total += n;
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return total;
}
