import fs from 'node:fs/promises';
import path from 'node:path';
import { FdfsError } from '../protocol/errno.ts';

// Relative paths that come from outside — manifest lines, tar entry names — decide where `fdfs get`
// writes. Whatever they say, nothing is written outside the output directory.

/**
 * Normalise a relative path to '/'-separated form, or null when it is not a safe relative path:
 * empty, absolute (`/x`, `\x`, `C:x`, `//host`), containing NUL, or with a `..` segment anywhere.
 * Backslashes count as separators so `..\x` is refused on every platform.
 */
export function normalizeRelPath(p: string): string | null {
  if (typeof p !== 'string' || p === '' || p.includes('\0')) return null;
  const s = p.replace(/\\/g, '/');
  if (s.startsWith('/') || /^[A-Za-z]:/.test(s)) return null;
  const out: string[] = [];
  for (const seg of s.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return null;
    out.push(seg);
  }
  return out.length === 0 ? null : out.join('/');
}

/** root + rel, refusing anything that would land outside root (EINVAL naming the path). */
export function safeJoin(root: string, rel: string): string {
  const norm = normalizeRelPath(rel);
  if (norm === null) throw new FdfsError('EINVAL', 'refusing unsafe path (absolute, empty or with "..")', { subject: JSON.stringify(rel) });
  const base = path.resolve(root);
  const full = path.resolve(base, ...norm.split('/'));
  const within = path.relative(base, full);
  if (within === '' || within.startsWith('..') || path.isAbsolute(within)) {
    throw new FdfsError('EINVAL', 'refusing path outside the output directory', { subject: JSON.stringify(rel) });
  }
  return full;
}

/**
 * Creates the directories above `file` (which safeJoin produced) one level at a time, checking each:
 * a directory we created, or a real directory already there, is inside; a symlink already in the
 * output tree is followed only if, through realpath, it stays inside root — otherwise writes would
 * leave the tree. Verified directories are remembered, so a tree of many files costs about one
 * mkdir per directory.
 */
export class SafeDirs {
  #root: string;
  #realRoot: Promise<string> | null = null;
  #verified = new Set<string>();

  constructor(root: string) {
    this.#root = path.resolve(root);
  }

  get root(): string { return this.#root; }

  async prepare(file: string): Promise<void> {
    this.#realRoot ??= fs.mkdir(this.#root, { recursive: true }).then(() => fs.realpath(this.#root));
    await this.#realRoot;
    await this.#dir(path.dirname(file), file);
  }

  async #dir(dir: string, file: string): Promise<void> {
    if (dir === this.#root || this.#verified.has(dir)) return;
    const rel = path.relative(this.#root, dir);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new FdfsError('EINVAL', 'refusing path outside the output directory', { subject: path.relative(this.#root, file) });
    }
    await this.#dir(path.dirname(dir), file);
    try {
      await fs.mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await fs.lstat(dir);
      if (st.isSymbolicLink()) {
        const inside = path.relative(await this.#realRoot!, await fs.realpath(dir));
        if (inside.startsWith('..') || path.isAbsolute(inside)) {
          throw new FdfsError('EINVAL', 'refusing to write through a symlink that leaves the output directory', { subject: path.relative(this.#root, file) });
        }
      } else if (!st.isDirectory()) {
        throw new FdfsError('ENOTDIR', 'a file is in the way of a directory', { subject: path.relative(this.#root, dir) });
      }
    }
    // Bounded: a pathological manifest with millions of directories must not grow memory forever.
    if (this.#verified.size > 10000) this.#verified.clear();
    this.#verified.add(dir);
  }
}
