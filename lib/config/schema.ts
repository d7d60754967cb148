/**
 * The configuration keys of each program, one declarative table per conf file.
 *
 * Every key is listed under its FastDFS name with its type, its default and a one-line doc
 * (STYLE.md rule 7). Defaults are the C code's defaults (PROTOCOL.md §9, §11.1), not the values of
 * the sample files shipped with FastDFS; conf/*.conf in this repository match these tables
 * (test/config-load.test.ts checks it).
 *
 * Keys marked `ignored` are real FastDFS keys that fdfs accepts without using (their doc says why),
 * so that an existing FastDFS conf file loads without "unknown key" warnings.
 */
import {
  autoOrIntType,
  boolType,
  bytesType,
  enumType,
  hostPortType,
  intEnumType,
  intType,
  isValidGroupName,
  reservedSpaceType,
  stringType,
  timeOfDayType,
  type ValueType,
} from './values.ts';
import { ALLOW_HOSTS_ALLOWED, isAllowHostsEntry } from '../net/allow-hosts.ts';

// ---------------------------------------------------------------------------------------------
// Key definitions
// ---------------------------------------------------------------------------------------------

/** A key with one value (the last occurrence in the file wins, with a warning). */
export interface ValueKey<T> {
  readonly kind: 'value';
  readonly type: ValueType<T>;
  /** undefined: required (`required`) or computed by the loader from other keys (`derivedDefault`). */
  readonly default: T | undefined;
  readonly required: boolean;
  /** For keys whose default depends on other keys: the rule, in words (e.g. "trunk_file_size / 8"). */
  readonly derivedDefault?: string;
  readonly doc: string;
}

/** A key that may occur several times; every occurrence is kept, in order. */
export interface ListKey<T> {
  readonly kind: 'list';
  readonly type: ValueType<T>;
  readonly default: readonly T[];
  /** At least one occurrence needed. */
  readonly required: boolean;
  /** At most this many occurrences. */
  readonly max?: number;
  readonly doc: string;
}

/** A FastDFS key accepted for compatibility and not used; `doc` says why. */
export interface IgnoredKey {
  readonly kind: 'ignored';
  readonly doc: string;
}

// `any` here only lets tables of differently-typed keys share one record type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KeyDef = ValueKey<any> | ListKey<any> | IgnoredKey;
export type Schema = Readonly<Record<string, KeyDef>>;

/** The typed values of a schema: one property per non-ignored key, lists as arrays. */
export type ConfigValues<S extends Schema> = {
  -readonly [K in keyof S as S[K] extends IgnoredKey ? never : K]: S[K] extends ValueKey<infer T>
    ? T
    : S[K] extends ListKey<infer E>
      ? E[]
      : never;
};

function opt<T>(type: ValueType<T>, def: T, doc: string): ValueKey<T> {
  return { kind: 'value', type, default: def, required: false, doc };
}

function required<T>(type: ValueType<T>, doc: string): ValueKey<T> {
  return { kind: 'value', type, default: undefined, required: true, doc };
}

function derived<T>(type: ValueType<T>, rule: string, doc: string): ValueKey<T> {
  return { kind: 'value', type, default: undefined, required: false, derivedDefault: rule, doc };
}

function list<T>(type: ValueType<T>, def: readonly T[], doc: string, more: { required?: boolean; max?: number } = {}): ListKey<T> {
  const key: ListKey<T> = { kind: 'list', type, default: def, required: more.required ?? false, doc };
  return more.max === undefined ? key : { ...key, max: more.max };
}

function ignored(doc: string): IgnoredKey {
  return { kind: 'ignored', doc };
}

// ---------------------------------------------------------------------------------------------
// Shared value types
// ---------------------------------------------------------------------------------------------

