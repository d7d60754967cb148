import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getMetadata, startDownload } from '../../lib/client/storage-client.ts';
import { ClientConnection } from '../../lib/net/client-connection.ts';
import { CMD, storageStatusName } from '../../lib/protocol/codes.ts';
import { Crc32 } from '../../lib/protocol/crc32.ts';
import { FdfsError } from '../../lib/protocol/errno.ts';
import { decodeMetadata } from '../../lib/protocol/metadata.ts';
import { decodeStorageStatRecords } from '../../lib/protocol/records.ts';
import { encodeListStorageRequest } from '../../lib/protocol/storage-tracker.ts';
import type { FileRecord, Ledger } from './ledger.ts';
import type { ChaosCluster, ChaosNode } from './topology.ts';

// The end of a chaos run: wait until the trackers agree that every storage is ACTIVE, then until
// every member of each group holds exactly what was acknowledged — checked on the members
// themselves (their own addresses, not through the proxy), content CRC32 computed from the bytes.

export interface Verdict {
  convergedMs: number | null;
  trackersAgree: boolean;
  clusterMap: string;
  filesVerified: number;
  checks: number;
  lost: string[];
  corrupted: string[];
  resurrected: string[];
  inconsistent: string[];
  metadataWrong: string[];
  tempFiles: string[];
}

type Seen = { size: number; crc: number } | null;

async function withConn<T>(n: ChaosNode, fn: (c: ClientConnection) => Promise<T>): Promise<T> {
  const c = await ClientConnection.connect(n.host, n.port, { networkTimeout: 20, connectTimeout: 3 });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Size and CRC32 of the whole file as one member serves it; null for ENOENT. */
async function stateOn(n: ChaosNode, r: FileRecord): Promise<Seen> {
  const name = r.id.slice(r.group.length + 1);
  try {
    return await withConn(n, async (c) => {
      const len = await startDownload(c, r.group, name, 0, 0, r.id);
      const crc = new Crc32();
      let got = 0;
      while (got < len) {
        const b = await c.reader.readSome(Math.min(1 << 20, len - got));
        crc.update(b);
        got += b.length;
      }
      return { size: len, crc: crc.digest() };
    });
  } catch (err) {
    if (err instanceof FdfsError && err.code === 'ENOENT') return null;
    throw err;
  }
}

async function metaOn(n: ChaosNode, r: FileRecord): Promise<Record<string, string> | null> {
  const name = r.id.slice(r.group.length + 1);
  try {
    return Object.fromEntries(decodeMetadata(await withConn(n, (c) => getMetadata(c, r.group, name, r.id)), 'latin1'));
  } catch (err) {
    if (err instanceof FdfsError && err.code === 'ENOENT') return null;
    throw err;
  }
}

/** "group: id STATUS, …" as one tracker lists it (92 per group). */
export async function mapOf(t: ChaosNode, groups: string[]): Promise<string> {
  const parts: string[] = [];
  const c = await ClientConnection.connect(t.host, t.port, { networkTimeout: 10, connectTimeout: 3 });
  try {
    for (const g of groups) {
      const body = await c.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(g));
      const list = decodeStorageStatRecords(body).map((s) => `${s.id} ${storageStatusName(s.status)}`).sort();
      parts.push(`${g}: ${list.join(', ')}`);
    }
  } finally {
    c.close();
  }
  return parts.join('; ');
}

/** Temporary and recovery work files under every storage's base and store path. */
export function leftoverTempFiles(cluster: ChaosCluster): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tmp$|^\.binlog\.recovery|^\.recovery\.(flag|mark)/.test(e.name)) out.push(p);
    }
  };
  for (const s of cluster.storages) {
    walk(path.join(s.base, 'data'));
    walk(path.join(s.storePath, 'data'));
  }
  return out;
}

export interface VerifyScope {
  /** Only this group's files… */
  group?: string;
  /** …on its members but this storage id. */
  except?: string;
}

