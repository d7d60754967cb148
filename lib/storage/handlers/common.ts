import type { Buffer } from 'node:buffer';
import path from 'node:path';
import { GROUP_NAME_LEN, MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { readFixed } from '../../protocol/fields.ts';
import { parseLogicName, type LogicName } from '../../protocol/filename.ts';
import { hex2 } from '../store-paths.ts';
import type { StorageContext } from '../context.ts';
import type { EngineStat, StatOptions } from '../engine/engine.ts';
import { fsError } from '../engine/errors.ts';

export { fsError };

// Checks every client↔storage command shares (PROTOCOL.md §3 "Common server-side checks").

export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

/** §3: a request for another group is malformed (EINVAL, and the storage closes). */
export function checkGroup(ctx: StorageContext, group: string): void {
  if (group !== ctx.groupName) {
    throw new FdfsError('EINVAL', `group "${group}" is not this storage's group "${ctx.groupName}"`);
  }
}

export interface LocatedFile {
  logicName: string;
  parsed: LogicName;
  /** Physical path inside a store path's data directory. */
  path: string;
}

/**
 * Validate a logic file name (§3: `Mxx/HH/HH/name`, upper-case HH, no further '/', xx below the
 * store path count; we also refuse '..' and NUL) and map it to its physical path. Anything that
 * could reach outside the store paths is EINVAL.
 */
export function locate(ctx: StorageContext, logicName: string, maxLen = MAX_FILENAME_LEN): LocatedFile {
  if (logicName.length > maxLen) {
    throw new FdfsError('EINVAL', `file name of ${logicName.length} bytes is too long (max ${maxLen})`, { subject: logicName.slice(0, 64) });
  }
  const parsed = parseLogicName(logicName);
  if (!parsed) throw new FdfsError('EINVAL', 'invalid file name', { subject: logicName });
  if (parsed.storePathIndex >= ctx.storePaths.count) {
    throw new FdfsError('EINVAL', `store path index ${parsed.storePathIndex} ≥ store_path_count ${ctx.storePaths.count}`, { subject: logicName });
  }
  // `.` passes the C rules but names the sub-directory itself; spaces and control characters
  // never occur in real names and would break binlog lines (§7.2). No real name starts with a dot
  // (§6.4's alphabet has none), while our upload temp files do: a half-written upload left by a
  // kill -9 can therefore never be read through the protocol.
  if (parsed.base.startsWith('.') || !/^[\x21-\x7e]+$/.test(parsed.base)) {
    throw new FdfsError('EINVAL', 'invalid file name', { subject: JSON.stringify(logicName) });
  }
  if (parsed.high >= ctx.storePaths.subdirCount || parsed.low >= ctx.storePaths.subdirCount) {
    // Not a directory we made; it cannot hold a file.
    throw new FdfsError('ENOENT', 'no such file', { subject: logicName });
  }
  return {
    logicName,
    parsed,
    path: ctx.storePaths.filePath(parsed.storePathIndex, parsed.high, parsed.low, parsed.base),
  };
}

/** What is stored under a located file (not following links unless asked); ENOENT when nothing is. */
export async function statFile(ctx: StorageContext, f: LocatedFile, opts?: StatOptions): Promise<EngineStat> {
  const st = await ctx.engine.stat(f, opts);
  if (!st) throw new FdfsError('ENOENT', 'no such file', { subject: f.logicName });
  return st;
}

/** `GROUP` + text file name (12 DELETE, 15 GET_METADATA, 22 QUERY_FILE_INFO). */
export function decodeGroupAndName(body: Buffer): { group: string; logicName: string } {
  if (body.length <= GROUP_NAME_LEN) throw new FdfsError('EINVAL', `request body of ${body.length} bytes has no file name`);
  return { group: readFixed(body, 0, GROUP_NAME_LEN), logicName: body.toString('latin1', GROUP_NAME_LEN) };
}

/**
 * The logic name of a physical path inside one of our store paths (the target of a slave's
 * symlink, §3.5), or null when it points elsewhere.
 */
export function logicNameOfPath(ctx: StorageContext, target: string): string | null {
  for (let i = 0; i < ctx.storePaths.count; i++) {
    const rel = path.relative(ctx.storePaths.dataDir(i), target);
    const parts = rel.split(path.sep);
    if (parts.length === 3 && /^[0-9A-F]{2}$/.test(parts[0]!) && /^[0-9A-F]{2}$/.test(parts[1]!) && !parts[2]!.startsWith('.')) {
      return `M${hex2(i)}/${parts[0]}/${parts[1]}/${parts[2]}`;
    }
  }
  return null;
}
