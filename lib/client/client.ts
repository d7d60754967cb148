import type { Logger } from '../util/log.ts';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientConnection } from '../net/client-connection.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { formatAddress } from '../protocol/ip.ts';
import { MAX_FILENAME_LEN } from '../protocol/codes.ts';
import { decodeFileName, isNameSafeExt, parseLogicName, slaveFileName, splitFileId } from '../protocol/filename.ts';
import { decodeMetadata, encodeMetadata } from '../protocol/metadata.ts';
import type { GroupStat, StorageStatRecord } from '../protocol/records.ts';
import type { StorageAddress, StoreTarget } from '../protocol/tracker-queries.ts';
import type { HostPort } from '../config/values.ts';
import { loadStorageIds, type StorageIdEntry } from '../config/storage-ids.ts';
import { ConnectionPool, connectError, withSubject, type Lease } from './pool.ts';
import { TrackerClient, type TrackerSpec } from './tracker-client.ts';
import { uploadWithFailover } from './upload-failover.ts';
import * as storage from './storage-client.ts';
import type { Content } from './storage-client.ts';

// The FastDFS client (PROTOCOL.md §2.3 flows): ask a tracker where, then talk to that storage.

export interface FdfsClientOptions {
  /** Tracker addresses: "host[:port]" (default port 22122), "ip1,ip2:port", or {host, port}. */
  trackers: readonly TrackerSpec[];
  /** Seconds allowed for each connect. Default 10 (client.conf connect_timeout). */
  connectTimeout?: number;
  /** Seconds without socket progress before an operation fails. Default 30 (network_timeout). */
  networkTimeout?: number;
  /**
   * Keep connections open for reuse. Default true, with idle connections dropped after
   * `maxIdleTime` seconds (default 3600); false opens and closes connections per operation.
   * Idle pooled sockets do not keep the process alive; close() ends them.
   */
  pool?: boolean | { maxIdleTime?: number };
  /**
   * Storage ids, to resolve the source of id-named files locally in fileInfo (§3.8): entries of
   * storage_ids.conf, or a map id → IP. Default: none (such files are asked from a storage).
   */
  storageIds?: ReadonlyArray<Pick<StorageIdEntry, 'id' | 'hosts'>> | Readonly<Record<string, string>>;
  /** Fetch the storage ids from the tracker (69) when first needed (load_fdfs_parameters_from_tracker). Default false. */
  loadStorageIdsFromTracker?: boolean;
  /** Source address of outgoing connections. */
  localAddress?: string;
  /** Where the one line goes when a tracker is given up for the next (default: nowhere). */
  log?: Logger;
}

/** What FdfsClient.fromConfig reads: a loaded client.conf (lib/config loadClientConfig). */
export interface ClientConfigLike {
  tracker_server?: readonly HostPort[];
  tracker_servers?: readonly HostPort[];
  connect_timeout?: number;
  network_timeout?: number;
  use_connection_pool?: boolean;
  connection_pool_max_idle_time?: number;
  load_fdfs_parameters_from_tracker?: boolean;
  use_storage_id?: boolean;
  storage_ids_filename?: string;
}

export type UploadSource = string | Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface UploadOptions {
  /** Extension without the dot, up to 6 of [A-Za-z0-9._-]. Default: the source file's, if valid. */
  ext?: string;
  /** Upload into this group (104); default: the tracker chooses (101). */
  group?: string;
  /** Set with flag 'O' right after the upload; the file is deleted again if that fails (§2.3). */
  metadata?: Record<string, string>;
  /** Content size in bytes: required for a stream, checked for a Buffer, read from disk for a path. */
  size?: number;
  /** Upload an appender file (23) instead of a normal one (11). */
  appender?: boolean;
}

export interface SlaveUploadOptions {
  /** Appended to the master name (§6.6): 1..16 of [A-Za-z0-9._-]. */
  prefix: string;
  /** Extension of the slave name; empty gives a name without extension. Default: the source file's. */
  ext?: string;
  metadata?: Record<string, string>;
  size?: number;
}

