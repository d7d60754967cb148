/**
 * tracker.conf: loading, derived values and the rules that involve several keys
 * (PROTOCOL.md §9.1, trunk parameters §11.1). The keys themselves are in schema.ts (TRACKER_KEYS).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { isIPv6 } from 'node:net';
import { loadSchema, type LoadedSchema, type LoadOptions, type Origin } from './load.ts';
import { TRACKER_KEYS, type ConfigValues } from './schema.ts';
import { formatBytes } from './values.ts';
import type { StorageIdEntry } from './storage-ids.ts';

export type { LoadOptions } from './load.ts';

/**
 * The tracker's configuration: one property per tracker.conf key, named as in FastDFS
 * (see TRACKER_KEYS for types, defaults and meaning). After loading:
 * - `base_path` and `storage_ids_filename` are absolute paths;
 * - `min_buff_size`, `max_buff_size` and `slot_max_size` hold their derived values;
 * - trunk sizes are adjusted as the C tracker adjusts them (§11.1), each adjustment with a warning;
 * - `store_server` is 1 when use_trunk_file is true and store_server was 0 (§8.2).
 */
export type TrackerConfig = ConfigValues<typeof TRACKER_KEYS>;

export interface LoadedTrackerConfig {
  config: TrackerConfig;
  warnings: string[];
}

const KB = 1024;
const MB = 1024 * 1024;

/** Loads tracker.conf (optional) plus overrides. Throws ConfigError (one line: file:line: key = value: why). */
export function loadTrackerConfig(opts: LoadOptions = {}): LoadedTrackerConfig {
  const l = loadSchema(TRACKER_KEYS, 'tracker.conf', opts);
  const c = l.values as TrackerConfig;

  c.base_path = resolve(c.base_path);
  c.storage_ids_filename = resolveBesideConf(c.storage_ids_filename, l.origins.get('storage_ids_filename'), opts.file);
  applyBuffSizes(l, c);

  if (c.store_lookup === 1 && c.store_group === '') {
    throw l.errorAt('store_lookup', 'store_lookup = 1 (specified group) needs store_group = <group name>');
  }

  applyTrunkRules(l, c);
  if (c.use_trunk_file && c.store_server === 0) {
    // tracker_func.c: "set store_server to 1 because use_trunk_file is true"
    l.warnAt('store_server', 'set to 1 (first by id/IP) because use_trunk_file is true (§8.2)');
    c.store_server = 1;
  }

  if (ipv6Enabled(c.address_family, c.bind_addr)) {
    // tracker_func.c: IPv6 addresses cannot be carried in the 4-byte source field of file names (§6.2, §6.7).
    const cause = c.address_family === 'auto' ? 'bind_addr' : 'address_family';
    if (!c.use_storage_id) throw l.errorAt(cause, 'IPv6 needs use_storage_id = true');
    if (c.id_type_in_filename !== 'id') throw l.errorAt(cause, 'IPv6 needs id_type_in_filename = id');
  }

  return { config: c, warnings: l.warnings };
}

/**
 * The IP field size of the tracker's replies (`IPS`, PROTOCOL.md §0): IPv4 ⇒ 16, IPv6 ⇒ 46, auto ⇒
 * 46 only when use_storage_id is on and some storage id lists an IPv6 address.
 */
export function effectiveResponseIpAddrSize(
  config: Pick<TrackerConfig, 'response_ip_addr_size' | 'use_storage_id'>,
  storageIds: readonly StorageIdEntry[] = [],
): 16 | 46 {
  if (config.response_ip_addr_size === 'IPv4') return 16;
  if (config.response_ip_addr_size === 'IPv6') return 46;
  return config.use_storage_id && storageIds.some((e) => e.hosts.some((h) => h.includes(':'))) ? 46 : 16;
}

/** IPv6 is served when address_family says so, or (auto) when bind_addr holds an IPv6 address. */
export function ipv6Enabled(addressFamily: string, bindAddr: string): boolean {
  if (addressFamily === 'IPv6' || addressFamily === 'both') return true;
  return addressFamily === 'auto' && bindAddr.split(',').some((a) => isIPv6(a.trim()));
}

/**
 * storage_ids_filename (and other file names inside a conf) are relative to the conf file's
 * directory, as fdfs_load_storage_ids_from_file() does; a command-line value is relative to the
 * current directory, as a user typing it expects.
 */
export function resolveBesideConf(name: string, origin: Origin | undefined, confFile: string | undefined): string {
  if (isAbsolute(name)) return name;
  if (origin?.source === 'file' && origin.file !== undefined) return resolve(dirname(origin.file), name);
  if (origin?.source !== 'override' && confFile !== undefined) return resolve(dirname(confFile), name);
  return resolve(name);
}

/** libserverframe sf_global.c load_network_parameters(), with buff_size as the package size. */
function applyBuffSizes(l: LoadedSchema, c: TrackerConfig): void {
  const minGiven = l.origins.has('min_buff_size');
  const maxGiven = l.origins.has('max_buff_size');
  if (!minGiven || !maxGiven) {
    if (minGiven || maxGiven) {
      const key = minGiven ? 'min_buff_size' : 'max_buff_size';
      l.warnAt(key, 'ignored unless min_buff_size and max_buff_size are both set; both are buff_size');
    }
    c.min_buff_size = c.buff_size;
    c.max_buff_size = c.buff_size;
    l.origins.set('min_buff_size', { source: 'default', text: formatBytes(c.buff_size) });
    l.origins.set('max_buff_size', { source: 'default', text: formatBytes(c.buff_size) });
    return;
  }
  if (c.max_buff_size < c.buff_size) c.max_buff_size = c.buff_size;
  if (c.max_buff_size < c.min_buff_size) {
    l.warnAt('max_buff_size', `below min_buff_size; set to ${formatBytes(c.min_buff_size)}`);
    c.max_buff_size = c.min_buff_size;
  }
}

/** tracker_func.c tracker_load_from_conf_file(), in the C order (PROTOCOL.md §11.1). */
function applyTrunkRules(l: LoadedSchema, c: TrackerConfig): void {
  if (c.slot_min_size > 64 * KB) {
    l.warnAt('slot_min_size', 'too large, set to 64KB');
    c.slot_min_size = 64 * KB;
  }
  if (c.trunk_file_size < 4 * MB) {
    l.warnAt('trunk_file_size', 'too small, set to 4MB');
    c.trunk_file_size = 4 * MB;
  }
  if (!l.origins.has('slot_max_size')) {
    c.slot_max_size = Math.floor(c.trunk_file_size / 8);
    l.origins.set('slot_max_size', { source: 'default', text: formatBytes(c.slot_max_size) });
  }
  if (c.slot_max_size <= c.slot_min_size) {
    throw l.errorAt('slot_max_size', `must be greater than slot_min_size (${formatBytes(c.slot_min_size)})`);
  }
  if (c.slot_max_size > Math.floor(c.trunk_file_size / 2)) {
    c.slot_max_size = Math.floor(c.trunk_file_size / 2);
    l.warnAt('slot_max_size', `larger than trunk_file_size / 2, set to ${formatBytes(c.slot_max_size)}`);
  }
  if (c.slot_min_size < c.trunk_alloc_alignment_size) {
    l.warnAt('slot_min_size', `below trunk_alloc_alignment_size, set to ${formatBytes(c.trunk_alloc_alignment_size)}`);
    c.slot_min_size = c.trunk_alloc_alignment_size;
  }
}
