import type { Buffer } from 'node:buffer';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Request } from '../../net/packet-server.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import {
  decodeListFilesRequest, encodeListFilesResponse,
  LIST_FILES_DEFAULT_LIMIT, LIST_FILES_MAX_LIMIT, type ListedFile,
} from '../../protocol/list-files.ts';
import { binlogFileName, parseBinlogLine, readBinlogIndex, type BinlogRecord } from '../binlog.ts';
import type { StorageContext } from '../context.ts';
import { checkGroup, locate } from './common.ts';

// FDFS_LIST_FILES (120), an fdfs extension (codec and layout: lib/protocol/list-files.ts): the live
// files of this storage, found by replaying its binlog (PROTOCOL.md §7.2) from the first file to
// the last. Register it with `handlers.set(CMD.FDFS_LIST_FILES, listFiles)`.

/** name → Unix time of the last change, for the data files alive after `records`. */
export class LiveFiles {
  readonly #live = new Map<string, number>();

  get size(): number { return this.#live.size; }

  /**
   * One binlog record, upper or lower case alike: a replica (lower case) is as much a file of this
   * storage as an upload. `-m` metadata files are not data files and are left out.
   */
  apply(r: BinlogRecord): void {
    const name = r.name;
    switch (r.op) {
      case 'C': case 'c': case 'U': case 'u':
      case 'A': case 'a': case 'M': case 'm': case 'T': case 't':
        if (!name.endsWith('-m')) this.#live.set(name, r.timestamp);
        break;
      case 'D': case 'd':
        this.#live.delete(name);
        break;
      case 'R': case 'r':
        // `R <new> <old>` (§3.13): the appender name is gone, the regenerated one is alive.
        if (r.extra) this.#live.delete(r.extra);
        this.#live.set(name, r.timestamp);
        break;
      case 'L': case 'l':
        // `L <link> <target>`: the slave name (a symlink) is a file clients download. 6.16.1's
        // broken `L  <target>` lines do not parse (§3.3) and never reach here.
        this.#live.set(name, r.timestamp);
        break;
      default:
        break;
    }
  }

  /** Names (sorted in byte order) changed at or after `since`, with their change time. */
  sorted(since = 0): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const e of this.#live) if (e[1] >= since) out.push(e);
    // Logic names are ASCII: code-unit order is byte order.
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out;
  }
}

function openBinlogFile(dir: string, index: number): Readable | null {
  const file = path.join(dir, binlogFileName(index));
  if (fs.existsSync(file)) return fs.createReadStream(file, { encoding: 'latin1', highWaterMark: 256 * 1024 });
  // §7.1 compress_binlog: older files may have been gzipped.
  if (fs.existsSync(`${file}.gz`)) return fs.createReadStream(`${file}.gz`, { highWaterMark: 256 * 1024 }).pipe(zlib.createGunzip()).setEncoding('latin1');
  return null;
}

/** Replay every binlog file of `dir` (binlog.000 … current_write). */
export async function replayBinlog(dir: string, live = new LiveFiles()): Promise<LiveFiles> {
  const { currentWrite } = await readBinlogIndex(dir);
  for (let i = 0; i <= currentWrite; i++) {
    const input = openBinlogFile(dir, i);
    if (!input) continue;
    const rl = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const line of rl) {
        const r = parseBinlogLine(line);
        if (r) live.apply(r);
      }
    } finally {
      rl.close();
      input.destroy();
    }
  }
  return live;
}

interface Snapshot {
  since: number;
  files: ListedFile[];
  totalBytes: number;
}

const SNAPSHOT_KEY = 'fdfsListFiles';

/**
 * The listing for `since`: sizes come from the name for normal files (§6.3); appender and slave
 * files (whose names do not carry their size) are stat'ed, and dropped if they are gone.
 */
async function buildSnapshot(ctx: StorageContext, since: number): Promise<Snapshot> {
  // Records of uploads acknowledged a moment ago may still be queued in the writer.
  await ctx.binlog.flush().catch(() => {});
  const live = await replayBinlog(ctx.binlog.dir);
  const files: ListedFile[] = [];
  let totalBytes = 0;
  for (const [name, timestamp] of live.sorted(since)) {
    const d = decodeFileName(name);
    let size: number;
    if (d && d.type === 'normal') {
      size = d.nameSize;
    } else {
      try {
        size = (await fsp.stat(locate(ctx, name).path)).size;
      } catch {
        continue;
      }
    }
    files.push({ name, size, timestamp });
    totalBytes += size;
  }
  return { since, files, totalBytes };
}

/** First index whose name sorts after `after`. */
function startAfter(files: ListedFile[], after: string): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (files[mid]!.name <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export async function listFiles(req: Request, ctx: StorageContext): Promise<Buffer[]> {
  const r = decodeListFilesRequest(await req.body());
  checkGroup(ctx, r.group);
  const since = r.since > 0 ? r.since : 0;
  const limit = r.limit > 0 ? Math.min(r.limit, LIST_FILES_MAX_LIMIT) : LIST_FILES_DEFAULT_LIMIT;
  // A first page replays the binlog; the following pages on the same connection reuse that
  // snapshot (one replay per listing, not per page). A continuation on another connection
  // replays again and resumes after the cursor name.
  let snap = req.conn.data[SNAPSHOT_KEY] as Snapshot | undefined;
  if (r.after === '' || !snap || snap.since !== since) {
    snap = await buildSnapshot(ctx, since);
    req.conn.data[SNAPSHOT_KEY] = snap;
  }
  const start = r.after === '' ? 0 : startAfter(snap.files, r.after);
  const page = snap.files.slice(start, start + limit);
  const more = start + page.length < snap.files.length;
  if (!more) delete req.conn.data[SNAPSHOT_KEY];
  return encodeListFilesResponse({ totalFiles: snap.files.length, totalBytes: snap.totalBytes, more, files: page });
}