export async function verify(cluster: ChaosCluster, ledger: Ledger, timeoutMs: number, log: (s: string) => void,
  scope: VerifyScope = {}): Promise<Verdict> {
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  const groups = [...new Set(cluster.storages.map((s) => s.group))].sort();
  const want = groups.map((g) => `${g}: ${cluster.group(g).map((s) => `${s.id} ACTIVE`).sort().join(', ')}`).join('; ');
  // 1. The trackers agree, and every storage is ACTIVE.
  let maps: string[] = [];
  let trackersAgree = false;
  while (Date.now() < deadline) {
    maps = await Promise.all(cluster.trackers.map((t) => mapOf(t, groups).catch((e: Error) => `error: ${e.message}`)));
    if (maps.every((m) => m === want)) { trackersAgree = true; break; }
    await sleep(500);
  }
  if (!trackersAgree) log(`trackers do not agree / not all ACTIVE: ${maps.map((m, i) => `tracker${i + 1} ${m}`).join(' | ')}`);

  // 2. Every member holds what was acknowledged (verified pairs are not checked again).
  const done = new Set<string>();
  const pending = () => [...ledger.files.values()].filter((r) => !scope.group || r.group === scope.group);
  let problems: Map<string, string> = new Map();
  let checks = 0;
  let convergedMs: number | null = null;
  while (Date.now() < deadline) {
    problems = new Map();
    for (const r of pending()) {
      const members = cluster.group(r.group).filter((m) => m.id !== scope.except);
      const seen: Seen[] = [];
      for (const m of members) {
        const key = `${m.id} ${r.id}`;
        if (done.has(key)) { seen.push(r.state === 'deleted' ? null : { size: r.size, crc: r.crc }); continue; }
        let s: Seen;
        try {
          s = await stateOn(m, r);
        } catch (err) {
          problems.set(r.id, `unreadable on ${m.id}: ${(err as Error).message}`);
          break;
        }
        checks++;
        seen.push(s);
        if (r.state === 'live') {
          if (s === null) problems.set(r.id, `lost:${m.id}: missing`);
          else if (s.size !== r.size || s.crc !== r.crc) problems.set(r.id, `corrupted:${m.id}: ${s.size} bytes CRC32 ${s.crc.toString(16)}, acknowledged ${r.size} bytes CRC32 ${r.crc.toString(16)}`);
          else done.add(key);
        } else if (r.state === 'deleted') {
          if (s !== null) problems.set(r.id, `resurrected:${m.id}: still there after an acknowledged delete`);
          else done.add(key);
        }
      }
      if (r.state === 'uncertain' && seen.length === members.length) {
        const first = JSON.stringify(seen[0]);
        if (!seen.every((s) => JSON.stringify(s) === first)) problems.set(r.id, `inconsistent: members hold ${seen.map((s) => JSON.stringify(s)).join(' / ')}`);
      }
    }
    if (problems.size === 0) { convergedMs = Date.now() - t0; break; }
    log(`converging: ${problems.size} files differ, e.g. ${[...problems].slice(0, 2).map(([k, v]) => `${k} ${v}`).join('; ')}`);
    await sleep(2000);
  }
  // 3. Metadata last set with an acknowledged overwrite, on every member.
  const metadataWrong: string[] = [];
  if (convergedMs !== null) {
    for (const r of ledger.files.values()) {
      if (r.state !== 'live' || r.meta === 'uncertain' || r.meta === null) continue;
      for (const m of cluster.group(r.group)) {
        const got = await metaOn(m, r).catch(() => 'error');
        if (JSON.stringify(got) !== JSON.stringify(r.meta)) metadataWrong.push(`${r.id} on ${m.id}: ${JSON.stringify(got)} ≠ ${JSON.stringify(r.meta)}`);
      }
    }
  }
  const kind = (p: string) => [...problems].filter(([, v]) => v.startsWith(p)).map(([k, v]) => `${k} ${v}`);
  const live = [...ledger.files.values()].filter((r) => r.state === 'live').length;
  return {
    convergedMs,
    trackersAgree,
    clusterMap: maps[0] ?? '',
    filesVerified: convergedMs === null ? live - kind('lost').length - kind('corrupted').length : live,
    checks,
    lost: [...kind('lost'), ...kind('unreadable')],
    corrupted: kind('corrupted'),
    resurrected: kind('resurrected'),
    inconsistent: kind('inconsistent'),
    metadataWrong,
    tempFiles: leftoverTempFiles(cluster),
  };
}
