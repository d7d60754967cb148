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
 * Creates the directories above `file` (which safeJoin produced) and checks, through realpath,
 * that they are inside root: a directory symlink already in the output tree must not carry writes
 * elsewhere. Verified directories are remembered, so a tree of many files costs one check per
 * directory.
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
    const dir = path.dirname(file);
    if (this.#verified.has(dir)) return;
    this.#realRoot ??= fs.mkdir(this.#root, { recursive: true }).then(() => fs.realpath(this.#root));
    const realRoot = await this.#realRoot;
    const check = async (p: string) => {
      const rel = path.relative(realRoot, await fs.realpath(p));
      if (rel.startsWith('..') || path.isAbsolute(rel)) {
        throw new FdfsError('EINVAL', 'refusing to write through a symlink that leaves the output directory', { subject: path.relative(this.#root, file) });
      }
    };
    // Check the deepest directory that exists before creating anything below it: mkdir would
    // otherwise follow a symlink and create directories outside.
    let existing = dir;
    while (existing !== this.#root && !(await fs.stat(existing).then(() => true, () => false))) existing = path.dirname(existing);
    await check(existing);
    await fs.mkdir(dir, { recursive: true });
    await check(dir);
    // Bounded: a pathological manifest with millions of directories must not grow memory forever.
    if (this.#verified.size > 10000) this.#verified.clear();
    this.#verified.add(dir);
  }
}
