// CRC-32 (IEEE 802.3 / zlib polynomial, reflected) — the checksum stored in file names
// (PROTOCOL.md §6.2) and reported by QUERY_FILE_INFO (§3.8).
import * as zlib from 'node:zlib';

type NativeCrc32 = (data: Uint8Array, value?: number) => number;

// zlib.crc32 exists from Node 20.15 / 22.2; Deno's node:zlib may not have it, so probe once at load
// and fall back to the portable implementation below.
const nativeCrc32: NativeCrc32 | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? ((zlib as unknown as { crc32: NativeCrc32 }).crc32)
    : undefined;

// Slicing-by-8 tables: TABLES[k * 256 + b] is the CRC of byte b followed by k zero bytes, so eight
// input bytes are folded per iteration instead of one.
const TABLES: Int32Array = buildTables();

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/**
 * Portable CRC-32, same contract as `zlib.crc32(buf, prev)`. Exported so tests can check it
 * against the native one; callers should use {@link crc32}.
 */
export function crc32Portable(buf: Uint8Array, prev = 0): number {
  const t = TABLES;
  let c = ~prev | 0;
  let i = 0;
  const n = buf.length;
  const end8 = n - (n & 7);
  while (i < end8) {
    const lo = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
    i += 8;
  }
  while (i < n) c = t[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Standard CRC-32 of `buf` (unsigned). `prev` is the CRC of the data before `buf`, so
 * `crc32(b, crc32(a)) === crc32(concat(a, b))`.
 */
export const crc32: (buf: Uint8Array, prev?: number) => number = nativeCrc32
  ? (buf, prev = 0) => nativeCrc32(buf, prev >>> 0) >>> 0
  : crc32Portable;

/** Streaming CRC-32 for content that arrives in chunks (uploads, appends). */
export class Crc32 {
  #value = 0;

  update(chunk: Uint8Array): this {
    this.#value = crc32(chunk, this.#value);
    return this;
  }

  digest(): number {
    return this.#value;
  }
}
