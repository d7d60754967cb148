import { Buffer } from 'node:buffer';
import { HEADER_LEN } from './codes.ts';

// PROTOCOL.md §1.1: i64 pkg_len, u8 cmd, u8 status.

export interface PacketHeader {
  /** Body bytes that follow. A number: bodies beyond 2^53 are refused as EINVAL anyway. */
  length: number;
  cmd: number;
  status: number;
}

export function encodeHeader(length: number, cmd: number, status = 0): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LEN);
  b.writeBigInt64BE(BigInt(length), 0);
  b[8] = cmd;
  b[9] = status;
  return b;
}

/** Decode a header; a negative or unsafe length comes back as -1 so callers refuse it. */
export function decodeHeader(b: Uint8Array): PacketHeader {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const big = buf.readBigInt64BE(0);
  const length = big < 0n || big > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(big);
  return { length, cmd: buf[8]!, status: buf[9]! };
}
