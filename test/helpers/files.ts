import fs from 'node:fs';
import path from 'node:path';
import type { Buffer } from 'node:buffer';

/** Every regular file below root, by `/`-separated relative path (for byte-for-byte tree comparisons). */
export function readTree(root: string, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const d of fs.readdirSync(root, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) for (const [k, v] of readTree(path.join(root, d.name), rel)) out.set(k, v);
    else if (d.isFile()) out.set(rel, fs.readFileSync(path.join(root, d.name)));
  }
  return out;
}
