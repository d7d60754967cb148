import fs from 'node:fs/promises';
import path from 'node:path';
import { binlogFileName, type BinlogPosition, type BinlogRecord } from '../binlog.ts';
import type { BinlogReader } from './binlog-reader.ts';

// How far a peer is behind (FDFS_SYNC_STATUS, lib/protocol/sync-status.ts): binlog bytes from its
// mark to the end of the binlog, and the records among them its reader would push (§5.7).

/** Binlog bytes past a peer's mark that FDFS_SYNC_STATUS reads to count records at most. */
export const BEHIND_SCAN_LIMIT = 64 * 1024 * 1024;

/** Size of binlog.<index> (a gzipped one counts as its compressed size; 0 when missing). */
async function binlogFileSize(dir: string, index: number): Promise<number> {
  const file = path.join(dir, binlogFileName(index));
  for (const f of [file, `${file}.gz`]) {
    try {
      return (await fs.stat(f)).size;
    } catch { /* next */ }
  }
  return 0;
}

export interface BacklogQuery {
  /** The binlog directory. */
  dir: string;
  /** The peer's mark. */
  start: BinlogPosition;
  /** The end of the binlog now. */
  end: BinlogPosition;
  newReader(start: BinlogPosition): BinlogReader;
  wouldPush(r: BinlogRecord): boolean;
  /** Bytes read to count records at most (a count at the cap is a lower bound). */
  scanLimit: number;
}

export async function countBacklog(q: BacklogQuery): Promise<{ records: number; bytes: number }> {
  const { start, end } = q;
  let bytes = 0;
  if (start.index >= end.index) {
    bytes = start.index === end.index ? Math.max(0, end.offset - start.offset) : 0;
  } else {
    for (let i = start.index; i < end.index; i++) {
      const size = await binlogFileSize(q.dir, i);
      bytes += i === start.index ? Math.max(0, size - start.offset) : size;
    }
    bytes += end.offset;
  }
  if (bytes === 0) return { records: 0, bytes: 0 };
  let records = 0;
  let scanned = 0;
  const reader = q.newReader(start);
  try {
    while (scanned < q.scanLimit) {
      const item = await reader.next();
      if (item.kind === 'eof') break;
      if (item.end.index === item.start.index) scanned += item.end.offset - item.start.offset;
      else scanned += item.end.offset;
      // Stop at the end seen at the start: lines appended meanwhile are not counted.
      if (item.start.index > end.index || (item.start.index === end.index && item.start.offset >= end.offset)) break;
      if (item.kind === 'record' && q.wouldPush(item.record)) records++;
    }
  } finally {
    await reader.close();
  }
  return { records, bytes };
}
