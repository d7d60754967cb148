import { FdfsError } from '../protocol/errno.ts';

// What an HTTP file URL names (PROTOCOL.md §10): `/<group>/M00/HH/HH/<name>` (or without the
// group when url_have_group_name is false). Anything that could lead outside the store paths is
// refused here, before a name ever becomes a file system path; locate() checks the rest.

/** Longest path we look at: group (16) + '/' + logic name (127) + slack for a leading slash. */
const MAX_PATH = 160;

export interface FileUrl {
  /** The group named by the URL ('' when URLs carry no group). */
  group: string;
  logicName: string;
}

/**
 * Splits a request path (without the query). Throws EINVAL (⇒ 400) for encoded slashes,
 * backslashes, NUL, '..', bad percent-encoding and over-long paths; ENOENT (⇒ 404) for a
 * path that is well formed but cannot name a file.
 */
export function parseFileUrl(rawPath: string, withGroup: boolean): FileUrl {
  if (rawPath.length > MAX_PATH * 3) throw new FdfsError('EINVAL', 'URL too long');
  // An encoded '/', '\' or NUL would survive the split below and then name another directory.
  if (/%(2f|5c|00)/i.test(rawPath)) throw new FdfsError('EINVAL', 'encoded separator in URL', { subject: rawPath.slice(0, 64) });
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw new FdfsError('EINVAL', 'bad percent-encoding in URL', { subject: rawPath.slice(0, 64) });
  }
  if (path.length > MAX_PATH) throw new FdfsError('EINVAL', `URL path of ${path.length} characters is too long`);
  if (path.includes('\0') || path.includes('\\') || !path.startsWith('/')) throw new FdfsError('EINVAL', 'invalid URL path', { subject: JSON.stringify(path) });
  const parts = path.slice(1).split('/');
  if (parts.some((p) => p === '..' || p === '.' || p === '')) throw new FdfsError('EINVAL', 'relative segment in URL path', { subject: JSON.stringify(path) });
  if (withGroup) {
    if (parts.length < 2) throw new FdfsError('ENOENT', 'no file in URL', { subject: path });
    return { group: parts[0]!, logicName: parts.slice(1).join('/') };
  }
  return { group: '', logicName: parts.join('/') };
}
