/**
 * storage.conf: loading, the numbered store path keys and other derived values (PROTOCOL.md §9.2).
 * The keys themselves are in schema.ts (STORAGE_KEYS).
 */
import { resolve } from 'node:path';
import { loadSchema, showValue, type DynamicItem, type LoadedSchema, type LoadOptions, type Origin } from './load.ts';
import { MAX_STORE_PATHS, STORAGE_KEYS, type ConfigValues } from './schema.ts';
import { parseBool, type HostPort, ValueError } from './values.ts';

export type { LoadOptions } from './load.ts';

/**
 * The storage server's configuration: one property per storage.conf key, named as in FastDFS
 * (see STORAGE_KEYS for types, defaults and meaning), plus:
 * - `store_paths`: absolute paths of store_path0 … store_path<store_path_count-1> (store_path0
 *   defaults to base_path); index i is the `M<i in hex>` of file ids;
 * - `store_paths_readonly`: store_pathN_readonly for each of them (default false);
 * - `tracker_servers`: the parsed tracker_server entries (same array as `tracker_server`), in conf order.
 * `base_path` is absolute. The store_pathN keys themselves are not properties.
 */
export type StorageConfig = ConfigValues<typeof STORAGE_KEYS> & {
  store_paths: string[];
  store_paths_readonly: boolean[];
  tracker_servers: HostPort[];
};

export interface LoadedStorageConfig {
  config: StorageConfig;
  warnings: string[];
}

const STORE_PATH_RE = /^store_path(0|[1-9]\d*)$/;
const STORE_PATH_RO_RE = /^store_path(0|[1-9]\d*)_readonly$/;
/** Override only: all store paths at once (array, or one path); sets store_path_count to its length. */
const STORE_PATHS_OVERRIDE = 'store_paths';

function isStorePathKey(key: string): boolean {
  return STORE_PATH_RE.test(key) || STORE_PATH_RO_RE.test(key) || key === STORE_PATHS_OVERRIDE;
}

/** Loads storage.conf (optional) plus overrides. Throws ConfigError (one line: file:line: key = value: why). */
export function loadStorageConfig(opts: LoadOptions = {}): LoadedStorageConfig {
  const l = loadSchema(STORAGE_KEYS, 'storage.conf', opts, isStorePathKey);
  const c = l.values as StorageConfig;

  c.base_path = resolve(c.base_path);
  c.tracker_servers = c.tracker_server;
  applyStorePaths(l, c);

  if (c['http.anti_steal.check_token'] && c['http.anti_steal.secret_key'] === '') {
    throw l.errorAt('http.anti_steal.check_token', 'needs a non-empty http.anti_steal.secret_key');
  }
  if (c.check_file_duplicate) {
    l.warnAt('check_file_duplicate', 'file deduplication through FastDHT is not supported by fdfs; files are stored without it');
  }
  return { config: c, warnings: l.warnings };
}

/** sync_max_threads as used (§5.10): auto ⇒ 2 × store_path_count (≤ 256), never below sync_min_threads. */
export function effectiveSyncMaxThreads(
  config: Pick<StorageConfig, 'sync_max_threads' | 'sync_min_threads' | 'store_path_count'>,
): number {
  const n = config.sync_max_threads === 'auto' ? Math.min(2 * config.store_path_count, 256) : config.sync_max_threads;
  return Math.max(n, config.sync_min_threads);
}

interface Indexed<T> {
  value: T;
  origin: Origin;
}

