/**
 * client.conf: loading and derived values (PROTOCOL.md §9.3). The keys are in schema.ts (CLIENT_KEYS).
 */
import { resolve } from 'node:path';
import { loadSchema, type LoadOptions } from './load.ts';
import { CLIENT_KEYS, type ConfigValues } from './schema.ts';
import { resolveBesideConf } from './tracker-config.ts';
import type { HostPort } from './values.ts';

export type { LoadOptions } from './load.ts';

/**
 * The client's configuration: one property per client.conf key, named as in FastDFS (see
 * CLIENT_KEYS), plus `tracker_servers`, the parsed tracker_server entries (same array as
 * `tracker_server`) in conf order — de-duplicating and sorting them (§1.4) is the client's job.
 * `base_path` and `storage_ids_filename` are absolute paths.
 */
export type ClientConfig = ConfigValues<typeof CLIENT_KEYS> & {
  tracker_servers: HostPort[];
};

export interface LoadedClientConfig {
  config: ClientConfig;
  warnings: string[];
}

/** Loads client.conf (optional) plus overrides. Throws ConfigError (one line: file:line: key = value: why). */
export function loadClientConfig(opts: LoadOptions = {}): LoadedClientConfig {
  const l = loadSchema(CLIENT_KEYS, 'client.conf', opts);
  const c = l.values as ClientConfig;
  c.base_path = resolve(c.base_path);
  c.storage_ids_filename = resolveBesideConf(c.storage_ids_filename, l.origins.get('storage_ids_filename'), opts.file);
  c.tracker_servers = c.tracker_server;
  if (c['http.anti_steal.check_token'] && c['http.anti_steal.secret_key'] === '') {
    // client_func.c: "param http.anti_steal.secret_key not exist or is empty"
    throw l.errorAt('http.anti_steal.check_token', 'needs a non-empty http.anti_steal.secret_key');
  }
  return { config: c, warnings: l.warnings };
}