const bool = boolType();
// 0 = any free port, chosen by the OS at start-up (the ready line shows the real one).
const port = intType({ min: 0, max: 65535 });
const seconds = intType({ min: 1 });
const count = intType({ min: 1 });
const nonNegative = intType({ min: 0 });
const text = stringType();
const path = stringType({ allowEmpty: false, allowed: 'a non-empty path' });
const time = timeOfDayType();
const groupNameOrEmpty = stringType({
  check: isValidGroupName,
  allowed: 'a group name of 1 to 16 letters or digits, or empty',
});
export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const logLevel = enumType(LOG_LEVELS, { emergency: 'emerg', critical: 'crit', err: 'error', warning: 'warn' });
const addressFamily = enumType(['IPv4', 'IPv6', 'auto', 'both']);

/** Default ports (FDFS_TRACKER_SERVER_DEF_PORT, FDFS_STORAGE_SERVER_DEF_PORT). */
export const TRACKER_DEFAULT_PORT = 22122;
export const STORAGE_DEFAULT_PORT = 23000;
/** FastDFS keeps at most 16 tracker servers (FDFS_MAX_TRACKERS). */
export const MAX_TRACKERS = 16;
/** Store paths are numbered M00..MFF in file ids (§6.1). */
export const MAX_STORE_PATHS = 256;

const trackerServer = hostPortType(TRACKER_DEFAULT_PORT);

const IGNORED_RUN_BY = ignored('accepted for FastDFS compatibility; fdfs does not switch user or group (start it as the account that should run it)');
const IGNORED_THREADS = ignored('accepted for FastDFS compatibility; Node.js serves every connection from one event loop');
const IGNORED_LOG_ROTATION = ignored('accepted for FastDFS compatibility; log files are not rotated by fdfs (use logrotate or journald)');
const IGNORED_ACCESS_LOG = ignored('accepted for FastDFS compatibility; fdfs writes no access log (requests are published as events/metrics)');
const IGNORED_HTTP = ignored('accepted for FastDFS compatibility; FastDFS 6.x daemons have no HTTP server (PROTOCOL.md §10)');
const IGNORED_FASTDHT = ignored('FastDHT option of check_file_duplicate, which fdfs does not support');

// ---------------------------------------------------------------------------------------------
// Keys common to both daemons (libserverframe sf_global.c and fdfs_shared_func.c)
// ---------------------------------------------------------------------------------------------

const DAEMON_KEYS = {
  disabled: opt(bool, false, 'true ⇒ this conf file is disabled and the daemon refuses to start'),
  bind_addr: opt(text, '', 'address to listen on and, with client_bind, to connect from; empty = all addresses'),
  address_family: opt(addressFamily, 'auto', 'IPv4, IPv6, both, or auto (by bind_addr; IPv4 when empty)'),
  connect_timeout: opt(seconds, 10, 'seconds allowed for each outgoing connect (§1.4)'),
  network_timeout: opt(seconds, 60, 'seconds without socket progress before a connection is dropped (§1.4)'),
  base_path: required(path, 'directory for data and log files; a relative path is taken from the current directory'),
  max_connections: opt(count, 256, 'concurrent connections; a connection beyond this is closed at once (§1.4)'),
  log_level: opt(logLevel, 'info', 'emerg, alert, crit, error, warn, notice, info or debug'),
  allow_hosts: list(stringType({ allowEmpty: false, check: isAllowHostsEntry, allowed: ALLOW_HOSTS_ALLOWED }), ['*'], 'client addresses allowed to connect (repeatable; * = all; CIDR and [a-b] ranges as in FastDFS)'),
  use_connection_pool: opt(bool, false, 'keep outgoing connections open for reuse (§1.4)'),
  connection_pool_max_idle_time: opt(seconds, 3600, 'seconds a pooled connection may stay idle before it is closed'),
  run_by_group: IGNORED_RUN_BY,
  run_by_user: IGNORED_RUN_BY,
  accept_threads: IGNORED_THREADS,
  work_threads: IGNORED_THREADS,
  thread_stack_size: IGNORED_THREADS,
  sync_log_buff_interval: ignored('accepted for FastDFS compatibility; log lines are not buffered by fdfs'),
  rotate_error_log: IGNORED_LOG_ROTATION,
  error_log_rotate_time: IGNORED_LOG_ROTATION,
  rotate_error_log_size: IGNORED_LOG_ROTATION,
  compress_old_error_log: IGNORED_LOG_ROTATION,
  compress_error_log_days_before: IGNORED_LOG_ROTATION,
  log_file_keep_days: IGNORED_LOG_ROTATION,
} as const satisfies Schema;

