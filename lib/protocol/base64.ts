// FastDFS's base64 flavour (PROTOCOL.md §6.4): RFC 4648 URL-safe alphabet (`-`, `_`), pad char `.`,
// and no padding at all inside file names.
import { Buffer } from 'node:buffer';
import { crc32 } from './crc32.ts';

// Unpadded URL-safe text; a length of 1 mod 4 cannot come out of any byte string.
const B64_TEXT = /^[A-Za-z0-9_-]*$/;

/** URL-safe base64 without padding (20 bytes → 27 chars, 12 → 16). */
export function encodeB64(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('base64url');
}

/** True when `text` is unpadded URL-safe base64 that decodes to whole bytes. */
export function isB64(text: string): boolean {
  return B64_TEXT.test(text) && text.length % 4 !== 1;
}

/**
 * Decodes URL-safe base64 with missing padding, `.` padding (the C pad char) or `=` padding.
 * Throws a RangeError on anything else: Node's decoder silently skips bad characters, which would
 * turn a damaged file name into plausible-looking but wrong header fields.
 */
export function decodeB64(text: string): Buffer {
  const body = text.replace(/[.=]{1,2}$/, '');
  if (!isB64(body) || (body.length !== text.length && text.length % 4 !== 0)) {
    throw new RangeError(`invalid base64 text: ${JSON.stringify(text)}`);
  }
  return Buffer.from(body, 'base64url');
}

/**
 * Storage id of an IPv6 storage when use_storage_id=false (PROTOCOL.md §6.7): the CRC-32 register
 * after running over the address text from 0xFFFFFFFF *without* the final XOR (that is, the
 * complement of the standard CRC-32), as an 8-byte little-endian integer, base64 with `.` padding.
 * The register is taken as unsigned (upper four bytes zero), which is what the spec describes; its
 * only example has bit 31 clear, so a sign-extending C build could differ for other addresses.
 */
export function ipv6ShortCode(addr: string): string {
  const register = ~crc32(Buffer.from(addr, 'utf8')) >>> 0;
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32LE(register, 0);
  return encodeB64(bytes) + '.';
}
