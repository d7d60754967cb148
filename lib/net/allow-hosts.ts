import dns from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import { FdfsError } from '../protocol/errno.ts';
import { normalizeIp } from '../protocol/ip.ts';

/**
 * allow_hosts (§1.4, §9.1) as FastDFS reads it (libfastcommon's load_allow_hosts): `*` for
 * everybody, exact addresses, host names (resolved once, at start-up), IPv4 CIDR blocks
 * (`10.0.0.0/8`) and bracket ranges (`10.0.1.[1-15,20]`, `host[01-08,20].domain.com`). An
 * entry that is none of these is refused at start-up: before, `127.0.3.*` or `10.0.0.1/33` were
 * taken without a word and matched nobody, locking clients out silently.
 */

export interface AllowHostsSpec {
  /** `*` is among the entries (or there are none): no check at all. */
  all: boolean;
  addresses: string[];
  blocks: Array<{ net: number; mask: number }>;
  /** Host names still to resolve. */
  names: string[];
}

/** Expansions of one entry at most: a typo such as `[1-99999999]` must not exhaust memory. */
const MAX_EXPANSION = 65536;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** What an allow_hosts entry may be, for error messages. */
export const ALLOW_HOSTS_ALLOWED = '*, an IP address, a host name, an IPv4 CIDR block (a.b.c.d/0-32), with optional [1-8,20] ranges';

function isHostName(s: string): boolean {
  // All-numeric dotted text that is not an IPv4 address (999.1.1.1, 127.0.3) is a bad address,
  // not a name.
  if (/^[\d.]+$/.test(s)) return false;
  return s.length <= 253 && s.split('.').every((l) => LABEL.test(l));
}

/** Entries as written: one per line, or several separated by commas/blanks outside brackets. */
function splitEntries(entries: readonly string[]): string[] {
  return entries.flatMap((raw) => raw.split(/[,\s]+(?![^[]*\])/)).map((e) => e.trim()).filter(Boolean);
}

/** Parse every entry; the first bad one is an EINVAL naming it. */
export function parseAllowHosts(entries: readonly string[]): AllowHostsSpec {
  const spec: AllowHostsSpec = { all: false, addresses: [], blocks: [], names: [] };
  const list = splitEntries(entries);
  if (list.length === 0) spec.all = true;
  for (const entry of list) {
    const bad = (why: string) => new FdfsError('EINVAL', `allow_hosts = ${entry}: ${why}; expected ${ALLOW_HOSTS_ALLOWED}`);
    if (entry === '*') { spec.all = true; continue; }
    if (entry.includes('/')) {
      const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(entry);
      if (!cidr || !isIPv4(cidr[1]!) || Number(cidr[2]) > 32) throw bad('not a valid CIDR block');
      const bits = Number(cidr[2]);
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      spec.blocks.push({ net: (ipv4ToInt(cidr[1]!) & mask) >>> 0, mask });
      continue;
    }
    for (const host of expandRanges(entry, bad)) {
      if (isIP(host)) spec.addresses.push(normalizeIp(host));
      else if (isHostName(host)) spec.names.push(host.toLowerCase());
      else throw bad(host === entry ? 'not an address or a host name' : `${host} is not an address or a host name`);
    }
  }
  return spec;
}

/** Syntax only (for the conf loader): true when parseAllowHosts accepts the entry. */
export function isAllowHostsEntry(entry: string): boolean {
  try {
    parseAllowHosts([entry]);
    return true;
  } catch {
    return false;
  }
}

export type Resolver = (name: string) => Promise<string[]>;

const systemResolver: Resolver = async (name) => (await dns.lookup(name, { all: true })).map((a) => a.address);

/**
 * The matcher of allow_hosts, host names resolved now (FastDFS resolves them once at start-up
 * too). A name that does not resolve is an EINVAL: it would lock its host out. Resolves to
 * undefined when every host is allowed.
 */
export async function loadAllowHosts(entries: readonly string[], resolve: Resolver = systemResolver): Promise<((ip: string) => boolean) | undefined> {
  const spec = parseAllowHosts(entries);
  if (spec.all) return undefined;
  const exact = new Set(spec.addresses);
  for (const name of spec.names) {
    let ips: string[];
    try {
      ips = await resolve(name);
    } catch (err) {
      throw new FdfsError('EINVAL', `allow_hosts: cannot resolve host name ${name}: ${(err as Error).message}`, { cause: err });
    }
    if (ips.length === 0) throw new FdfsError('EINVAL', `allow_hosts: host name ${name} has no address`);
    for (const ip of ips) exact.add(normalizeIp(ip));
  }
  return matcherOf(exact, spec.blocks);
}

function matcherOf(exact: ReadonlySet<string>, blocks: AllowHostsSpec['blocks']): (ip: string) => boolean {
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
function expandRanges(entry: string, bad: (why: string) => Error): string[] {
  const open = entry.indexOf('[');
  if (open < 0) {
    if (entry.includes(']')) throw bad('unbalanced brackets');
    return [entry];
  }
  const close = entry.indexOf(']', open);
  if (close < 0) throw bad('unbalanced brackets');
  const head = entry.slice(0, open);
  const list = entry.slice(open + 1, close);
  if (head.includes(']')) throw bad('unbalanced brackets');
  const tails = expandRanges(entry.slice(close + 1), bad);
  const out: string[] = [];
  for (const part of list.split(',')) {
    const r = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!r) throw bad(`bad range "${part}"`);
    const from = Number(r[1]);
    const to = r[2] === undefined ? from : Number(r[2]);
    if (to < from) throw bad(`range ${from}-${to} runs backwards`);
    const width = r[1]!.length;
    for (let i = from; i <= to; i++) {
      for (const rest of tails) {
        if (out.length >= MAX_EXPANSION) throw bad(`more than ${MAX_EXPANSION} hosts`);
        out.push(`${head}${String(i).padStart(width, '0')}${rest}`);
      }
    }
  }
  return out;
}