// ---------------------------------------------------------------------------------------------
// tracker.conf (PROTOCOL.md §9.1, trunk keys §11.1)
// ---------------------------------------------------------------------------------------------

export const TRACKER_KEYS = {
  ...DAEMON_KEYS,
  port: opt(port, TRACKER_DEFAULT_PORT, 'listen port'),
  buff_size: opt(bytesType({ min: 8 * 1024 }), 256 * 1024, 'largest request package accepted, and network buffer size (§1.1)'),
  min_buff_size: derived(bytesType({ min: 8 * 1024 }), 'buff_size', 'smallest network buffer; when min_buff_size or max_buff_size is absent both equal buff_size'),
  max_buff_size: derived(bytesType({ min: 8 * 1024 }), 'buff_size', 'largest network buffer; raised to at least buff_size and min_buff_size'),
  store_lookup: opt(intEnumType([0, 1, 2], ['round robin', 'specified group', 'load balance']), 0, 'how an upload picks its group: 0 round robin, 1 store_group, 2 most free space (§8.1)'),
  store_group: opt(groupNameOrEmpty, '', 'the group uploads go to when store_lookup = 1'),
  store_server: opt(intEnumType([0, 1, 2], ['round robin', 'first by id/IP', 'by upload_priority']), 0, 'how an upload picks its storage: 0 round robin, 1 first by id/IP, 2 by priority (§8.2)'),
  store_path: opt(intEnumType([0, 2], ['round robin', 'load balance']), 0, 'how an upload picks the store path: 0 round robin, 2 most free space (§8.3)'),
  download_server: opt(intEnumType([0, 1], ['round robin', 'source first']), 0, 'how a download picks its storage: 0 round robin, 1 the source storage first (§8.4)'),
  reserved_storage_space: opt(reservedSpaceType(), { kind: 'mb', mb: 1024, text: '1024MB' }, 'free space kept on every storage: a size (1024MB, 10G) or a ratio (10%); no uploads below it (§8.1)'),
  check_active_interval: opt(seconds, 100, 'seconds between liveness checks; a storage silent that long goes OFFLINE (§8.5)'),
  storage_ip_changed_auto_adjust: opt(bool, true, 'accept a storage that comes back with a new IP address (§4.15)'),
  storage_sync_file_max_delay: opt(seconds, 86400, 'seconds after which a file is assumed replicated to every storage (§8.4)'),
  storage_sync_file_max_time: opt(seconds, 300, 'seconds one file may take to replicate (§8.4)'),
  use_trunk_file: opt(bool, false, 'store small files inside large trunk files (§11); forces store_server 0 to 1'),
  slot_min_size: opt(bytesType({ min: 1 }), 256, 'smallest trunk slot; above 64KB it is set to 64KB (§11.1)'),
  slot_max_size: derived(bytesType({ min: 1 }), 'trunk_file_size / 8', 'files up to this size minus 24 bytes go into trunks; must be > slot_min_size, at most trunk_file_size / 2'),
  trunk_file_size: opt(bytesType({ min: 1 }), 64 * 1024 * 1024, 'size of each trunk file; below 4MB it is set to 4MB'),
  trunk_alloc_alignment_size: opt(bytesType(), 0, 'trunk slot sizes are rounded up to a multiple of this (0 = no rounding)'),
  trunk_free_space_merge: opt(bool, false, 'merge adjacent free trunk blocks when the snapshot is written (§11.8)'),
  delete_unused_trunk_files: opt(bool, false, 'with merging: delete trunk files that became wholly free (§11.8)'),
  trunk_create_file_advance: opt(bool, false, 'create trunk files ahead of need (§11.9)'),
  trunk_create_file_time_base: opt(time, { hour: 2, minute: 0 }, 'time of day the trunk pre-creation runs first (HH:MM)'),
  trunk_create_file_interval: opt(seconds, 86400, 'seconds between trunk pre-creation runs'),
  trunk_create_file_space_threshold: opt(bytesType(), 0, 'pre-create trunk files until this much trunk space is free'),
  trunk_init_check_occupying: opt(bool, false, 'when loading trunk free space, skip blocks whose slot is in use (§11.7)'),
  trunk_init_reload_from_binlog: opt(bool, false, 'rebuild trunk free space from the whole trunk binlog at start (§11.7)'),
  trunk_compress_binlog_min_interval: opt(nonNegative, 0, 'seconds; compress the trunk binlog at save time when it is older than this (0 = never, §11.10)'),
  trunk_compress_binlog_interval: opt(nonNegative, 0, 'seconds between scheduled trunk binlog compressions (0 = none, §11.10)'),
  trunk_compress_binlog_time_base: opt(time, { hour: 3, minute: 0 }, 'time of day of the first scheduled trunk binlog compression (HH:MM)'),
  trunk_binlog_max_backups: opt(nonNegative, 0, 'trunk binlog backups kept when a member truncates it (0 = none, §11.10)'),
  use_storage_id: opt(bool, false, 'identify storages by the ids of storage_ids_filename instead of their IP'),
  storage_ids_filename: opt(path, 'storage_ids.conf', 'storage id list (`id group host[,host2][:port] [rw=…]`); relative to this conf file'),
  id_type_in_filename: opt(enumType(['ip', 'id']), 'ip', 'what new file ids carry with use_storage_id: the storage IP or its id (§6.2)'),
  trust_storage_server_id: opt(bool, true, 'accept the server id a storage announces in JOIN (§4.3)'),
  // FastDFS turns every value other than auto into 46; here IPv4 (or 16) means 16, a deliberate difference.
  response_ip_addr_size: opt(enumType(['auto', 'IPv4', 'IPv6'], { '16': 'IPv4', '46': 'IPv6' }), 'auto', 'IP field size in replies: IPv4 (16), IPv6 (46), or auto: 46 only when a storage id has an IPv6 address (§0)'),
  store_slave_file_use_link: opt(bool, false, 'store slave files as symbolic links (§3.3)'),
  'http.server_port': opt(port, 0, 'HTTP port of /metrics and /healthz (0 = no HTTP server; fdfs extension, FastDFS has none)'),
  'http.check_alive_interval': IGNORED_HTTP,
  'http.check_alive_type': IGNORED_HTTP,
  'http.check_alive_uri': IGNORED_HTTP,
} as const satisfies Schema;

