import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { ClientConnection } from '../../lib/net/client-connection.ts';
import * as storage from '../../lib/client/storage-client.ts';
import { CMD, storageStatusName } from '../../lib/protocol/codes.ts';
import { FdfsError } from '../../lib/protocol/errno.ts';
import { crc32 } from '../../lib/protocol/crc32.ts';
import { decodeMetadata } from '../../lib/protocol/metadata.ts';
import { decodeStorageStatRecords } from '../../lib/protocol/records.ts';
import { encodeListStorageRequest } from '../../lib/protocol/storage-tracker.ts';
import { waitFor, type Cluster } from './cluster.ts';

// Talking to one particular storage of a test cluster, as replication tests need: put a change on
// a chosen member, then look at what every member holds.

export interface Addr { host: string; port: number }

export function addrOf(d: { host: string; port: number }): Addr {
  return { host: d.host, port: d.port };
}

/** `from`: the local address to connect from (a member's, for the storage-to-storage commands). */
export async function withConn<T>(a: Addr, fn: (c: ClientConnection) => Promise<T>, from?: string): Promise<T> {
  const c = await ClientConnection.connect(a.host, a.port, { networkTimeout: 30, localAddress: from });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

function content(buf: Buffer): storage.Content {
  return { size: buf.length, chunks: () => buf };
}

/** Upload straight to one storage (no tracker). Returns the file id. */
export function uploadTo(a: Addr, data: Buffer, opts: { ext?: string; appender?: boolean } = {}): Promise<string> {
  return withConn(a, async (c) => {
    const r = await storage.uploadFile(c, { appender: opts.appender, storePathIndex: -1, ext: opts.ext ?? 'bin', content: content(data) });
    return `${r.group}/${r.logicName}`;
  });
}

export function split(fileId: string): { group: string; name: string } {
  const i = fileId.indexOf('/');
  return { group: fileId.slice(0, i), name: fileId.slice(i + 1) };
}

/** The whole file from one storage, or null when it answers ENOENT. */
export async function readFrom(a: Addr, fileId: string): Promise<Buffer | null> {
  const { group, name } = split(fileId);
  try {
    return await withConn(a, async (c) => {
      const n = await storage.startDownload(c, group, name, 0, 0, fileId);
      return c.reader.readExact(n);
    });
  } catch (err) {
    if (err instanceof FdfsError && err.code === 'ENOENT') return null;
    throw err;
  }
}

export interface FileState { size: number; crc: number }

export async function stateOn(a: Addr, fileId: string): Promise<FileState | null> {
  const b = await readFrom(a, fileId);
  return b === null ? null : { size: b.length, crc: crc32(b) };
}

export async function metaOn(a: Addr, fileId: string): Promise<Record<string, string> | null> {
  const { group, name } = split(fileId);
  try {
    const blob = await withConn(a, (c) => storage.getMetadata(c, group, name, fileId));
    return Object.fromEntries(decodeMetadata(blob, 'latin1'));
  } catch (err) {
    if (err instanceof FdfsError && err.code === 'ENOENT') return null;
    throw err;
  }
}

export function setMetaOn(a: Addr, fileId: string, meta: Record<string, string>, flag: 'O' | 'M' = 'O'): Promise<void> {
  const { group, name } = split(fileId);
  const blob = Buffer.from(Object.entries(meta).map(([k, v]) => `${k}\x02${v}`).join('\x01'), 'latin1');
  return withConn(a, (c) => storage.setMetadata(c, group, name, flag, blob, fileId));
}

export function deleteOn(a: Addr, fileId: string): Promise<void> {
  const { group, name } = split(fileId);
  return withConn(a, (c) => storage.deleteFile(c, group, name, fileId));
}

export function appendOn(a: Addr, fileId: string, data: Buffer): Promise<void> {
  return withConn(a, (c) => storage.appendFile(c, split(fileId).name, content(data), fileId));
}

export function modifyOn(a: Addr, fileId: string, offset: number, data: Buffer): Promise<void> {
  return withConn(a, (c) => storage.modifyFile(c, split(fileId).name, offset, content(data), fileId));
}

export function truncateOn(a: Addr, fileId: string, size: number): Promise<void> {
  return withConn(a, (c) => storage.truncateFile(c, split(fileId).name, size, fileId));
}

/**
 * Whether a storage serves the appender commands (issue 4): append to a fresh appender file. A
 * storage without the command answers EINVAL (and closes), as for any unknown command.
 */
export async function servesAppend(a: Addr): Promise<boolean> {
  const id = await uploadTo(a, Buffer.from('probe'), { appender: true, ext: 'tmp' });
  try {
    await appendOn(a, id, Buffer.from('!'));
    return true;
  } catch (err) {
    if (err instanceof FdfsError && err.code === 'EINVAL') return false;
    throw err;
  } finally {
    await deleteOn(a, id).catch(() => {});
  }
}

export interface MemberView { id: string; ip: string; status: string; lastSynced: number; lastSourceUpdate: number }

/** 92 for the cluster's group, straight from the tracker. */
export async function members(cluster: Cluster): Promise<MemberView[]> {
  const c = await ClientConnection.connect('127.0.0.1', cluster.tracker.port);
  try {
    const body = await c.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(cluster.group));
    return decodeStorageStatRecords(body).map((r) => ({
      id: r.id, ip: r.ip_addr, status: storageStatusName(r.status),
      lastSynced: r.stat.last_synced_timestamp, lastSourceUpdate: r.stat.last_source_update,
    }));
  } finally {
    c.close();
  }
}

export async function waitActive(cluster: Cluster, n: number, timeoutMs = 20000): Promise<void> {
  await waitFor(`${n} ACTIVE storages`, async () => (await members(cluster)).filter((m) => m.status === 'ACTIVE').length >= n, timeoutMs, 100);
}

/** Wait until every storage holds exactly `expected` (size + CRC32), null meaning "absent". */
export async function waitConverged(addrs: Addr[], expected: Map<string, FileState | null>, timeoutMs = 30000): Promise<void> {
  let last = '';
  await waitFor('replicas to converge', async () => {
    for (const a of addrs) {
      for (const [id, want] of expected) {
        const got = await stateOn(a, id);
        const same = want === null ? got === null : got !== null && got.size === want.size && got.crc === want.crc;
        if (!same) {
          last = `${a.host}:${a.port} ${id}: want ${JSON.stringify(want)}, has ${JSON.stringify(got)}`;
          return false;
        }
      }
    }
    return true;
  }, timeoutMs, 100).catch((err: Error) => { throw new Error(`${err.message}; last difference: ${last}`); });
}

/** Data files (not `-m`, not temp) under one storage's store path. */
export function dataFiles(storePath: string): string[] {
  const out: string[] = [];
  const data = path.join(storePath, 'data');
  for (const h of fs.readdirSync(data)) {
    if (!/^[0-9A-F]{2}$/.test(h)) continue;
    for (const l of fs.readdirSync(path.join(data, h))) {
      for (const f of fs.readdirSync(path.join(data, h, l))) out.push(`M00/${h}/${l}/${f}`);
    }
  }
  return out.sort();
}

/** Leftover incoming temp files (`data/.cp*.tmp`). */
export function tempFiles(storePath: string): string[] {
  return fs.readdirSync(path.join(storePath, 'data')).filter((f) => /^\.cp\d+\.tmp$/.test(f));
}

/** Base path of storage i of a startCluster() cluster. */
export function storageBase(cluster: Cluster, i: number): string {
  return path.join(cluster.dir, `storage${i + 1}`);
}
