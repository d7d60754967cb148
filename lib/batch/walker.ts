import { lstatSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

// Directory sources of `fdfs put`: regular files found recursively, streamed (fs.opendir) so a
// directory of a million files costs no more memory than one of ten.

export interface WalkEntry {
  /** Relative to the walked directory, '/'-separated. */
  path: string;
  /** Absolute path on this machine. */
  abs: string;
  size: number;
  /** Unix seconds. */
  mtime: number;
}

export interface WalkOptions {
  /** Relative paths (files and directories) to leave out; a matching directory is not entered. */
  exclude?: (relPath: string) => boolean;
  /** Something was skipped (symlink, socket, device, unreadable directory). */
  onWarning?: (relPath: string, message: string) => void;
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}

export async function* walkDirectory(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const base = path.resolve(root);
  // Depth first; each stack item is a directory relative path ('' = root).
  const stack: string[] = [''];
  while (stack.length > 0) {
    const relDir = stack.pop()!;
    const absDir = relDir === '' ? base : path.join(base, ...relDir.split('/'));
    let dir: import('node:fs').Dir;
    try {
      dir = await fs.opendir(absDir, { bufferSize: 256 });
    } catch (err) {
      if (relDir === '') throw err;
      opts.onWarning?.(relDir, `skipped directory: ${(err as Error).message}`);
      continue;
    }
    const subdirs: string[] = [];
    try {
      for await (const d of dir) {
        const rel = relDir === '' ? d.name : `${relDir}/${d.name}`;
        if (opts.exclude?.(rel)) continue;
        const abs = path.join(absDir, d.name);
        let st: import('node:fs').Stats;
        try {
          // Synchronous on purpose: a few µs from the inode cache, where the promise version costs
          // a thread-pool round trip per file — the walk of many small files is otherwise the
          // slowest part of `fdfs put`.
          st = lstatSync(abs);
        } catch (err) {
          // Removed while we walked: nothing to upload.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') opts.onWarning?.(rel, `skipped: ${(err as Error).message}`);
          continue;
        }
        if (st.isDirectory()) subdirs.push(rel);
        else if (st.isFile()) yield { path: rel, abs, size: st.size, mtime: Math.floor(st.mtimeMs / 1000) };
        else opts.onWarning?.(rel, `skipped ${kindOf(st)}`);
      }
    } catch (err) {
      opts.onWarning?.(relDir || '.', `directory listing failed: ${(err as Error).message}`);
    }
    // Reverse so sub-directories come out in listing order.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
}

/** Files and bytes a walk would yield (for a progress total); same rules, no contents read. */
export async function countDirectory(root: string, opts: Pick<WalkOptions, 'exclude'> & { signal?: AbortSignal } = {}): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const e of walkDirectory(root, { exclude: opts.exclude })) {
    if (opts.signal?.aborted) break;
    files++;
    bytes += e.size;
  }
  return { files, bytes };
}