// ---------------------------------------------------------------------------------------------
// storage.conf (PROTOCOL.md §9.2)
// ---------------------------------------------------------------------------------------------

export const STORAGE_KEYS = {
  ...DAEMON_KEYS,
  group_name: opt(groupNameOrEmpty, '', 'group of this storage; empty = ask the tracker (needs storage ids, §4.12)'),
  port: opt(port, STORAGE_DEFAULT_PORT, 'listen port'),
  client_bind: opt(bool, true, 'connect to other servers from bind_addr'),
  server_id: opt(stringType({ check: (v) => v.length <= 16 && !/\s/.test(v), allowed: 'a storage id of at most 16 characters, or empty' }), '', 'own storage id with use_storage_id (empty = found from the local addresses, §4)'),
  heart_beat_interval: opt(seconds, 30, 'seconds between heartbeats to each tracker (§4.4)'),
  stat_report_interval: opt(seconds, 300, 'seconds between disk usage reports to each tracker (§4.6)'),
  buff_size: opt(bytesType({ min: 8 * 1024 }), 64 * 1024, 'network buffer size per connection'),
  sync_wait_msec: opt(intType({ min: 1 }), 100, 'milliseconds a sync thread sleeps when the binlog has nothing new (§5.10)'),
  sync_interval: opt(nonNegative, 0, 'milliseconds of pause after each pushed sync batch (§5.10)'),
  sync_start_time: opt(time, { hour: 0, minute: 0 }, 'start of the daily sync window (HH:MM, §5.10)'),
  sync_end_time: opt(time, { hour: 23, minute: 59 }, 'end of the daily sync window (HH:MM)'),
  sync_min_threads: opt(intType({ min: 1, max: 256 }), 1, 'sync worker threads kept ready (§5.10)'),
  sync_max_threads: opt(autoOrIntType({ min: 1, max: 256 }), 'auto', 'records per sync batch and parallel connections per peer; auto = 2 × store_path_count (§5.10)'),
  sync_pipeline_window: opt(intType({ min: 1, max: 1024 }), 64, 'fdfs: sync requests in flight per connection to an fdfs peer that announced pipelining; FastDFS (C) peers always get 1 (docs/replication.md)'),
  write_mark_file_freq: opt(count, 500, 'rewrite a sync mark file after this many pushed records (§5.9)'),
  disk_recovery_threads: opt(count, 1, 'threads used to recover a lost store path (§5.11)'),
  store_path_count: opt(intType({ min: 1, max: MAX_STORE_PATHS }), 1, 'number of store paths store_path0 … store_pathN-1'),
  // store_pathN and store_pathN_readonly are numbered keys, handled by storage-config.ts.
  subdir_count_per_path: opt(intType({ min: 1, max: 256 }), 256, 'N×N sub-directories are made under each store path (§6.5)'),
  tracker_server: list(trackerServer, [], 'tracker address host[,host2][:port] (repeatable, default port 22122)', { required: true, max: MAX_TRACKERS }),
  file_distribute_path_mode: opt(intEnumType([0, 1], ['round robin', 'random']), 0, 'sub-directory choice for new files: 0 round robin, 1 by hash (§6.5)'),
  file_distribute_rotate_count: opt(count, 100, 'files written to one sub-directory before moving on, in mode 0'),
  fsync_after_written_bytes: opt(bytesType(), 0, 'fsync a file being written every this many bytes (0 = never)'),
  sync_binlog_buff_interval: opt(seconds, 60, 'seconds between flushes of the binlog cache to disk (§7.1)'),
  sync_stat_file_interval: opt(seconds, 60, 'seconds between writes of storage_stat.dat (§7.4)'),
  upload_priority: opt(intType(), 10, 'lower = chosen first by a tracker with store_server = 2 (§8.2)'),
  check_file_duplicate: opt(bool, false, 'deduplicate through FastDHT; not supported by fdfs (true only gives a warning)'),
  file_signature_method: IGNORED_FASTDHT,
  key_namespace: IGNORED_FASTDHT,
  keep_alive: IGNORED_FASTDHT,
  file_sync_skip_invalid_record: opt(bool, false, 'skip binlog lines that cannot be parsed instead of retrying them (§5.10)'),
  compress_binlog: opt(bool, false, 'gzip binlog files no sync reader needs any more (§7.1)'),
  compress_binlog_time: opt(time, { hour: 1, minute: 30 }, 'time of day of the binlog compression (HH:MM)'),
  check_store_path_mark: opt(bool, true, 'refuse a store path that carries another storage instance\'s mark (§7.5)'),
  disk_rw_separated: ignored('accepted for FastDFS compatibility; file I/O runs on the libuv thread pool'),
  disk_reader_threads: ignored('accepted for FastDFS compatibility; file I/O runs on the libuv thread pool'),
  disk_writer_threads: ignored('accepted for FastDFS compatibility; file I/O runs on the libuv thread pool'),
  if_alias_prefix: ignored('accepted for FastDFS compatibility; local addresses come from os.networkInterfaces()'),
  min_buff_size: ignored('accepted for FastDFS compatibility; storage buffers are sized by buff_size'),
  max_buff_size: ignored('accepted for FastDFS compatibility; storage buffers are sized by buff_size'),
  use_access_log: IGNORED_ACCESS_LOG,
  rotate_access_log: IGNORED_ACCESS_LOG,
  access_log_rotate_time: IGNORED_ACCESS_LOG,
  rotate_access_log_size: IGNORED_ACCESS_LOG,
  compress_old_access_log: IGNORED_ACCESS_LOG,
  compress_access_log_days_before: IGNORED_ACCESS_LOG,
  'http.domain_name': IGNORED_HTTP,
  // The keys below replace fastdfs-nginx-module's mod_fastdfs.conf and http.conf (PROTOCOL.md §10).
  'http.server_port': opt(port, 0, 'HTTP port serving files, /metrics and /healthz (0 = no HTTP server)'),
  url_have_group_name: opt(bool, true, 'HTTP file URLs start with the group (/group1/M00/…); false: /M00/… (mod_fastdfs.conf; its default is false)'),
  response_mode: opt(enumType(['proxy', 'redirect']), 'proxy', 'a file not replicated here yet is fetched from its source storage (proxy) or answered with a 302 to it (redirect)'),
  'http.default_content_type': opt(text, 'application/octet-stream', 'Content-Type of files whose extension has no known MIME type'),
  'http.anti_steal.check_token': opt(bool, false, 'HTTP downloads need ?token=…&ts=… (§10)'),
  'http.anti_steal.token_ttl': opt(seconds, 600, 'seconds a token stays valid after its ts'),
  'http.anti_steal.secret_key': opt(text, '', 'secret of the anti-steal token (as in the applications that sign URLs)'),
  'http.anti_steal.token_check_fail': opt(text, '', 'file sent (200) when a token check fails; empty = 400'),
  'http.mime_types_filename': ignored('accepted for FastDFS compatibility; MIME types come from the mime-db table (mime-types package)'),
} as const satisfies Schema;

