import { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN, MAX_FILENAME_LEN } from './codes.ts';
import { FdfsError } from './errno.ts';
import { FieldReader, FieldWriter } from './fields.ts';

// FDFS_LIST_FILES (120) — an fdfs extension, not part of FastDFS. FastDFS cannot list what a
// group holds; this command asks one storage of the group for its live files, computed by
// replaying its binlog (PROTOCOL.md §7.2). Code 120 is unused by FastDFS 6.16 (§1.2), and a C
// storage answers an unknown command with EINVAL, so a client can tell "not supported" apart.
//
// Request body (32 + n bytes, n ≤ 127):
//
//   | off | size | field                                                                  |
//   |-----|------|------------------------------------------------------------------------|
//   | 0   | 16   | GROUP (must be the storage's own group, else EINVAL)                  |
//   | 16  | 8    | i64 since: only files whose last change (create, append, modify,       |
//   |     |      | truncate, rename) is at or after this Unix time; 0 = all               |
//   | 24  | 8    | i64 limit: most entries in this page; ≤ 0 = server default (10000);    |
//   |     |      | the server caps it at 100000                                            |
//   | 32  | n    | text after: the logic name of the last entry of the previous page     |
//   |     |      | (empty on the first page); the page starts after it in byte order      |
//
// Response body (17 + lines):
//
//   | off | size | field                                                                  |
//   |-----|------|------------------------------------------------------------------------|
//   | 0   | 8    | i64 total files in the whole listing (all pages)                       |
//   | 8   | 8    | i64 total bytes of those files                                         |
//   | 16  | 1    | u8 more: 1 = ask again with after = last name of this page             |
//   | 17  | …    | text lines `<logic name> <size> <timestamp>\n`, sorted by logic name   |
//
// Keyset paging (after = last name) rather than an offset: files created or deleted between two
// pages never make a page skip or repeat an entry that existed throughout.

export const LIST_FILES_REQUEST_FIXED = GROUP_NAME_LEN + 16;
export const LIST_FILES_RESPONSE_FIXED = 17;
export const LIST_FILES_DEFAULT_LIMIT = 10000;
export const LIST_FILES_MAX_LIMIT = 100000;

export interface ListFilesRequest {
  group: string;
  since: number;
  limit: number;
  after: string;
}

export interface ListedFile {
  /** Logic name `Mxx/HH/HH/name`. */
  name: string;
  size: number;
  /** Unix seconds of the last change. */
  timestamp: number;
}

export interface ListFilesPage {
  totalFiles: number;
  totalBytes: number;
  more: boolean;
  files: ListedFile[];
}

export function encodeListFilesRequest(r: ListFilesRequest): Buffer {
  const after = Buffer.from(r.after, 'latin1');
  if (after.length > MAX_FILENAME_LEN) throw new FdfsError('EINVAL', `list cursor of ${after.length} bytes is too long`);
  return new FieldWriter(LIST_FILES_REQUEST_FIXED + after.length)
    .str(r.group, GROUP_NAME_LEN).i64(r.since).i64(r.limit).bytes(after).buf;
}

export function decodeListFilesRequest(body: Buffer): ListFilesRequest {
  if (body.length < LIST_FILES_REQUEST_FIXED || body.length > LIST_FILES_REQUEST_FIXED + MAX_FILENAME_LEN) {
    throw new FdfsError('EINVAL', `list-files request of ${body.length} bytes (expect ${LIST_FILES_REQUEST_FIXED}..${LIST_FILES_REQUEST_FIXED + MAX_FILENAME_LEN})`);
  }
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), since: r.i64(), limit: r.i64(), after: r.text() };
}

export function encodeListFilesResponse(p: ListFilesPage): Buffer[] {
  const head = new FieldWriter(LIST_FILES_RESPONSE_FIXED).i64(p.totalFiles).i64(p.totalBytes).u8(p.more ? 1 : 0).buf;
  let text = '';
  for (const f of p.files) text += `${f.name} ${f.size} ${f.timestamp}\n`;
  return [head, Buffer.from(text, 'latin1')];
}

export function decodeListFilesResponse(body: Buffer): ListFilesPage {
  if (body.length < LIST_FILES_RESPONSE_FIXED) throw new FdfsError('EPROTO', `list-files response of ${body.length} bytes is too short`);
  const r = new FieldReader(body);
  const totalFiles = r.i64();
  const totalBytes = r.i64();
  const more = r.u8() === 1;
  const files: ListedFile[] = [];
  const text = r.text();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line === '') continue;
    const m = /^(\S+) (\d+) (-?\d+)$/.exec(line);
    if (!m) throw new FdfsError('EPROTO', `bad list-files line ${JSON.stringify(line.slice(0, 80))}`);
    files.push({ name: m[1]!, size: Number(m[2]), timestamp: Number(m[3]) });
  }
  return { totalFiles, totalBytes, more, files };
}