export interface RangeOptions {
  /** First byte. Default 0. */
  offset?: number;
  /** Number of bytes; 0 or absent = to the end. */
  length?: number;
}

export type FileType = 'normal' | 'appender' | 'slave' | 'trunk';

export interface FileInfo {
  fileId: string;
  type: FileType;
  /** Bytes; −1 when only the storage knows it (appender/slave without server access). */
  size: number;
  /** Unix seconds: creation time from the name, or the stored file's mtime when asked from the storage. */
  timestamp: number;
  /** Unsigned CRC-32. */
  crc32: number;
  /** Source storage IP ('' when an id could not be resolved). */
  sourceIp: string;
  /** Source storage id, for names that carry one (use_storage_id + id_type_in_filename=id). */
  sourceId?: string;
  /** True when the values came from the storage (102 + 22) rather than from the name alone. */
  fromServer: boolean;
}

export type MetadataMode = 'merge' | 'overwrite';

const READ_HIGH_WATER_MARK = 256 * 1024;
const DEAD_SOCKET = new Set(['ENOTCONN', 'ECONNRESET', 'EPIPE']);

/** Split and check a file ID the way the storage will (§2.4, §3): EINVAL before any traffic. */
export function parseFileId(fileId: string): { group: string; logicName: string } {
  const parts = typeof fileId === 'string' ? splitFileId(fileId) : null;
  if (!parts || parts.logicName.length > MAX_FILENAME_LEN || !parseLogicName(parts.logicName)) {
    throw new FdfsError('EINVAL', 'invalid file ID', { subject: String(fileId) });
  }
  return parts;
}

function checkCount(name: string, v: number | undefined, subject: string): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new FdfsError('EINVAL', `${name} must be a non-negative integer`, { subject });
  return v;
}

function extOfPath(p: string): string {
  const ext = path.extname(p).slice(1);
  // fdfs_upload_file: an extension longer than 6 characters is dropped, not cut.
  return isNameSafeExt(ext) ? ext : '';
}

/** `--ext .md` means `md`: one leading dot is the user's way of writing an extension. */
function userExt(ext: string | undefined): string | undefined {
  return ext?.startsWith('.') ? ext.slice(1) : ext;
}

function encodeMeta(meta: Record<string, string>, subject: string): Buffer {
  try {
    return encodeMetadata(meta);
  } catch (err) {
    throw new FdfsError('EINVAL', (err as Error).message, { subject });
  }
}

/** Content for an upload/append: a path is streamed from disk, a stream must say its size. */
async function toContent(source: UploadSource, size: number | undefined, subject: string): Promise<Content> {
  if (typeof source === 'string') {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(source);
    } catch (err) {
      throw toFdfsError(err, source);
    }
    if (!st.isFile()) throw new FdfsError('EISDIR', 'not a regular file', { subject: source });
    if (size !== undefined && size !== st.size) throw new FdfsError('EINVAL', `file is ${st.size} bytes, not ${size}`, { subject: source });
    const n = st.size;
    return {
      size: n,
      // `end` bounds the read: a file growing while it is sent does not corrupt the framing.
      chunks: () => fs.createReadStream(source, { start: 0, end: Math.max(0, n - 1), highWaterMark: READ_HIGH_WATER_MARK }),
    };
  }
  if (source instanceof Uint8Array) {
    if (size !== undefined && size !== source.length) throw new FdfsError('EINVAL', `buffer is ${source.length} bytes, not ${size}`, { subject });
    return { size: source.length, chunks: () => source };
  }
  if (size === undefined) throw new FdfsError('EINVAL', 'size is required to upload a stream (FastDFS announces it first)', { subject });
  checkCount('size', size, subject);
  return { size, chunks: () => source };
}

/**
 * ENOSPC from a tracker (every storage at its reserved_storage_space, §8.1) or a storage (§3.1)
 * comes as a bare status: say it in words, keeping who said it.
 */
async function noSpaceExplained<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const e = toFdfsError(err);
    if (e.code !== 'ENOSPC' || !e.remote) throw e;
    throw new FdfsError('ENOSPC', undefined, { subject: e.subject, cause: e });
  }
}