// ---------------------------------------------------------------------------------------------
// client.conf (PROTOCOL.md §9.3)
// ---------------------------------------------------------------------------------------------

const IGNORED_HTTP_CONF = ignored('http.conf key read by fastdfs-nginx-module, not by the client');

export const CLIENT_KEYS = {
  connect_timeout: opt(seconds, 10, 'seconds allowed for each connect (§1.4)'),
  network_timeout: opt(seconds, 30, 'seconds without socket progress before an operation fails (§1.4)'),
  base_path: opt(path, '/tmp', 'directory for client log files'),
  tracker_server: list(trackerServer, [], 'tracker address host[,host2][:port] (repeatable, default port 22122)', { required: true, max: MAX_TRACKERS }),
  log_level: opt(logLevel, 'info', 'emerg, alert, crit, error, warn, notice, info or debug'),
  use_connection_pool: opt(bool, false, 'keep tracker and storage connections open for reuse (§1.4)'),
  connection_pool_max_idle_time: opt(seconds, 3600, 'seconds a pooled connection may stay idle before it is closed'),
  load_fdfs_parameters_from_tracker: opt(bool, false, 'ask the tracker for use_storage_id and the id list (75, 69) instead of reading them here'),
  use_storage_id: opt(bool, false, 'file ids name storages by id; resolve them with storage_ids_filename'),
  storage_ids_filename: opt(path, 'storage_ids.conf', 'storage id list, as on the tracker; relative to this conf file'),
  connect_first_by: opt(enumType(['tracker', 'last-connected'], { last: 'last-connected', last_connected: 'last-connected', lastconnected: 'last-connected' }), 'tracker', 'dual-IP storages: try the address the tracker returned first, or the last one that connected'),
  'http.anti_steal.check_token': opt(bool, false, 'generate anti-steal tokens for HTTP download URLs (§10)'),
  'http.anti_steal.secret_key': opt(text, '', 'secret of the anti-steal token (required when check_token is true)'),
  'http.tracker_server_port': opt(port, 80, 'HTTP port used when printing download URLs'),
  'http.default_content_type': IGNORED_HTTP_CONF,
  'http.mime_types_filename': IGNORED_HTTP_CONF,
  'http.anti_steal.token_ttl': IGNORED_HTTP_CONF,
  'http.anti_steal.token_check_fail': IGNORED_HTTP_CONF,
} as const satisfies Schema;
