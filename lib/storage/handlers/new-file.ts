import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { Crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import type { NameRequest } from '../file-names.ts';
import { receiveInto } from './io.ts';

// What the commands that store content under a new name share (UPLOAD 11/23, UPLOAD_SLAVE 21,
// REGENERATE 38; PROTOCOL.md §3.1–§3.3, §3.13, §6.5): the content lands in a temp file in its
// final sub-directory, so the last step is a rename or link, under a name no other file has.

/** §6.5: the storage regenerates a name at most this many times when it already exists. */
const NAME_TRIES = 10;

/** A fresh temp file path in `dir`; no stored file's name starts with a dot. */
export function tempPathIn(dir: string): string {
  return path.join(dir, `.${randomBytes(8).toString('hex')}.tmp`);
}

export interface ReceivedFile {
  /** The temp file holding the content. */
  path: string;
  received: number;
  /** Unix seconds: the file's mtime when the content was complete. */
  mtime: number;
  crc32: number;
}

/**
 * Stream the rest of the request body into a new temp file in `dir`, computing its CRC32. A failed
 * or cut-off upload leaves nothing behind (no file, and so no binlog line).
 */
export async function receiveToTemp(req: Request, ctx: StorageContext, dir: string): Promise<ReceivedFile> {
  const tmp = tempPathIn(dir);
  ioEvent(ctx, 'open', 'start');
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(tmp, 'wx', 0o644);
  } catch (err) {
    throw new FdfsError('EAGAIN', `cannot create temp file in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  ioEvent(ctx, 'open', 'ok');
  const crc = new Crc32();
  let stored = false;
  try {
    const received = await receiveInto(req, ctx, fh, 0, { crc, countBody: true });
    // §6.2: the name carries the file's mtime at upload end; the binlog and 22 use the same value.
    const mtime = Math.floor((await fh.stat()).mtimeMs / 1000);
    stored = true;
    return { path: tmp, received, mtime, crc32: crc.digest() };
  } finally {
    await fh.close().catch(() => {});
    if (!stored) await fs.rm(tmp, { force: true }).catch(() => {});
  }
}

export interface ClaimedName {
  name: string;
  path: string;
  release(): void;
}

/**
 * A fresh logic name in `Mxx/HH/HH/` that exists neither on disk nor among the names being
 * finalised right now, claimed in ctx.claimedNames until `release()` (§6.5: at most 10 tries).
 * The disk check is a metadata-only syscall done synchronously, so no other request can claim the
 * name between the check and the claim.
 */
export function claimName(ctx: StorageContext, r: NameRequest): ClaimedName {
  if (!ctx.names.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');
  const dir = ctx.storePaths.subdir(r.storePathIndex, r.high, r.low);
  let name = '';
  for (let attempt = 0; attempt < NAME_TRIES; attempt++) {
    name = ctx.names.makeName(r);
    const p = path.join(dir, name.slice(name.lastIndexOf('/') + 1));
    if (ctx.claimedNames.has(name) || existsSync(p)) continue;
    ctx.claimedNames.add(name);
    return { name, path: p, release: () => { ctx.claimedNames.delete(name); } };
  }
  throw new FdfsError('EEXIST', `no unused file name after ${NAME_TRIES} tries`, { subject: name });
}

function existsSync(p: string): boolean {
  try {
    fsSync.lstatSync(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * §7.2 `C <name>`, timestamp = the file's mtime. A file whose creation cannot be logged would never
 * reach the replicas, and its client gets an error: it is removed again.
 */
export async function logCreated(ctx: StorageContext, name: string, filePath: string, mtime: number): Promise<void> {
  try {
    await ctx.binlog.append({ timestamp: mtime, op: 'C', name });
  } catch (err) {
    await fs.rm(filePath, { force: true }).catch(() => {});
    throw err;
  }
}
