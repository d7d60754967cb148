// The fdfs client library: FdfsClient for applications, the tracker/storage layers for tools.
export {
  FdfsClient, parseFileId,
  type ClientConfigLike, type FdfsClientOptions, type FileInfo, type FileType, type MetadataMode,
  type RangeOptions, type SlaveUploadOptions, type UploadOptions, type UploadSource,
} from './client.ts';
export { ConnectionPool, withSubject, type Lease, type PoolOptions } from './pool.ts';
export { TrackerClient, normalizeTrackers, DEFAULT_TRACKER_PORT, type TrackerEntry, type TrackerSpec } from './tracker-client.ts';
export * from './monitor-records.ts';
export { querySyncStatus, type PeerSyncStatus } from './sync-status.ts';
export { FdfsError } from '../protocol/errno.ts';
export { antiStealToken, signFileId, checkToken, type TokenCheck } from '../http/token.ts';
