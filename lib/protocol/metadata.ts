// Metadata blobs (PROTOCOL.md §3.6): `name 0x02 value` records joined by 0x01, no trailing separator.
// The same bytes travel in SET_METADATA (13), GET_METADATA (15) and sit in the `<name>-m` files.
//
// Names and values are bytes on the wire. Strings here default to UTF-8; a server that stores and
// merges blobs it did not write should pass 'latin1', which maps every byte to one char and back,
// so nothing is lost when a truncation cut a multi-byte character in half.
import { Buffer } from 'node:buffer';

export type MetadataEntry = [name: string, value: string];
export type MetadataInput = Record<string, string> | Iterable<MetadataEntry>;
export type MetadataEncoding = 'utf8' | 'latin1';

export const META_RECORD_SEPARATOR = 0x01;
export const META_FIELD_SEPARATOR = 0x02;
/** Longer names are cut to this many bytes when parsed (§3.6). */
export const META_NAME_MAX = 64;
/** Longer values are cut to this many bytes when parsed (§3.6). */
export const META_VALUE_MAX = 256;

const FORBIDDEN = /[\x00-\x02]/;

function entriesOf(meta: MetadataInput): MetadataEntry[] {
  if (Symbol.iterator in meta) return Array.from(meta as Iterable<MetadataEntry>, ([n, v]) => [n, v]);
  return Object.entries(meta as Record<string, string>);
}

/**
 * Packs records in the given order. Throws a RangeError if a name or value contains 0x00, 0x01 or
 * 0x02: the separators would split the record and the C reader stops at NUL.
 */
export function encodeMetadata(meta: MetadataInput, encoding: MetadataEncoding = 'utf8'): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of entriesOf(meta)) {
    if (FORBIDDEN.test(name) || FORBIDDEN.test(value)) {
      throw new RangeError(`metadata ${JSON.stringify(name)} contains a 0x00/0x01/0x02 byte`);
    }
    if (parts.length > 0) parts.push(Buffer.of(META_RECORD_SEPARATOR));
    parts.push(Buffer.from(name, encoding), Buffer.of(META_FIELD_SEPARATOR), Buffer.from(value, encoding));
  }
  return Buffer.concat(parts);
}

/**
 * Parses a blob the way the C server does (`fdfs_split_metadata`): stops at the first NUL (the
 * §3.6 quirk leaves a NUL and stale bytes after the records in some `-m` files), drops records
 * without 0x02, splits at the first 0x02, cuts names to 64 and values to 256 bytes.
 */
export function decodeMetadata(buf: Uint8Array, encoding: MetadataEncoding = 'utf8'): MetadataEntry[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const nul = b.indexOf(0);
  const end = nul < 0 ? b.length : nul;
  const out: MetadataEntry[] = [];
  let start = 0;
  while (start <= end) {
    let stop = b.indexOf(META_RECORD_SEPARATOR, start);
    if (stop < 0 || stop > end) stop = end;
    const sep = b.indexOf(META_FIELD_SEPARATOR, start);
    if (sep >= 0 && sep < stop) {
      const nameEnd = Math.min(sep, start + META_NAME_MAX);
      const valueEnd = Math.min(stop, sep + 1 + META_VALUE_MAX);
      out.push([b.toString(encoding, start, nameEnd), b.toString(encoding, sep + 1, valueEnd)]);
    }
    start = stop + 1;
  }
  return out;
}

/** C strcmp order: bytes compared unsigned, which for strings is the order of their UTF-8 encodings. */
export function compareMetadataNames(a: string, b: string, encoding: MetadataEncoding = 'utf8'): number {
  return Buffer.compare(Buffer.from(a, encoding), Buffer.from(b, encoding));
}

/** Records sorted by name in byte order (§3.6: how `-m` files are stored). Stable for equal names. */
export function sortMetadata(meta: MetadataInput, encoding: MetadataEncoding = 'utf8'): MetadataEntry[] {
  return entriesOf(meta).sort((x, y) => compareMetadataNames(x[0], y[0], encoding));
}

/**
 * SET_METADATA with flag 'M' (§3.6): the union of both sets, incoming values winning for equal
 * names (and the later of duplicate names within one set), sorted by name.
 */
export function mergeMetadata(
  existing: MetadataInput,
  incoming: MetadataInput,
  encoding: MetadataEncoding = 'utf8',
): MetadataEntry[] {
  const merged = new Map<string, string>(entriesOf(existing));
  for (const [name, value] of entriesOf(incoming)) merged.set(name, value);
  return sortMetadata(merged, encoding);
}
