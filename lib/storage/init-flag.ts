import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './binlog.ts';

// `<base_path>/data/.data_init_flag` (PROTOCOL.md §7.5) and the per-store-path
// `data/.fastdfs_vars` marks that must agree with it.

export interface InitFlag {
  /** First-ever join (unix s), set at the first start. */
  storage_join_time: number;
  /** The initial copy from a sync source is finished (or there was nothing to copy). */
  sync_old_done: boolean;
  sync_src_server: string;
  sync_until_timestamp: number;
  last_ip_addr: string;
  last_server_port: number;
  current_trunk_file_id: number;
  trunk_last_compress_time: number;
  trunk_binlog_compress_stage: number;
  /** store_path_markN, by store path index; '' when not recorded. */
  store_path_marks: string[];
}

export function newInitFlag(now = Math.floor(Date.now() / 1000)): InitFlag {
  return {
    storage_join_time: now,
    sync_old_done: false,
    sync_src_server: '',
    sync_until_timestamp: 0,
    last_ip_addr: '',
    last_server_port: 0,
    current_trunk_file_id: 0,
    trunk_last_compress_time: 0,
    trunk_binlog_compress_stage: 0,
    store_path_marks: [],
  };
}

/** Key order as 6.16.1 writes it (captures/disk/main/s1/.data_init_flag). */
export function formatInitFlag(f: InitFlag): string {
  const lines = [
    `storage_join_time=${f.storage_join_time}`,
    `sync_old_done=${f.sync_old_done ? 1 : 0}`,
    `sync_src_server=${f.sync_src_server}`,
    `sync_until_timestamp=${f.sync_until_timestamp}`,
    `last_ip_addr=${f.last_ip_addr}`,
    `last_server_port=${f.last_server_port}`,
    `current_trunk_file_id=${f.current_trunk_file_id}`,
    `trunk_last_compress_time=${f.trunk_last_compress_time}`,
    `trunk_binlog_compress_stage=${f.trunk_binlog_compress_stage}`,
  ];
  f.store_path_marks.forEach((m, i) => { if (m) lines.push(`store_path_mark${i}=${m}`); });
  return lines.join('\n') + '\n';
}

function kvLines(text: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return kv;
}

function num(v: string | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

export function parseInitFlag(text: string): InitFlag {
  const kv = kvLines(text);
  const f = newInitFlag(0);
  f.storage_join_time = num(kv.get('storage_join_time'));
  f.sync_old_done = num(kv.get('sync_old_done')) !== 0;
  f.sync_src_server = kv.get('sync_src_server') ?? '';
  f.sync_until_timestamp = num(kv.get('sync_until_timestamp'));
  f.last_ip_addr = kv.get('last_ip_addr') ?? '';
  f.last_server_port = num(kv.get('last_server_port'));
  f.current_trunk_file_id = num(kv.get('current_trunk_file_id'));
  f.trunk_last_compress_time = num(kv.get('trunk_last_compress_time'));
  f.trunk_binlog_compress_stage = num(kv.get('trunk_binlog_compress_stage'));
  for (const [k, v] of kv) {
    const m = /^store_path_mark(\d+)$/.exec(k);
    if (m) f.store_path_marks[Number(m[1])] = v;
  }
  for (let i = 0; i < f.store_path_marks.length; i++) f.store_path_marks[i] ??= '';
  return f;
}

export async function readInitFlag(file: string): Promise<InitFlag | null> {
  try {
    return parseInitFlag(await fs.readFile(file, 'latin1'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function writeInitFlag(file: string, f: InitFlag): Promise<void> {
  return writeFileAtomic(file, formatInitFlag(f));
}

// ---- store path marks (§7.5) ----

export const STORE_PATH_VARS_FILE = '.fastdfs_vars';

/**
 * A new mark token. §7.5 leaves the format private; ours is URL-safe base64 of the address, port,
 * time and random bytes, so two storages never produce the same token.
 */
export function newStorePathMark(ip: string, port: number): string {
  const b = Buffer.alloc(64);
  b.write(ip.slice(0, 46), 0, 'latin1');
  b.writeUInt32BE(port >>> 0, 46);
  b.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0, 50);
  randomBytes(10).copy(b, 54);
  return b.toString('base64url');
}

export async function readStorePathMark(storePath: string): Promise<string | null> {
  try {
    const kv = kvLines(await fs.readFile(path.join(storePath, 'data', STORE_PATH_VARS_FILE), 'latin1'));
    return kv.get('store_path_mark') ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function writeStorePathMark(storePath: string, mark: string): Promise<void> {
  return writeFileAtomic(path.join(storePath, 'data', STORE_PATH_VARS_FILE), `store_path_mark=${mark}\n`);
}
