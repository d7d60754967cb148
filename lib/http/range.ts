// HTTP Range (RFC 9110 §14): `bytes=a-b, c-, -n` against a file of `size` bytes.

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** More ranges than this in one request are refused (416): a cheap way to make us seek a lot. */
export const MAX_RANGES = 32;

/**
 * null: no Range to honour (absent, or another unit — served whole, as RFC 9110 says).
 * 'unsatisfiable': malformed, too many, or none inside the file ⇒ 416.
 * Otherwise the satisfiable ranges in request order, clipped to the file.
 */
export function parseRange(header: string | undefined, size: number): ByteRange[] | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const m = /^\s*([A-Za-z]+)\s*=(.*)$/.exec(header);
  if (!m) return 'unsatisfiable';
  if (m[1]!.toLowerCase() !== 'bytes') return null;
  const specs = m[2]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0 || specs.length > MAX_RANGES) return 'unsatisfiable';
  const out: ByteRange[] = [];
  for (const spec of specs) {
    const r = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return 'unsatisfiable';
    if (r[1] === '') {
      // suffix: the last n bytes
      const n = Number(r[2]);
      if (n === 0 || size === 0) continue;
      out.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const start = Number(r[1]);
    const end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
    if (r[2] !== '' && Number(r[2]) < start) return 'unsatisfiable';
    if (start >= size) continue;
    out.push({ start, end });
  }
  return out.length === 0 ? 'unsatisfiable' : out;
}
