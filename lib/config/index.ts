/**
 * Configuration layer: FastDFS conf files (tracker.conf, storage.conf, client.conf,
 * storage_ids.conf) read into typed objects whose properties carry the FastDFS key names.
 */
export { ConfigError, ValueError } from './errors.ts';
export { parseConfFile, parseConfText, type ConfEntry, type ParseOptions } from './parser.ts';
export {
  autoOrIntType,
  boolType,
  bytesType,
  enumType,
  formatBytes,
  formatHostPort,
  formatReservedSpace,
  formatTimeOfDay,
  hostPortType,
  intEnumType,
  intType,
  isValidGroupName,
  isValidStorageId,
  MULTI_IP_MAX,
  parseBool,
  parseBytes,
  parseHostPort,
  parseInteger,
  parseReservedSpace,
  parseTimeOfDay,
  reservedSpaceType,
  stringType,
  timeOfDayType,
  type HostPort,
  type ReservedSpace,
  type TimeOfDay,
  type ValueType,
} from './values.ts';
export {
  CLIENT_KEYS,
  LOG_LEVELS,
  MAX_STORE_PATHS,
  MAX_TRACKERS,
  STORAGE_DEFAULT_PORT,
  STORAGE_KEYS,
  TRACKER_DEFAULT_PORT,
  TRACKER_KEYS,
  type ConfigValues,
  type IgnoredKey,
  type KeyDef,
  type ListKey,
  type LogLevel,
  type Schema,
  type ValueKey,
} from './schema.ts';
export { OVERRIDE_LABEL, type LoadOptions, type Origin } from './load.ts';
export {
  effectiveResponseIpAddrSize,
  ipv6Enabled,
  loadTrackerConfig,
  type LoadedTrackerConfig,
  type TrackerConfig,
} from './tracker-config.ts';
export {
  effectiveSyncMaxThreads,
  loadStorageConfig,
  type LoadedStorageConfig,
  type StorageConfig,
} from './storage-config.ts';
export { loadClientConfig, type ClientConfig, type LoadedClientConfig } from './client-config.ts';
export {
  formatStorageIdLine,
  loadStorageIds,
  parseStorageIds,
  type RwMode,
  type StorageIdEntry,
} from './storage-ids.ts';