/**
 * A storage refuses append/modify/truncate/regenerate with a bare status (§3.9–§3.13). Turn the
 * EINVAL of a name without the appender flag (or, for modify, of an offset past the end) into a
 * line that says so; every other error passes unchanged.
 */
async function explained<T>(p: Promise<T>, fileId: string, logicName: string, appenderEinval?: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const e = toFdfsError(err, fileId);
    if (e.code !== 'EINVAL' || !e.remote) throw e;
    if (!decodeFileName(logicName)?.isAppender) {
      throw new FdfsError('EINVAL', 'not an appender file (only files uploaded as appender files can be changed)', { subject: fileId, cause: e });
    }
    if (appenderEinval) throw new FdfsError('EINVAL', appenderEinval, { subject: fileId, cause: e });
    throw e;
  }
}

export class FdfsClient {
  readonly pool: ConnectionPool;
  readonly tracker: TrackerClient;
  readonly #ids = new Map<string, string>();
  #loadIds: boolean;
  #idsLoading: Promise<void> | null = null;

  constructor(opts: FdfsClientOptions) {
    const poolOpt = opts.pool ?? true;
    this.pool = new ConnectionPool({
      connectTimeout: opts.connectTimeout,
      networkTimeout: opts.networkTimeout,
      enabled: poolOpt !== false,
      maxIdleTime: typeof poolOpt === 'object' ? poolOpt.maxIdleTime : undefined,
      localAddress: opts.localAddress,
    });
    this.tracker = new TrackerClient(opts.trackers, this.pool, opts.log);
    const ids = opts.storageIds;
    if (Array.isArray(ids)) for (const e of ids) this.#ids.set(e.id, e.hosts[0] ?? '');
    else if (ids) for (const [id, ip] of Object.entries(ids)) this.#ids.set(id, ip as string);
    this.#loadIds = opts.loadStorageIdsFromTracker ?? false;
  }

  /**
   * A client configured like the C client from a loaded client.conf: trackers, timeouts, pool,
   * and the storage id list (read from storage_ids_filename, or fetched from the tracker).
   */
  static fromConfig(cfg: ClientConfigLike, extra: Partial<FdfsClientOptions> = {}): FdfsClient {
    const trackers = cfg.tracker_servers ?? cfg.tracker_server ?? [];
    let storageIds = extra.storageIds;
    if (!storageIds && cfg.use_storage_id && !cfg.load_fdfs_parameters_from_tracker && cfg.storage_ids_filename) {
      storageIds = loadStorageIds(cfg.storage_ids_filename);
    }
    return new FdfsClient({
      trackers,
      connectTimeout: cfg.connect_timeout,
      networkTimeout: cfg.network_timeout,
      pool: cfg.use_connection_pool === false ? false : { maxIdleTime: cfg.connection_pool_max_idle_time },
      loadStorageIdsFromTracker: cfg.load_fdfs_parameters_from_tracker ?? false,
      ...extra,
      storageIds,
    });
  }

  /** Close idle connections; connections still streaming a download close when it ends. */
  async close(): Promise<void> {
    this.pool.close();
  }

  // ---- tracker queries ----

  /** 101 / 104: where the next upload goes. */
  queryStore(group?: string): Promise<StoreTarget> {
    return this.tracker.queryStore(group);
  }

  /** 102 (one storage) or 105 (every storage) that can serve the file. */
  async queryFetch(fileId: string, all = false): Promise<StorageAddress[]> {
    const { group, logicName } = parseFileId(fileId);
    return all ? this.tracker.queryFetchAll(group, logicName) : [await this.tracker.queryFetch(group, logicName)];
  }

  /** 91: every group. */
  listGroups(): Promise<GroupStat[]> {
    return this.tracker.listGroups();
  }

  /** 92: the storages of a group, or the one with the given id. */
  listStorages(group: string, id?: string): Promise<StorageStatRecord[]> {
    return this.tracker.listStorages(group, id);
  }

  // ---- upload ----

