import { CMD, STORAGE_STATUS } from '../protocol/codes.ts';
import { FdfsError } from '../protocol/errno.ts';
import {
  decodeListFilesResponse, encodeListFilesRequest, LIST_FILES_DEFAULT_LIMIT,
} from '../protocol/list-files.ts';
import type { FdfsClient } from '../client/client.ts';
import { withSubject } from '../client/pool.ts';
import { formatAddress } from '../protocol/ip.ts';
import { parseHostPort } from '../config/values.ts';

// Client side of FDFS_LIST_FILES (120, lib/protocol/list-files.ts): the live files of a group,
// asked from one ACTIVE storage of the group found through the tracker (92).

export interface GroupFile {
  fileId: string;
  size: number;
  /** Unix seconds of the last change. */
  timestamp: number;
}

export interface ListGroupOptions {
  /** Only files changed at or after this Unix time. */
  since?: number;
  /** Ask this storage ("host:port") instead of one the tracker lists. */
  storage?: string;
  /** Entries per page (default 10000). */
  pageSize?: number;
  /** Called once with the totals of the whole listing, before the first file. */
  onTotal?: (files: number, bytes: number) => void;
}

/** An ACTIVE storage of the group (§4.0): it has every file the group's binlogs know about. */
export async function pickStorage(client: FdfsClient, group: string): Promise<{ host: string; port: number }> {
  const list = await client.listStorages(group);
  const active = list.filter((s) => s.status === STORAGE_STATUS.ACTIVE);
  if (active.length === 0) throw new FdfsError('ENOENT', 'no ACTIVE storage in the group', { subject: group });
  // The one that took client updates last is the most complete source.
  active.sort((a, b) => b.stat.last_source_update - a.stat.last_source_update);
  const s = active[0]!;
  return { host: s.ip_addr.split(',')[0]!.trim(), port: s.storage_port };
}

/**
 * Every live file of the group, page by page over one connection (the storage keeps the listing
 * of the first page for the next ones). Memory holds one page at a time.
 */
export async function* listGroupFiles(client: FdfsClient, group: string, opts: ListGroupOptions = {}): AsyncGenerator<GroupFile> {
  let target: { host: string; port: number };
  if (opts.storage) {
    const hp = parseHostPort(opts.storage, 23000);
    target = { host: hp.hosts[0]!, port: hp.port };
  } else {
    target = await pickStorage(client, group);
  }
  const address = formatAddress(target.host, target.port);
  const lease = await client.pool.acquire(target.host, target.port, { retryConnect: true }).catch((err) => { throw withSubject(err, address); });
  let ok = false;
  try {
    let after = '';
    let first = true;
    for (;;) {
      let body;
      try {
        body = await lease.conn.request(CMD.FDFS_LIST_FILES, encodeListFilesRequest({
          group, since: Math.max(0, Math.floor(opts.since ?? 0)), limit: opts.pageSize ?? LIST_FILES_DEFAULT_LIMIT, after,
        }), { subject: address });
      } catch (err) {
        const e = withSubject(err, address);
        // A FastDFS (C) storage answers an unknown command with EINVAL (and closes); so does ours
        // for a group that is not its own.
        if (e.code === 'EINVAL' && first) throw new FdfsError('EINVAL', `listing refused: the storage is not in group ${group}, or is a FastDFS (C) storage without the fdfs list extension`, { subject: address, cause: e });
        throw e;
      }
      const page = decodeListFilesResponse(body);
      if (first) opts.onTotal?.(page.totalFiles, page.totalBytes);
      first = false;
      for (const f of page.files) yield { fileId: `${group}/${f.name}`, size: f.size, timestamp: f.timestamp };
      if (!page.more || page.files.length === 0) break;
      after = page.files[page.files.length - 1]!.name;
    }
    ok = true;
  } finally {
    client.pool.release(lease.conn, ok);
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * `--since` values: Unix seconds (`1700000000`), an age (`90s`, `30m`, `12h`, `7d`, `2w`) or a
 * date/time Date.parse understands (`2024-05-01`, `2024-05-01T12:00:00Z`). Returns Unix seconds.
 */
export function parseSince(text: string, now = Date.now()): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const age = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(t);
  if (age) return Math.floor(now / 1000 - Number(age[1]) * UNIT_SECONDS[age[2]!.toLowerCase()]!);
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new FdfsError('EINVAL', 'not a time: use Unix seconds, an age like 12h or 7d, or a date like 2024-05-01T12:00:00Z', { subject: text });
  return Math.floor(ms / 1000);
}
