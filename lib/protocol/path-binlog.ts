import { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN } from './codes.ts';
import { FieldReader, FieldWriter } from './fields.ts';

// FETCH_ONE_PATH_BINLOG (26), PROTOCOL.md §5.8: request `GROUP` + `u8 store_path_index`; the
// response header announces a "length unknown" body, the text lines follow, then an 8-byte
// big-endian count of the text bytes, then the server closes.

export const PATH_BINLOG_REQUEST_LEN = GROUP_NAME_LEN + 1;

/** §5.8: pkg_len of the response header, 2^58 — a marker, not a length. */
export const PATH_BINLOG_UNKNOWN_LENGTH = 2n ** 58n;

export const PATH_BINLOG_TRAILER_LEN = 8;

export function encodePathBinlogRequest(group: string, storePathIndex: number): Buffer {
  return new FieldWriter(PATH_BINLOG_REQUEST_LEN).str(group, GROUP_NAME_LEN).u8(storePathIndex & 0xff).buf;
}

export function decodePathBinlogRequest(body: Buffer): { group: string; storePathIndex: number } {
  if (body.length !== PATH_BINLOG_REQUEST_LEN) throw new RangeError(`FETCH_ONE_PATH_BINLOG body of ${body.length} bytes, expected ${PATH_BINLOG_REQUEST_LEN}`);
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), storePathIndex: r.u8() };
}

export function encodePathBinlogTrailer(textBytes: number): Buffer {
  const b = Buffer.alloc(PATH_BINLOG_TRAILER_LEN);
  b.writeBigInt64BE(BigInt(textBytes));
  return b;
}