  /**
   * Upload a file (path, Buffer or stream) and return its file ID. 101/104 → 11 (or 23 for an
   * appender) with the store path index the tracker chose; metadata follows with 13 'O'.
   */
  async upload(source: UploadSource, opts: UploadOptions = {}): Promise<string> {
    const subject = typeof source === 'string' ? source : source instanceof Uint8Array ? 'buffer' : 'stream';
    const ext = userExt(opts.ext) ?? (typeof source === 'string' ? extOfPath(source) : '');
    if (!isNameSafeExt(ext)) throw new FdfsError('EINVAL', `invalid file extension ${JSON.stringify(ext)} (up to 6 of A-Z a-z 0-9 . _ -, not starting with a dot)`, { subject, retryable: false });
    const blob = opts.metadata ? encodeMeta(opts.metadata, subject) : undefined;
    const content = await toContent(source, opts.size, subject);
    const target = await noSpaceExplained(this.tracker.queryStore(opts.group));
    const run = (t: StoreTarget) => noSpaceExplained(this.#storageRun(t, (conn) => this.#uploadOn(conn, t, content, ext, opts.appender ?? false, blob), { subject: formatAddress(t.ip, t.port) }));
    // A stream cannot be sent twice; a path or a buffer goes to another storage if this one does not answer.
    if (typeof source !== 'string' && !(source instanceof Uint8Array)) return run(target);
    return uploadWithFailover(target, run, () => this.#otherStoreTargets(opts.group));
  }

  /** Where else an upload may go: the writable members of a group (106/107), and for no group 101 again. */
  async #otherStoreTargets(group: string | undefined): Promise<StoreTarget[]> {
    const all = await this.tracker.queryStoreAll(group).catch(() => null);
    const out: StoreTarget[] = all ? all.servers.map((s) => ({ ...s, group: all.group, storePathIndex: all.storePathIndex })) : [];
    if (group === undefined) {
      const again = await this.tracker.queryStore().catch(() => null);
      if (again) out.push(again);
    }
    return out;
  }

  async #uploadOn(conn: ClientConnection, target: StoreTarget, content: Content, ext: string, appender: boolean, blob: Buffer | undefined): Promise<string> {
    const r = await storage.uploadFile(conn, { appender, storePathIndex: target.storePathIndex, ext, content });
    const fileId = `${r.group}/${r.logicName}`;
    if (blob) await this.#metaOrRollback(conn, target, r.group, r.logicName, blob);
    return fileId;
  }

