/**
 * storage_ids.conf (PROTOCOL.md §4.13, §9.1; fdfs_server_id_func.c fdfs_load_storage_ids):
 *
 *     # id      group   host[,host2][:port]        [rw=…]
 *     100001    group1  192.168.0.196
 *     100002    group1  10.0.0.2,122.244.141.46:23001  rw=read
 *     100003    group2  [2409:8a20::1]:23000       rw=none
 *
 * Fields are separated by spaces or tabs; `#` starts a comment line. An entry without a port means
 * port 23000, not "any port": storages are looked up by group + IP + port (captures/README.md,
 * discrepancy 5). The same parser reads the lines of a FETCH_STORAGE_IDS (69) reply.
 */
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { ConfigError, ValueError } from './errors.ts';
import { STORAGE_DEFAULT_PORT } from './schema.ts';
import { formatHostPort, isValidGroupName, isValidStorageId, parseHostPort } from './values.ts';

/** Which operations a storage takes: FastDFS rw_mode (`rw=` option; absent = both). */
export type RwMode = 'both' | 'read' | 'write' | 'none';

export interface StorageIdEntry {
  /** Decimal id 1..16777215, as text (ids travel as strings on the wire, §0). */
  id: string;
  group: string;
  /** One address, or two (inner first, outer second, as FastDFS orders them). */
  hosts: string[];
  port: number;
  rw: RwMode;
  /** Where the entry was read. */
  file: string;
  line: number;
}

// fdfs_server_id_func.h: read/readonly, write/writeonly, both/all, none (case-insensitive).
const RW_WORDS: Record<string, RwMode> = {
  read: 'read',
  readonly: 'read',
  write: 'write',
  writeonly: 'write',
  both: 'both',
  all: 'both',
  none: 'none',
};

/** Parses storage_ids.conf text. Throws ConfigError naming file and line. An empty list is allowed here. */
export function parseStorageIds(text: string, file: string): StorageIdEntry[] {
  const entries: StorageIdEntry[] = [];
  const byId = new Map<string, StorageIdEntry>();
  const byAddress = new Map<string, StorageIdEntry>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fail = (message: string): never => {
      throw new ConfigError(`${file}:${line}: ${raw}: ${message}`, { file, line, value: raw });
    };
    const fields = raw.split(/[ \t]+/);
    if (fields.length < 3) fail('expected "id group host[,host2][:port] [rw=read|write|both|none]"');
    if (fields.length > 4) fail(`unexpected "${fields.slice(4).join(' ')}" after the rw= option`);
    const [id, group, address, option] = fields as [string, string, string, string | undefined];

    if (!isValidStorageId(id)) fail(`invalid id "${id}": expected a decimal number from 1 to 16777215 without leading zeros`);
    if (!isValidGroupName(group)) fail(`invalid group "${group}": expected 1 to 16 letters or digits`);
    let hosts: string[];
    let port: number;
    try {
      ({ hosts, port } = parseHostPort(address, STORAGE_DEFAULT_PORT));
    } catch (err) {
      if (err instanceof ValueError) return fail(`address "${address}": ${err.message}`);
      throw err;
    }
    if (hosts.length === 2) hosts = orderDualIps(hosts, fail);

    let rw: RwMode = 'both';
    if (option !== undefined) {
      const m = /^rw=(.*)$/i.exec(option);
      const mode = m ? RW_WORDS[m[1]!.toLowerCase()] : undefined;
      if (mode === undefined) fail(`invalid option "${option}": expected rw=read, rw=write, rw=both or rw=none`);
      rw = mode!;
    }

    const entry: StorageIdEntry = { id, group, hosts, port, rw, file, line };
    const sameId = byId.get(id);
    if (sameId) fail(`id ${id} is already used at line ${sameId.line}`);
    for (const h of hosts) {
      const key = formatHostPort(h, port);
      const other = byAddress.get(key);
      if (other) fail(`${key} is already listed at line ${other.line} (id ${other.id})`);
      byAddress.set(key, entry);
    }
    byId.set(id, entry);
    entries.push(entry);
  }
  return entries;
}

/**
 * Reads a storage_ids.conf file. Unlike parseStorageIds, an empty list is an error, as in
 * FastDFS ("no storage id!"): a tracker with use_storage_id needs at least one id.
 */
export function loadStorageIds(path: string): StorageIdEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as { code?: string; message: string };
    throw new ConfigError(`${path}: cannot read storage ids file: ${e.code ?? e.message}`, { file: path });
  }
  const entries = parseStorageIds(text, path);
  if (entries.length === 0) throw new ConfigError(`${path}: no storage id in the file`, { file: path });
  return entries;
}

/**
 * One line as FETCH_STORAGE_IDS (69) sends it: `id group host[,host2]:port[ rw=…]`. The port is always
 * written (what 6.16.1 does, captures/README.md discrepancy 5); `rw=` only when not both (§4.13).
 */
export function formatStorageIdLine(e: Pick<StorageIdEntry, 'id' | 'group' | 'hosts' | 'port' | 'rw'>): string {
  const rw = e.rw === 'both' ? '' : ` rw=${e.rw}`;
  return `${e.id} ${e.group} ${formatHostPort(e.hosts, e.port)}${rw}`;
}

/**
 * fdfs_check_and_format_ips(): two IPv4 addresses of one storage must be of different types (one
 * inner and one outer, or two kinds of inner), and the inner one is kept first. Host names and
 * IPv6 addresses are not classified (FastDFS resolves names first; we do not resolve here).
 */
function orderDualIps(hosts: string[], fail: (message: string) => never): string[] {
  const [a, b] = hosts as [string, string];
  if (!isIPv4(a) || !isIPv4(b)) return hosts;
  const ta = ipType(a);
  const tb = ipType(b);
  if (ta === tb) {
    fail(`${a} and ${b}: one must be an inner and the other an outer address, or two different kinds of inner address`);
  }
  return ta === 'outer' ? [b, a] : hosts;
}

/** PROTOCOL.md §0 IP "type" classification. */
function ipType(ip: string): 'private-10' | 'private-172' | 'private-192' | 'outer' {
  if (ip.startsWith('10.')) return 'private-10';
  if (ip.startsWith('192.168.')) return 'private-192';
  if (ip.startsWith('172.')) {
    const second = Number(ip.split('.')[1]);
    if (second >= 16 && second < 32) return 'private-172';
  }
  return 'outer';
}
