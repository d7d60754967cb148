import { isIPv4 } from 'node:net';

/**
 * allow_hosts (§1.4, §9.1) as FastDFS reads it: `*` for everybody, exact addresses or host names,
 * IPv4 CIDR blocks (`10.0.0.0/8`) and bracket ranges (`10.0.1.[1-15,20]`, expanded like
 * libfastcommon's load_allow_hosts). Returns undefined when every host is allowed.
 */
export function allowHostsMatcher(entries: readonly string[]): ((ip: string) => boolean) | undefined {
  if (entries.length === 0 || entries.some((e) => e.trim() === '*')) return undefined;
  const exact = new Set<string>();
  const blocks: Array<{ net: number; mask: number }> = [];
  for (const raw of entries) {
    for (const entry of raw.split(/[,\s]+(?![^[]*\])/).map((e) => e.trim()).filter(Boolean)) {
      const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(entry);
      if (cidr && isIPv4(cidr[1]!) && Number(cidr[2]) <= 32) {
        const bits = Number(cidr[2]);
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        blocks.push({ net: (ipv4ToInt(cidr[1]!) & mask) >>> 0, mask });
        continue;
      }
      for (const host of expandRanges(entry)) exact.add(host);
    }
  }
  return (ip: string) => {
    if (exact.has(ip)) return true;
    if (!isIPv4(ip)) return false;
    const n = ipv4ToInt(ip);
    return blocks.some((b) => ((n & b.mask) >>> 0) === b.net);
  };
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

/** `host[01-03,7]x` → host01x host02x host03x host7x (zero padding kept from the range start). */
function expandRanges(entry: string): string[] {
  const m = /^(.*?)\[([^\]]*)\](.*)$/.exec(entry);
  if (!m) return [entry];
  const [, head, list, tail] = m as unknown as [string, string, string, string];
  const out: string[] = [];
  for (const part of list.split(',')) {
    const r = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!r) continue;
    const from = Number(r[1]);
    const to = r[2] === undefined ? from : Number(r[2]);
    const width = r[1]!.length;
    // A bounded expansion: a typo such as [1-99999999] must not exhaust memory.
    for (let i = from; i <= to && i - from < 65536; i++) {
      for (const rest of expandRanges(tail)) out.push(`${head}${String(i).padStart(width, '0')}${rest}`);
    }
  }
  return out;
}