function applyStorePaths(l: LoadedSchema, c: StorageConfig): void {
  const paths = new Map<number, Indexed<string>>();
  const readonly = new Map<number, Indexed<boolean>>();
  const fromFile = l.dynamic.filter((d) => d.origin.source === 'file');
  const fromOverrides = l.dynamic.filter((d) => d.origin.source === 'override');

  for (const d of fromFile) setIndexed(l, d, paths, readonly);

  // A `store_paths` override replaces every store path of the file, then store_pathN overrides apply.
  const list = fromOverrides.find((d) => d.key === STORE_PATHS_OVERRIDE);
  if (list !== undefined) {
    const items = Array.isArray(list.value) ? (list.value as unknown[]) : [list.value];
    if (items.length === 0 || items.length > MAX_STORE_PATHS) {
      throw l.errorAt(STORE_PATHS_OVERRIDE, `expected 1 to ${MAX_STORE_PATHS} paths`, list.origin);
    }
    paths.clear();
    items.forEach((item, i) => {
      const origin: Origin = { source: 'override', text: showValue(item) };
      if (typeof item !== 'string' || item.trim() === '') throw l.errorAt(STORE_PATHS_OVERRIDE, 'expected a non-empty path', origin);
      paths.set(i, { value: item.trim(), origin });
    });
    const countOrigin = l.origins.get('store_path_count');
    if (countOrigin?.source === 'override' && c.store_path_count !== items.length) {
      throw l.errorAt('store_path_count', `${STORE_PATHS_OVERRIDE} lists ${items.length} paths`);
    }
    c.store_path_count = items.length;
    l.origins.set('store_path_count', { source: 'override', text: String(items.length) });
  }
  for (const d of fromOverrides) if (d.key !== STORE_PATHS_OVERRIDE) setIndexed(l, d, paths, readonly);

  const count = c.store_path_count;
  c.store_paths = [];
  c.store_paths_readonly = [];
  for (let i = 0; i < count; i++) {
    const p = paths.get(i);
    if (p === undefined && i > 0) throw l.errorAt('store_path_count', `store_path${i} is missing`);
    c.store_paths.push(p === undefined ? c.base_path : resolve(p.value));
    c.store_paths_readonly.push(readonly.get(i)?.value ?? false);
  }
  for (const [i, p] of paths) {
    if (i >= count) l.warnAt(`store_path${i}`, `beyond store_path_count = ${count} (ignored)`, p.origin);
  }
  for (const [i, r] of readonly) {
    if (i >= count) l.warnAt(`store_path${i}_readonly`, `beyond store_path_count = ${count} (ignored)`, r.origin);
  }
  const seen = new Map<string, number>();
  c.store_paths.forEach((p, i) => {
    const j = seen.get(p);
    if (j !== undefined) {
      throw l.errorAt(`store_path${i}`, `same directory as store_path${j}`, paths.get(i)?.origin ?? l.origins.get('base_path'));
    }
    seen.set(p, i);
  });
}

function setIndexed(
  l: LoadedSchema,
  d: DynamicItem,
  paths: Map<number, Indexed<string>>,
  readonly: Map<number, Indexed<boolean>>,
): void {
  const ro = STORE_PATH_RO_RE.exec(d.key);
  const m = ro ?? STORE_PATH_RE.exec(d.key);
  if (m === null) {
    // `store_paths` is an override, not a storage.conf key
    l.warnings.push(`${l.where(d.origin)}: unknown key "${d.key}" (ignored)`);
    return;
  }
  const index = Number(m[1]);
  if (index >= MAX_STORE_PATHS) throw l.errorAt(d.key, `store path numbers go from 0 to ${MAX_STORE_PATHS - 1}`, d.origin);
  const target: Map<number, Indexed<unknown>> = ro ? readonly : paths;
  const previous = target.get(index);
  if (previous !== undefined && previous.origin.source === 'file' && d.origin.source === 'file') {
    l.warnings.push(`${l.where(d.origin)}: ${d.key} is set again (first at ${l.where(previous.origin)}); the last value is used`);
  }
  let value: unknown;
  try {
    value = ro ? (typeof d.value === 'boolean' ? d.value : parseBool(String(d.value))) : readPath(d.value);
  } catch (err) {
    if (err instanceof ValueError) throw l.errorAt(d.key, err.message, d.origin);
    throw err;
  }
  target.set(index, { value, origin: d.origin });
}

function readPath(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ValueError('expected a non-empty path');
  return value.trim();
}