  /** §2.3: after a failed SET_METADATA the client deletes the file it just uploaded. */
  async #metaOrRollback(conn: ClientConnection, target: StorageAddress, group: string, logicName: string, blob: Buffer): Promise<void> {
    const fileId = `${group}/${logicName}`;
    try {
      await storage.setMetadata(conn, group, logicName, 'O', blob, fileId);
    } catch (err) {
      // The failed connection is closed by the pool; the delete goes on a fresh one.
      await this.#storageRun(target, (c) => storage.deleteFile(c, group, logicName, fileId), { subject: fileId }).catch(() => {});
      throw withSubject(err, fileId);
    }
  }

  /**
   * 103 on the master → 21: a slave file named after the master plus `prefix` (§3.3, §6.6).
   * Returns the slave's file ID.
   */
  async uploadSlave(masterFileId: string, source: UploadSource, opts: SlaveUploadOptions): Promise<string> {
    const { group, logicName } = parseFileId(masterFileId);
    if (!/^[A-Za-z0-9._-]{1,16}$/.test(opts.prefix ?? '')) throw new FdfsError('EINVAL', 'slave prefix must be 1..16 of A-Z a-z 0-9 . _ -', { subject: masterFileId });
    const ext = userExt(opts.ext) ?? (typeof source === 'string' ? extOfPath(source) : '');
    if (!isNameSafeExt(ext)) throw new FdfsError('EINVAL', `invalid file extension ${JSON.stringify(ext)}`, { subject: masterFileId, retryable: false });
    const blob = opts.metadata ? encodeMeta(opts.metadata, masterFileId) : undefined;
    const content = await toContent(source, opts.size, typeof source === 'string' ? source : masterFileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    try {
      return await this.#storageRun(server, async (conn) => {
        const r = await storage.uploadSlaveFile(conn, logicName, opts.prefix, ext, content, masterFileId);
        if (blob) await this.#metaOrRollback(conn, server, r.group, r.logicName, blob);
        return `${r.group}/${r.logicName}`;
      }, { subject: masterFileId });
    } catch (err) {
      // The storage answers with a bare status; say what it means for a slave upload (§3.3).
      const e = toFdfsError(err, masterFileId);
      if (!e.remote) throw e;
      let slaveId = masterFileId;
      try { slaveId = `${group}/${slaveFileName(logicName, opts.prefix, ext)}`; } catch { /* the storage said why */ }
      if (e.code === 'ENOENT') throw new FdfsError('ENOENT', 'master file does not exist', { subject: masterFileId, cause: e });
      if (e.code === 'EEXIST') throw new FdfsError('EEXIST', 'slave file already exists', { subject: slaveId, cause: e });
      if (e.code === 'EINVAL') throw new FdfsError('EINVAL', 'slave upload refused: invalid master name, prefix or extension', { subject: slaveId, cause: e });
      if (e.code === 'ENOSPC') throw new FdfsError('ENOSPC', undefined, { subject: masterFileId, cause: e });
      throw e;
    }
  }

  // ---- download ----

  /**
   * 102 → 14: the content (or the given range) as a stream. Errors of the request (ENOENT, EINVAL)
   * reject this promise; errors while streaming destroy the stream with an FdfsError.
   */
  async download(fileId: string, opts: RangeOptions = {}): Promise<Readable> {
    const { group, logicName } = parseFileId(fileId);
    const offset = checkCount('offset', opts.offset, fileId);
    const length = checkCount('length', opts.length, fileId);
    const server = await this.tracker.queryFetch(group, logicName);
    const open = async (fresh: boolean): Promise<Readable> => {
      let lease: Lease;
      try {
        lease = await this.pool.acquire(server.ip, server.port, { retryConnect: true, fresh });
      } catch (err) {
        throw connectError(err, formatAddress(server.ip, server.port), 'storage');
      }
      let len: number;
      try {
        len = await storage.startDownload(lease.conn, group, logicName, offset, length, fileId);
      } catch (err) {
        this.pool.release(lease.conn, false);
        const e = withSubject(err, fileId);
        if (lease.reused && DEAD_SOCKET.has(e.code)) return open(true);
        // §3.4: a 6.16 storage refuses every download of a 0-byte file with EINVAL. What a
        // client wants is the empty content, so check the size before passing the error on.
        if (e.code === 'EINVAL' && e.remote) {
          const size = await this.#sizeOf(server, group, logicName, fileId);
          if (size === 0 && offset === 0) return Readable.from([]);
          // The storage only says EINVAL; the user wants to know which number was wrong.
          if (size !== undefined && offset > size) throw new FdfsError('EINVAL', `offset ${offset} is beyond the file size ${size}`, { subject: fileId, cause: e, retryable: false });
          if (size !== undefined && length > 0 && offset + length > size) throw new FdfsError('EINVAL', `offset ${offset} + length ${length} is beyond the file size ${size}`, { subject: fileId, cause: e, retryable: false });
        }
        throw e;
      }
      return this.#bodyStream(lease.conn, len, fileId);
    };
    return open(false);
  }

  async #sizeOf(server: StorageAddress, group: string, logicName: string, fileId: string): Promise<number | undefined> {
    try {
      const info = await this.#storageRun(server, (c) => storage.queryFileInfo(c, group, logicName, fileId, storage.FILE_INFO_FLAG.NO_CRC), { idempotent: true, subject: fileId });
      return info.size;
    } catch {
      return undefined;
    }
  }

  /** The `len` content bytes of a download as a Readable; the connection goes back to the pool at the end. */
  #bodyStream(conn: ClientConnection, len: number, fileId: string): Readable {
    let left = len;
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      this.pool.release(conn, ok);
    };
    if (left === 0) settle(true);
    return new Readable({
      highWaterMark: READ_HIGH_WATER_MARK,
      read(size) {
        if (left === 0) { this.push(null); return; }
        // Pulled only when the consumer wants more; meanwhile the socket reader pauses the socket
        // once its own buffer is full, so a slow consumer holds back the storage (backpressure).
        conn.reader.readSome(Math.min(left, Math.max(size, 64 * 1024))).then((chunk) => {
          left -= chunk.length;
          if (left === 0) settle(true);
          this.push(chunk);
          if (left === 0) this.push(null);
        }, (err) => {
          settle(false);
          this.destroy(withSubject(err, fileId));
        });
      },
      destroy(err, cb) {
        // A consumer that stops early leaves the connection mid-body: it cannot be reused.
        settle(left === 0);
        cb(err);
      },
    });
  }

  /** The content (or a range) in memory. For big files prefer download() or downloadToFile(). */
  async downloadToBuffer(fileId: string, opts: RangeOptions = {}): Promise<Buffer> {
    const stream = await this.download(fileId, opts);
    const chunks: Buffer[] = [];
    try {
      for await (const c of stream) chunks.push(c as Buffer);
    } catch (err) {
      throw withSubject(err, fileId);
    }
    return Buffer.concat(chunks);
  }

  /**
   * Download into `dest` through a temporary file in the same directory, renamed into place once
   * complete: dest never holds a partial file. Returns the number of bytes written.
   */
  async downloadToFile(fileId: string, dest: string, opts: RangeOptions = {}): Promise<number> {
    const stream = await this.download(fileId, opts);
    const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${crypto.randomBytes(6).toString('hex')}.part`);
    let bytes = 0;
    stream.on('data', (c: Buffer) => { bytes += c.length; });
    try {
      await pipeline(stream, fs.createWriteStream(tmp, { flags: 'wx', highWaterMark: READ_HIGH_WATER_MARK }));
      await fs.promises.rename(tmp, dest);
    } catch (err) {
      stream.destroy();
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      if (err instanceof FdfsError) throw err;
      // The temporary name is ours, not the user's: the message names dest.
      const e = toFdfsError(err, dest);
      throw new FdfsError(e.errno, e.message.slice(e.code.length + 2).split(tmp).join(dest).replace(` (${dest})`, ''), { subject: dest, cause: err });
    }
    return bytes;
  }

  // ---- delete, metadata ----

  /** 103 → 12. */
  async delete(fileId: string): Promise<void> {
    const { group, logicName } = parseFileId(fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    await this.#storageRun(server, (c) => storage.deleteFile(c, group, logicName, fileId), { subject: fileId });
  }

  /** 103 → 13: 'overwrite' replaces all metadata (an empty set removes it), 'merge' adds/changes names. */
  async setMetadata(fileId: string, meta: Record<string, string>, mode: MetadataMode = 'overwrite'): Promise<void> {
    const { group, logicName } = parseFileId(fileId);
    if (mode !== 'merge' && mode !== 'overwrite') throw new FdfsError('EINVAL', `metadata mode must be merge or overwrite, not ${mode}`, { subject: fileId });
    const blob = encodeMeta(meta, fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    await this.#storageRun(server, (c) => storage.setMetadata(c, group, logicName, mode === 'merge' ? 'M' : 'O', blob, fileId), { idempotent: true, subject: fileId });
  }

  /**
   * 103 → 15, like the reference client (metadata is read from the source storage, which has it
   * first). A file without metadata is ENOENT, as in FastDFS.
   */
  async getMetadata(fileId: string): Promise<Record<string, string>> {
    const { group, logicName } = parseFileId(fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    const blob = await this.#storageRun(server, (c) => storage.getMetadata(c, group, logicName, fileId), { idempotent: true, subject: fileId });
    return Object.fromEntries(decodeMetadata(blob));
  }

  // ---- file info ----

  /**
   * What the file name says (§6), completed by the storage (102 + 22) when §3.8 says the name is
   * not enough: appender and slave files, and id-named files whose id is unknown here.
   * `server: true` always asks the storage, `false` never does; default: only when needed.
   */
  async fileInfo(fileId: string, opts: { server?: boolean } = {}): Promise<FileInfo> {
    const { group, logicName } = parseFileId(fileId);
    const d = decodeFileName(logicName);
    if (!d) throw new FdfsError('EINVAL', 'not a FastDFS file name', { subject: fileId });
    let sourceIp = '';
    let sourceId: string | undefined;
    if ('ip' in d.source) {
      sourceIp = d.source.ip;
    } else {
      sourceId = String(d.source.id);
      sourceIp = await this.#resolveId(sourceId);
    }
    const type: FileType = d.type === 'normal' && d.isTrunk ? 'trunk' : d.type;
    const needed = d.type !== 'normal' || sourceIp === '';
    const info: FileInfo = { fileId, type, size: d.size, timestamp: d.timestamp, crc32: d.crc32, sourceIp, fromServer: false };
    if (sourceId !== undefined) info.sourceId = sourceId;
    if (opts.server === false || (opts.server === undefined && !needed)) return info;
    const server = await this.tracker.queryFetch(group, logicName);
    const r = await this.#storageRun(server, (c) => storage.queryFileInfo(c, group, logicName, fileId), { idempotent: true, subject: fileId });
    return { ...info, size: r.size, timestamp: r.timestamp, crc32: r.crc32, sourceIp: r.sourceIp || sourceIp, fromServer: true };
  }

  async #resolveId(id: string): Promise<string> {
    if (!this.#ids.has(id) && this.#loadIds) {
      this.#idsLoading ??= this.tracker.fetchStorageIds().then((list) => {
        for (const e of list) this.#ids.set(e.id, e.hosts[0] ?? '');
      }, () => { this.#idsLoading = null; });
      await this.#idsLoading;
    }
    return this.#ids.get(id) ?? '';
  }

  // ---- appender files (§3.9–§3.13) ----

  /** 103 → 24: add content at the end of an appender file. */
  async append(fileId: string, source: UploadSource, opts: { size?: number } = {}): Promise<void> {
    const { group, logicName } = parseFileId(fileId);
    const content = await toContent(source, opts.size, fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    await explained(this.#storageRun(server, (c) => storage.appendFile(c, logicName, content, fileId), { subject: fileId }), fileId, logicName);
  }

  /** 103 → 34: overwrite an appender file from `offset` (≤ its size; may extend it). */
  async modify(fileId: string, offset: number, source: UploadSource, opts: { size?: number } = {}): Promise<void> {
    const { group, logicName } = parseFileId(fileId);
    checkCount('offset', offset, fileId);
    const content = await toContent(source, opts.size, fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    await explained(this.#storageRun(server, (c) => storage.modifyFile(c, logicName, offset, content, fileId), { subject: fileId }), fileId, logicName,
      `offset ${offset} is beyond the end of the file`);
  }

  /**
   * 103 → 36: cut an appender file to `size` bytes. A larger size extends it with zeros
   * (PROTOCOL.md §3.11: allowed by FastDFS 6.16).
   */
  async truncate(fileId: string, size = 0): Promise<void> {
    const { group, logicName } = parseFileId(fileId);
    checkCount('size', size, fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    await explained(this.#storageRun(server, (c) => storage.truncateFile(c, logicName, size, fileId), { idempotent: true, subject: fileId }), fileId, logicName);
  }

  /** 103 → 38: turn an appender file into a normal one; returns the new file ID. */
  async regenerateAppenderName(fileId: string): Promise<string> {
    const { group, logicName } = parseFileId(fileId);
    const server = await this.tracker.queryUpdate(group, logicName);
    const r = await explained(this.#storageRun(server, (c) => storage.regenerateAppenderName(c, logicName, fileId), { subject: fileId }), fileId, logicName);
    return `${r.group}/${r.logicName}`;
  }

  /** A storage operation: connect with the §1.4 point 5 retries, pooled. */
  #storageRun<T>(server: StorageAddress, fn: (conn: ClientConnection) => Promise<T>, opts: { idempotent?: boolean; subject?: string } = {}): Promise<T> {
    return this.pool.run(server.ip, server.port, fn, { retryConnect: true, idempotent: opts.idempotent ?? false, subject: opts.subject, role: 'storage' });
  }
}
