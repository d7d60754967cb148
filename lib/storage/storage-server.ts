import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import type { StorageConfig } from '../config/storage-config.ts';
import { parseStorageIds, type StorageIdEntry } from '../config/storage-ids.ts';
import { httpPortOf, parseBool, parseReservedSpace } from '../config/values.ts';
import { PacketServer, type Connection } from '../net/packet-server.ts';
import { enableQuickAck, loadQuickAck } from '../net/quick-ack.ts';
import { loadAllowHosts } from '../net/allow-hosts.ts';
import { checkListenAddress, listenError } from '../net/listen-check.ts';
import { CMD, STORAGE_STATUS, storageStatusName } from '../protocol/codes.ts';
import { decodeStorageStatRecords } from '../protocol/records.ts';
import { encodeListStorageRequest } from '../protocol/storage-tracker.ts';
import { withTracker } from './tracker-session.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import type { FileSource } from '../protocol/filename.ts';
import { formatAddress } from '../protocol/ip.ts';
import type { StorageBrief, StorageStat } from '../protocol/records.ts';
import type { PathUsage, SyncSource } from '../protocol/storage-tracker.ts';
import { silentLogger, type Logger } from '../util/log.ts';
import { STATE_TEMP, sweepTempFiles } from '../util/temp-sweep.ts';
import { BinlogWriter } from './binlog.ts';
import { StorageCounters, type StorageContext, type TrackerParameters } from './context.ts';
import { FileLocks } from './file-locks.ts';
import { FileNameGenerator } from './file-names.ts';
import { storageHandlers } from './handlers/index.ts';
import {
  newInitFlag, newStorePathMark, readInitFlag, readStorePathMark, writeInitFlag, writeStorePathMark, type InitFlag,
} from './init-flag.ts';
import { MetadataStore } from './metadata-store.ts';
import type { ReporterHost } from './reporter-host.ts';
import { readStatFile, writeStatFile } from './stat-file.ts';
import { StorePaths } from './store-paths.ts';
import { PlainEngine } from './engine/plain-engine.ts';
import { TrunkEngine } from './engine/trunk-engine.ts';
import type { StorageEngine } from './engine/engine.ts';
import { ioEvent } from './io-events.ts';
import { DiskRecovery, markRecoveryPending, storePathsToRecover } from './recovery/disk-recovery.ts';
import { SyncReceiver } from './sync/receiver.ts';
import { SyncManager, type SyncReporter } from './sync/sync-manager.ts';
import { TrackerReporter } from './tracker-reporter.ts';
import type { Health } from '../http/daemon-http.ts';
import type { HttpServer } from '../http/http-server.ts';
import type { StorageHttpHost } from '../http/storage-http.ts';
import type { RequestMetrics } from '../metrics/request-metrics.ts';
import { StatConsumer } from './stat-consumer.ts';
import { logRequests } from '../util/request-log.ts';
import { bridgeBinlog, bridgeReporter, bridgeSyncReceiver } from './event-bridge.ts';
import { createTrunkRole, fromLeader } from './trunk/attach.ts';
import { parseTrunkParameters } from './trunk/parameters.ts';
import type { TrunkRole } from './trunk/role.ts';

// The storage daemon (PROTOCOL.md §3, §4, §7): store paths, binlog, state files, the client
// command table, and the ReporterHost the tracker reporter talks to.

/** What StorageServer needs from the tracker side (tracker-reporter.ts). */
export interface ReporterLike {
  bootstrap(): Promise<unknown>;
  start(): void;
  stop(): Promise<void>;
  reportNow(): void;
  on(event: 'active', listener: () => void): unknown;
}

export type ReporterFactory = (host: ReporterHost, config: StorageConfig, log: Logger) => ReporterLike;

export interface StorageServerOptions {
  /**
   * The tracker reporter. Default: TrackerReporter. `false` runs without trackers (tests, a
   * single node): then myIp/parameters/serverId/storageIds below stand in for the tracker answers.
   */
  reporter?: false | ReporterFactory;
  /** As a tracker would answer 60 (first IPv4 = source field of new names). */
  myIp?: string[];
  /** As a tracker would answer 75 (§4.2), e.g. { reserved_storage_space: '0MB' }. */
  parameters?: Record<string, string> | Map<string, string>;
  serverId?: string;
  /** storage_ids.conf lines, as 69 returns them. */
  storageIds?: string[];
  /** Port to listen on instead of config.port; 0 = any free port (the conf key cannot be 0). */
  listenPort?: number;
  /** HTTP port instead of http.server_port; 0 = any free port. Absent and conf 0: no HTTP. */
  httpPort?: number;
  /** How long start() waits for the trackers' start-up answers (60, 75). Default 60 s. */
  bootstrapTimeoutMs?: number;
  /** How long stop() lets requests in flight finish. Default 10 s. */
  stopGraceMs?: number;
}

/** How long a sync request from an unknown address waits for a fresher member list. */
const MEMBER_WAIT_MS = 5000;

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

function boolParam(v: string | undefined, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  try {
    return parseBool(v);
  } catch {
    return fallback;
  }
}

/**
 * One storage server. start() opens the store paths and state files, listens, completes the
 * start-up exchange with the trackers (held requests wait for it), then starts the per-tracker
 * report loops; stop() finishes requests in flight and flushes the binlog and state files.
 *
 * Events: 'status' (own status pushed by a tracker), 'members' (group member list), 'active'.
 */
export class StorageServer extends EventEmitter implements ReporterHost, StorageHttpHost {
  readonly config: StorageConfig;
  readonly log: Logger;
  readonly upTime = nowSec();
  readonly counters: StorageCounters;
  readonly meta = new MetadataStore();
  readonly params: TrackerParameters;
  status: number = STORAGE_STATUS.INIT;
  /** Latest member list of our group pushed by a tracker (for the coming sync threads). */
  groupMembers: StorageBrief[] = [];

  private readonly options: StorageServerOptions;
  private _groupName: string;
  private _port: number;
  private _serverId: string;
  private myIps: string[] = [];
  private storageIds = new Map<string, StorageIdEntry>();
  private initFlag: InitFlag = newInitFlag();
  private _storePaths: StorePaths | null = null;
  private _binlog: BinlogWriter | null = null;
  private _names: FileNameGenerator | null = null;
  private server: PacketServer<StorageContext> | null = null;
  private reporter: ReporterLike | null = null;
  /** Incoming replication progress (sync handlers) and outgoing replication (issue 5, §5). */
  private syncReceiver: SyncReceiver | null = null;
  private syncManager: SyncManager | null = null;
  private statTimer: NodeJS.Timeout | null = null;
  private releaseReady!: () => void;
  private failReady!: (err: Error) => void;
  private readonly ready: Promise<void>;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopped: Promise<void> | null = null;
  private peakConnections = 0;
  private allowHost: ((ip: string) => boolean) | undefined;
  /** Addresses of members the trackers listed (knownMember). */
  private readonly membersSeen = new Set<string>();
  private membersAsk: Promise<void> | null = null;
  private membersAskedAt = 0;
  private membersWait: Promise<void> | null = null;
  /** The background removal of upload temp files a kill -9 left (the engine's deep sweep; tests await it). */
  uploadTempSweep: Promise<number> = Promise.resolve(0);
  /** Where file content lives (lib/storage/engine): built once the name generator exists. */
  private _engine: TrunkEngine | null = null;
  private _plain: PlainEngine | null = null;
  /** The handlers' context, the source of their I/O events (set when listening). */
  private handlerCtx: StorageContext | null = null;
  /**
   * Prometheus metrics fed by the request events (lib/util/events.ts); only with an HTTP port
   * (nothing else can read them). Without one, prom-client, mime-types and the HTTP modules are
   * never loaded: ~20 MB less RSS and no histogram work per request.
   */
  metrics: RequestMetrics | null = null;
  private http: HttpServer | null = null;
  private statConsumer: StatConsumer | null = null;
  /** Store paths to rebuild from a peer before serving (disk recovery, §5.11). */
  private recoverPaths: number[] = [];
  private readonly recoveryAbort = new AbortController();
  /** Trunk storage (§11): created when 75 says use_trunk_file; its binlog opens before we serve. */
  trunkRole: TrunkRole | null = null;
  private trunkConfigured: Promise<void> = Promise.resolve();

  constructor(config: StorageConfig, log: Logger = silentLogger, options: StorageServerOptions = {}) {
    super();
    this.config = config;
    this.log = log;
    this.options = options;
    this._groupName = config.group_name;
    this._port = options.listenPort ?? config.port;
    this._serverId = options.serverId ?? config.server_id;
    this.counters = new StorageCounters();
    // Until a tracker says otherwise (§4.2): the tracker defaults.
    this.params = {
      ipAddrSize: 16,
      reserve: { kind: 'mb', mb: 1024, text: '1024MB' },
      pathMode: 0,
      useStorageId: false,
      idTypeInFilename: 'ip',
      storeSlaveFileUseLink: false,
      syncFileMaxDelay: 86400,
    };
    this.ready = new Promise<void>((resolve, reject) => { this.releaseReady = resolve; this.failReady = reject; });
    this.ready.catch(() => {});
  }

  // ---- accessors ----

  get storePaths(): StorePaths {
    if (!this._storePaths) throw new Error('storage server not started');
    return this._storePaths;
  }

  get binlog(): BinlogWriter {
    if (!this._binlog) throw new Error('storage server not started');
    return this._binlog;
  }

  get names(): FileNameGenerator {
    if (!this._names) throw new Error('storage server not started');
    return this._names;
  }

  get dataDir(): string { return path.join(this.config.base_path, 'data'); }
  get syncDir(): string { return path.join(this.dataDir, 'sync'); }
  private get initFlagFile(): string { return path.join(this.dataDir, '.data_init_flag'); }
  private get statFile(): string { return path.join(this.dataDir, 'storage_stat.dat'); }

  /** The address clients reach us at, as the ready line shows it. */
  get address(): { host: string; port: number } {
    return { host: this.config.bind_addr || '0.0.0.0', port: this._port };
  }

  // ---- ReporterHost ----

  get groupName(): string { return this._groupName; }
  get port(): number { return this._port; }
  get bindAddr(): string { return this.config.client_bind ? this.config.bind_addr : ''; }
  get storePathCount(): number { return this.config.store_paths.length; }
  get subdirCountPerPath(): number { return this.config.subdir_count_per_path; }
  get uploadPriority(): number { return this.config.upload_priority; }
  get joinTime(): number { return this.initFlag.storage_join_time; }
  get serverId(): string { return this._serverId; }
  get syncOldDone(): boolean { return this.initFlag.sync_old_done; }
  set syncOldDone(v: boolean) { this.initFlag.sync_old_done = v; }
  /** Sync source recorded in .data_init_flag (§7.5), re-sent by the reporter with 88. */
  get syncSource(): SyncSource | null {
    const f = this.initFlag;
    return f.sync_src_server ? { srcId: f.sync_src_server, until: f.sync_until_timestamp } : null;
  }
  /** IPs the trackers reported for us (60). */
  get myIp(): readonly string[] { return this.myIps; }

  diskUsage(): Promise<PathUsage[]> {
    return this.storePaths.diskUsage();
  }

  stats(): StorageStat {
    const s = this.counters.snapshot();
    const current = this.server?.connections.size ?? 0;
    this.peakConnections = Math.max(this.peakConnections, current);
    s.connection = { alloc_count: this.peakConnections, current_count: current, max_count: this.peakConnections };
    return s;
  }

  onMyIp(ips: string[]): void {
    const list = ips.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) return;
    this.myIps = list;
    this.updateSource();
  }

  onParameters(params: Map<string, string>): void {
    const p = this.params;
    p.useStorageId = boolParam(params.get('use_storage_id'), p.useStorageId);
    const idType = params.get('id_type_in_filename');
    if (idType === 'id' || idType === 'ip') p.idTypeInFilename = idType;
    const ips = params.get('response_ip_addr_size');
    if (ips === '46' || ips === 'IPv6') p.ipAddrSize = 46;
    else if (ips === '16' || ips === 'IPv4') p.ipAddrSize = 16;
    const mode = params.get('store_path');
    if (mode === '0' || mode === '2') p.pathMode = Number(mode) as 0 | 2;
    const reserve = params.get('reserved_storage_space');
    if (reserve !== undefined) {
      try {
        p.reserve = parseReservedSpace(reserve);
      } catch {
        this.log('warn', `tracker sent an unreadable reserved_storage_space "${reserve}"; keeping ${p.reserve.text}`);
      }
    }
    p.storeSlaveFileUseLink = boolParam(params.get('store_slave_file_use_link'), p.storeSlaveFileUseLink);
    const maxDelay = Number(params.get('storage_sync_file_max_delay'));
    if (Number.isInteger(maxDelay) && maxDelay > 0) p.syncFileMaxDelay = maxDelay;
    p.trunk = parseTrunkParameters(params);
    if (p.trunk && this._storePaths && this._names) this.trunkConfigured = this.configureTrunk(p.trunk);
    this.updateSource();
  }

  /** §11.7: data/trunk/binlog exists on every member of a trunk group. */
  private async configureTrunk(params: NonNullable<TrackerParameters['trunk']>): Promise<void> {
    this.trunkRole ??= createTrunkRole({
      config: this.config, dataDir: this.dataDir, storePaths: this.storePaths, names: this.names, upTime: this.upTime, log: this.log,
      initFlag: () => this.initFlag, saveInitFlag: () => this.saveInitFlag(),
      self: () => ({ id: this._serverId, ips: this.myIps, port: this._port, useStorageId: this.params.useStorageId, group: this._groupName }),
      reserve: () => this.params.reserve,
      reporter: () => this.reporter,
      leader: () => (this.reporter as { leader?: string | null } | null)?.leader ?? null,
    });
    await this.trunkRole.configure(params);
  }

  /** §11.5: what the report loop sends with 73/74 while this storage is trunk server. */
  trunkReport(): { fileId: number; freeMb: number } | null {
    return this.trunkRole?.trunkReport() ?? null;
  }

  onServerId(id: string): void {
    this._serverId = id;
    this.updateSource();
  }

  onStorageIds(lines: string[]): void {
    try {
      const entries = parseStorageIds(lines.join('\n'), 'storage ids from tracker');
      this.storageIds = new Map(entries.map((e) => [e.id, e]));
    } catch (err) {
      this.log('warn', `cannot read the storage id list from the tracker: ${(err as Error).message}`);
      return;
    }
    if (!this._groupName && this._serverId) {
      const own = this.storageIds.get(this._serverId);
      if (own) this._groupName = own.group;
    }
  }

  /** Group learnt through 109 GET_GROUP_NAME (§4.12) when group_name is not configured. */
  onGroupName(name: string): void {
    if (!this._groupName) this._groupName = name;
  }

  onGroupMembers(members: StorageBrief[], trackerAddress: string): void {
    this.groupMembers = members;
    // Every address any tracker ever listed stays a member until one lists it DELETED: lists from
    // several trackers (or one just restarted) can be partial, and a peer refused for that would
    // stall its sync (issue 15's member check must not cost redundancy).
    for (const m of members) {
      if (m.status === STORAGE_STATUS.DELETED) this.membersSeen.delete(m.ip);
      else this.membersSeen.add(m.ip);
    }
    this.emit('members', members, trackerAddress);
  }

  onOwnStatus(status: number): void {
    if (status === this.status) return;
    this.status = status;
    this.emit('status', status);
  }

  onSyncSource(src: { srcId: string; until: number } | null): void {
    this.initFlag.sync_src_server = src?.srcId ?? '';
    this.initFlag.sync_until_timestamp = src?.until ?? 0;
  }

  saveInitFlag(): Promise<void> {
    return writeInitFlag(this.initFlagFile, this.initFlag);
  }

  /** §6.2: the server id when use_storage_id && id_type_in_filename=id, else the first IPv4 of 60. */
  private updateSource(): void {
    if (!this._names) return;
    let source: FileSource | null = null;
    const id = Number(this._serverId);
    if (this.params.useStorageId && this.params.idTypeInFilename === 'id' && /^\d+$/.test(this._serverId) && id >= 1 && id <= 0xffffff) {
      source = { id };
    } else {
      const ip = this.myIps.find((s) => isIPv4(s));
      if (ip) source = { ip };
    }
    this._names.source = source;
  }

  /** An address of a storage of our group (not deleted), by the trackers' list or storage_ids.conf. */
  private knownMember(ip: string): boolean {
    if (this.membersSeen.has(ip)) return true;
    for (const e of this.storageIds.values()) if (e.group === this._groupName && e.hosts.includes(ip)) return true;
    return false;
  }

  /**
   * knownMember, or after the next member list the trackers push (at most MEMBER_WAIT_MS): a
   * peer may connect before our first list arrives, or just after it joined.
   */
  private isGroupMember(ip: string): boolean | Promise<boolean> {
    if (this.knownMember(ip)) return true;
    const deadline = Date.now() + MEMBER_WAIT_MS;
    return (async () => {
      // A peer that joined after the last list a tracker pushed us (only the leader pushes, §4.8):
      // ask the trackers' 92 once, then wait for the next push.
      await this.askTrackersForMembers(Math.min(2000, MEMBER_WAIT_MS));
      while (!this.knownMember(ip)) {
        const left = deadline - Date.now();
        if (left <= 0 || this.state === 'stopping' || this.state === 'stopped') return false;
        await this.nextMembers(left);
      }
      return true;
    })();
  }

  /**
   * 92 LIST_STORAGE of our group on each tracker, adding every listed address to membersSeen. One
   * round at a time and at most one a second, shared by every asker; gives up waiting after `ms`.
   */
  private askTrackersForMembers(ms: number): Promise<void> {
    if (!this.membersAsk && Date.now() - this.membersAskedAt >= 1000 && this._groupName) {
      this.membersAskedAt = Date.now();
      const c = this.config;
      const dial = { connectTimeout: c.connect_timeout, networkTimeout: c.network_timeout, localAddress: this.bindAddr || undefined };
      const group = this._groupName;
      this.membersAsk = (async () => {
        for (const t of c.tracker_servers) {
          try {
            const body = await withTracker({ hosts: [...t.hosts], port: t.port }, dial,
              (conn) => conn.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(group), { maxResponse: 1 << 20 }));
            for (const r of body.length ? decodeStorageStatRecords(body) : []) {
              if (r.status === STORAGE_STATUS.DELETED) continue;
              for (const addr of r.ip_addr.split(',')) if (addr.trim()) this.membersSeen.add(addr.trim());
            }
          } catch { /* another tracker, or the next pushed list */ }
        }
      })().finally(() => { this.membersAsk = null; });
    }
    if (!this.membersAsk) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([this.membersAsk, new Promise<void>((r) => { timer = setTimeout(r, ms); })]).finally(() => clearTimeout(timer));
  }

  /** The next member list pushed by a tracker, or `ms` passing; one wait shared by every asker. */
  private nextMembers(ms: number): Promise<void> {
    this.membersWait ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('members', done);
        this.membersWait = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.on('members', done);
    });
    return this.membersWait;
  }

  // ---- StorageHttpHost (lib/http/storage-http.ts) ----

  get storePathList(): readonly string[] { return this.config.store_paths; }
  syncFileMaxDelay(): number { return this.params.syncFileMaxDelay; }
  httpPort(): number { return this.http?.listenPort ?? 0; }
  binlogPosition(): { index: number; offset: number } | null { return this._binlog?.position() ?? null; }
  syncPeers() { return this.syncManager ? this.syncManager.status() : Promise.resolve([]); }

  isOwnSource(source: FileSource): boolean {
    if ('id' in source) return String(source.id) === this._serverId;
    return this.myIps.includes(source.ip) || source.ip === this.config.bind_addr;
  }

  /** §3.8: where the source of a file listens (its port from the member list, else ours). */
  sourceAddress(source: FileSource): { ip: string; port: number } | null {
    const ip = this.sourceIpOf(source);
    if (!ip) return null;
    const member = this.groupMembers.find((m) => m.ip === ip || ('id' in source && m.id === String(source.id)));
    return { ip, port: member?.port || this._port };
  }

  /** /healthz: serving and joined (ACTIVE, or running without trackers). */
  health(): Health {
    if (this.state !== 'running') return { ok: false, reason: `not serving: ${this.state === 'starting' ? 'waiting for the trackers' : this.state}` };
    if (this.reporter && this.status !== STORAGE_STATUS.ACTIVE) return { ok: false, reason: `not ACTIVE: status ${storageStatusName(this.status)} in ${this._groupName}` };
    return { ok: true, reason: `ok: ${this.reporter ? 'ACTIVE' : 'serving'} in ${this._groupName}` };
  }

  /** §3.8: the source storage's IP of a file; server ids go through the id list. */
  private sourceIpOf(source: FileSource): string {
    if ('ip' in source) return source.ip;
    if (!this.params.useStorageId) return '';
    return this.storageIds.get(String(source.id))?.hosts[0] ?? '';
  }

  // ---- life cycle ----

  async start(): Promise<{ host: string; port: number }> {
    if (this.state !== 'new') throw new Error(`storage server already ${this.state}`);
    this.state = 'starting';
    try {
      // Both are quick and either can fail: before the sub-directories are made.
      this.allowHost = await loadAllowHosts(this.config.allow_hosts);
      await checkListenAddress(this.config.bind_addr || undefined, this._port);
      await this.openState();
      await this.listen();
      await this.bootstrap();
      await this.trunkConfigured;
      if (this.options.reporter === false) await this.trunkRole?.becomeStandalone();
      if (this.recoverPaths.length > 0) await this.recoverDisks();
      if (!this._groupName) throw new FdfsError('EINVAL', 'group_name is not set and no tracker told us our group');
      if (!this.names.source) {
        this.log('warn', 'no IPv4 address for file names yet (no usable GET_MY_IP answer): uploads are refused until there is one');
      }
      this.initFlag.last_ip_addr = this.myIps[0] ?? this.initFlag.last_ip_addr;
      this.initFlag.last_server_port = this._port;
      await this.saveInitFlag();
    } catch (err) {
      this.failReady(err as Error);
      await this.shutdown().catch(() => {});
      this.state = 'stopped';
      throw err;
    }
    if (this.stopped) throw new FdfsError('ENOTCONN', 'storage server stopped during start-up');
    this.releaseReady();
    this.startSync();
    this.reporter?.start();
    const every = Math.max(1, this.config.sync_stat_file_interval) * 1000;
    this.statTimer = setInterval(() => { void this.saveStat().catch((e: Error) => this.log('warn', `cannot write storage_stat.dat: ${e.message}`)); }, every);
    this.statTimer.unref();
    this.state = 'running';
    const a = this.address;
    this.log('info', `serving group ${this._groupName} on ${formatAddress(a.host, a.port)}, ${this.storePathCount} store path(s)`);
    return a;
  }

  private async openState(): Promise<void> {
    const c = this.config;
    if ((c as { disabled?: boolean }).disabled) throw new FdfsError('EINVAL', 'this storage.conf is disabled (disabled = true)');
    // A missing base_path is created, as the tracker does: a first start needs no mkdir.
    try {
      await fs.mkdir(c.base_path, { recursive: true });
    } catch (err) {
      throw toFdfsError(err, c.base_path);
    }
    let st;
    try {
      st = await fs.stat(c.base_path);
    } catch (err) {
      throw new FdfsError('ENOENT', `base_path ${c.base_path} does not exist`, { subject: c.base_path, cause: err });
    }
    if (!st.isDirectory()) throw new FdfsError('ENOTDIR', `base_path ${c.base_path} is not a directory`, { subject: c.base_path });
    await fs.mkdir(this.syncDir, { recursive: true });
    // Before anything writes state: mark, stat and flag temp files of failed writes (a full disk).
    const swept = await sweepTempFiles(this.syncDir, { match: STATE_TEMP }) + await sweepTempFiles(this.dataDir, { match: STATE_TEMP });
    if (swept > 0) this.log('info', `removed ${swept} temp file(s) left by failed state writes`);

    const flag = await readInitFlag(this.initFlagFile);
    const firstStart = flag === null;
    this.initFlag = flag ?? newInitFlag();
    if (this.initFlag.storage_join_time <= 0) this.initFlag.storage_join_time = nowSec();

    const saved = await readStatFile(this.statFile);
    if (saved) Object.assign(this.counters.stat, saved.stat);

    const storePaths = new StorePaths({
      paths: c.store_paths.map((p, i) => ({ path: p, readonly: c.store_paths_readonly[i] ?? false })),
      subdirCount: c.subdir_count_per_path,
      log: this.log.child('store-paths'),
    });
    // §5.11: decided before init() creates the data directories again.
    this.recoverPaths = await storePathsToRecover(c.store_paths, !firstStart, this.initFlag.sync_old_done);
    await storePaths.init();
    this._storePaths = storePaths;
    for (const i of this.recoverPaths) await markRecoveryPending(storePaths.dataDir(i));
    this.syncReceiver = new SyncReceiver(this.syncDir, this.log.child('sync-in'));
    await this.syncReceiver.load();
    const startedMs = Date.now();
    if (c.check_store_path_mark) await this.checkStorePathMarks();
    if (firstStart) await this.saveInitFlag();

    this._binlog = new BinlogWriter({ dir: this.syncDir, syncInterval: c.sync_binlog_buff_interval, log: this.log.child('binlog') });
    await this._binlog.open();
    bridgeBinlog(this, this._binlog);

    this._names = new FileNameGenerator({
      subdirCount: c.subdir_count_per_path,
      mode: c.file_distribute_path_mode === 1 ? 1 : 0,
      rotateCount: c.file_distribute_rotate_count,
      cursor: saved?.dist,
    });
    this._plain = new PlainEngine({
      storePaths,
      names: this._names,
      fsyncAfterBytes: c.fsync_after_written_bytes,
      io: (op, phase) => { if (this.handlerCtx) ioEvent(this.handlerCtx, op, phase); },
    });
    // PROTOCOL.md §11: trunk names and small uploads go to slots once 75 says use_trunk_file;
    // everything else (and everything while trunk mode is off) to the plain engine.
    this._engine = new TrunkEngine({
      plain: this._plain,
      storePaths,
      trunk: () => this.params.trunk,
      allocator: () => (this.trunkRole?.params ? this.trunkRole.slots : undefined),
      source: () => this._names?.source ?? null,
      onIo: (op, phase) => { if (this.handlerCtx && op !== 'link') ioEvent(this.handlerCtx, op, phase); },
      log: this.log.child('trunk-data'),
    });
    // What a kill -9 left of content never committed: incoming sync files before serving (one
    // readdir per store path), uploads' temp files in the background (every data/HH/HH).
    const incoming = await this._engine.sweep({ startedMs, deep: false }).catch((err: Error) => {
      this.log('warn', `cannot sweep incoming temp files: ${err.message}`);
      return 0;
    });
    if (incoming > 0) this.log('info', `removed ${incoming} partial incoming sync file(s) left by a crash`);
    const sweepLog = this.log.child('upload-sweep');
    // The deep sweep reads every data/HH/HH (65,536 directories per store path by default): worth
    // it only after a crash. A stop that left no temp file behind says so in .clean_stop, and a
    // data directory created by this start holds nothing yet.
    const cleanStop = await fs.rm(this.cleanStopFile).then(() => true, () => false);
    const fresh = Array.from({ length: storePaths.count }, (_, i) => storePaths.createdByThisStart(i)).every(Boolean);
    if (cleanStop || fresh) {
      sweepLog('debug', `upload temp sweep skipped (${cleanStop ? 'the last stop was clean' : 'new store paths'})`);
      this.uploadTempSweep = Promise.resolve(0);
      this.uploadSweepDone = true;
      return;
    }
    this.uploadTempSweep = this._engine.sweep({ startedMs, deep: true }).then((n) => {
      if (n > 0) sweepLog('info', `removed ${n} partial upload(s) left by a crash`);
      this.uploadSweepDone = true;
      return n;
    }, (err: Error) => {
      sweepLog('warn', `cannot sweep upload temp files: ${err.message}`);
      return 0;
    });
  }

  /** Written by a stop that left no upload temp file behind; removed at start (its absence means: sweep). */
  private get cleanStopFile(): string { return path.join(this.dataDir, '.clean_stop'); }

  /** The deep temp sweep of this run finished (or was not needed): no crash leftovers remain. */
  private uploadSweepDone = false;

  get engine(): StorageEngine {
    if (!this._engine) throw new Error('storage server not started');
    return this._engine;
  }

  /**
   * §7.5: each store path carries a mark that must equal the one in .data_init_flag, so a disk of
   * another storage (or one swapped in empty) is noticed.
   */
  private async checkStorePathMarks(): Promise<void> {
    const marks = this.initFlag.store_path_marks;
    let changed = false;
    for (let i = 0; i < this.storePathCount; i++) {
      const p = this.config.store_paths[i]!;
      const onDisk = await readStorePathMark(p);
      const expected = marks[i] ?? '';
      if (onDisk && expected && onDisk !== expected) {
        throw new FdfsError('EINVAL', `store_path${i} ${p} carries the mark of another storage instance (data/.fastdfs_vars differs from ${this.initFlagFile})`, { subject: p });
      }
      if (onDisk && !expected) {
        marks[i] = onDisk;
      } else if (!onDisk) {
        if (expected && !this.recoverPaths.includes(i)) this.log('warn', `store_path${i} ${p} lost its mark file; writing a new one`);
        marks[i] = newStorePathMark(this.config.bind_addr || '0.0.0.0', this._port);
        await writeStorePathMark(p, marks[i]!);
        changed = true;
      }
    }
    for (let i = 0; i < marks.length; i++) marks[i] ??= '';
    // At once: a crash before start() ends would otherwise leave the path with a mark the flag
    // file does not know (a recovering storage is often killed before that).
    if (changed) await this.saveInitFlag();
  }

  private async listen(): Promise<void> {
    const c = this.config;
    const self = this;
    const ctx: StorageContext = {
      get groupName() { return self._groupName; },
      storePaths: this.storePaths,
      binlog: this.binlog,
      names: this.names,
      meta: this.meta,
      counters: this.counters,
      params: this.params,
      log: this.log.child('handlers'),
      engine: this.engine,
      fsyncAfterBytes: c.fsync_after_written_bytes,
      claimedNames: this._plain!.claimedNames,
      fileLocks: new FileLocks(),
      sourceIpOf: (s) => this.sourceIpOf(s),
      sync: this.syncReceiver ?? undefined,
      syncStatus: () => this.syncManager ? this.syncManager.status() : Promise.resolve([]),
      isGroupMember: this.options.reporter === false ? undefined : (ip) => this.isGroupMember(ip),
      get trunk() { return self.trunkRole?.params ? self.trunkRole : undefined; },
      get trunkAllocator() { return self.trunkRole?.params ? self.trunkRole.slots : undefined; },
    };
    this.handlerCtx = ctx;
    this.server = new PacketServer<StorageContext>({
      name: 'storage',
      // Requests that arrive during the start-up exchange with the trackers wait for it.
      handlers: storageHandlers(() => this.ready),
      state: ctx,
      networkTimeout: c.network_timeout,
      maxBodyLength: c.buff_size,
      // What a connection may hold unread: the engine writes 256 KiB at a time, so more only
      // raises the memory of many concurrent uploads (16 × 64 MiB peaked at 149 MB with 1 MiB).
      highWaterMark: 256 * 1024,
      closeOnEinval: true,
      maxConnections: c.max_connections,
      allowHost: this.allowHost,
      log: this.log.child('net'),
    });
    // C senders wait for the ACK of each header before sending content (lib/net/quick-ack.ts).
    void loadQuickAck();
    this.server.on('connection', (conn: Connection) => {
      this.peakConnections = Math.max(this.peakConnections, this.server?.connections.size ?? 0);
      enableQuickAck(conn.socket, () => conn.awaitingBytes());
    });
    // Without a listener an 'error' of the PacketServer would be thrown, stack trace and all.
    const onListenError = () => {};
    this.server.on('error', onListenError);
    if (this.httpPortWanted() !== null) {
      const { RequestMetrics } = await import('../metrics/request-metrics.ts');
      const { registerStorageMetrics } = await import('../metrics/storage-metrics.ts');
      this.metrics = new RequestMetrics('storage');
      this.metrics.watchProtocol(this.server);
      this.metrics.watchSync(ctx);
      registerStorageMetrics(this.metrics.registry, this);
    }
    // Sync events of both directions carry the StorageContext as their source (lib/util/events.ts SyncEvent).
    if (this.syncReceiver) bridgeSyncReceiver(ctx, this.syncReceiver);
    this.statConsumer = new StatConsumer(this.server, ctx, this.counters);
    const addr = await this.server.listen(this._port, c.bind_addr || undefined).catch((err: unknown) => {
      throw listenError(err, c.bind_addr, this._port);
    });
    this.server.off('error', onListenError);
    this.server.on('error', (err: Error) => this.log('error', `listener: ${err.message}`));
    this._port = addr.port;
    await this.listenHttp();
    if (this.log.enabled?.('debug')) logRequests(this.server, this.http, this.log.child('access'));
  }

  /** http.server_port (or --http-port): files, /metrics, /healthz. Up before the trackers answer, so /healthz can say why we wait. */
  private httpPortWanted(): number | null {
    return httpPortOf(this.options.httpPort, this.config['http.server_port']);
  }

  private async listenHttp(): Promise<void> {
    const c = this.config;
    const port = this.httpPortWanted();
    // Metrics exist exactly when HTTP is wanted (start()).
    if (port === null || !this.metrics) return;
    const log = this.log.child('http');
    const { createDaemonHttp } = await import('../http/daemon-http.ts');
    const { fileRoute } = await import('../http/storage-http.ts');
    this.http = createDaemonHttp({
      role: 'storage', metrics: this.metrics, health: () => this.health(), files: fileRoute(this, log), log, timeoutSec: c.network_timeout,
    });
    try {
      await this.http.listen(port, c.bind_addr || undefined);
    } catch (err) {
      throw new FdfsError('EBUSY', `cannot serve HTTP on port ${port} (http.server_port; nginx with fastdfs-nginx-module there? set http.server_port = 0): ${(err as Error).message}`);
    }
    log('info', `HTTP on ${formatAddress(c.bind_addr || '0.0.0.0', this.http.listenPort)}`);
  }

  private async bootstrap(): Promise<void> {
    const o = this.options;
    if (o.reporter === false) {
      if (o.parameters) this.onParameters(o.parameters instanceof Map ? o.parameters : new Map(Object.entries(o.parameters)));
      if (o.storageIds) this.onStorageIds(o.storageIds);
      if (o.serverId) this.onServerId(o.serverId);
      this.onMyIp(o.myIp ?? (this.config.bind_addr && isIPv4(this.config.bind_addr) ? [this.config.bind_addr] : []));
      return;
    }
    const factory: ReporterFactory = o.reporter ?? ((host, config, log) => new TrackerReporter(host, config, log));
    this.reporter = factory(this, this.config, this.log.child('reporter'));
    bridgeReporter(this, this.reporter as ReporterLike & EventEmitter);
    (this.reporter as ReporterLike & EventEmitter).on('trunk-server', (brief: StorageBrief, line: string) => {
      if (this.trunkRole && fromLeader({ leader: () => (this.reporter as { leader?: string | null }).leader ?? null }, line)) void this.trunkRole.onTrunkServer(brief, line);
    });
    this.on('members', (members: StorageBrief[]) => this.trunkRole?.onMembers(members));
    this.reporter.on('active', () => {
      this.log('info', 'a tracker reports this storage ACTIVE');
      this.emit('active');
    });
    const ms = o.bootstrapTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FdfsError('ETIMEDOUT', `no tracker answered the start-up requests within ${ms / 1000} s`)), ms);
    });
    try {
      await Promise.race([this.reporter.bootstrap(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Replication (PROTOCOL.md §5): a sync reader per group member, driven by the member lists the
   * tracker pushes. Without trackers (reporter: false) there are no members to sync with.
   */
  private startSync(): void {
    if (!this.reporter || !this.syncReceiver) return;
    const c = this.config;
    const reporter = this.reporter as ReporterLike & SyncReporter;
    const manager = new SyncManager({
      ctx: this.server!.options.state,
      receiver: this.syncReceiver,
      config: c,
      log: this.log.child('sync'),
      syncDir: this.syncDir,
      ownId: () => this._serverId,
      ownPort: () => this._port,
      useStorageId: () => this.params.useStorageId,
      ownStatus: () => this.status,
      localAddress: this.bindAddr || undefined,
      trackers: c.tracker_servers.map((t) => ({ hosts: [...t.hosts], port: t.port })),
      dial: { connectTimeout: c.connect_timeout, networkTimeout: c.network_timeout, localAddress: this.bindAddr || undefined },
      reporter,
    });
    this.syncManager = manager;
    this.on('members', (members: StorageBrief[]) => manager.onMembers(members));
    this.on('status', (status: number) => manager.onOwnStatus(status));
    manager.start();
    if (this.groupMembers.length > 0) manager.onMembers(this.groupMembers);
  }

  /**
   * Disk recovery (§5.11), one store path after the other, before the storage serves or joins:
   * requests that arrive meanwhile wait, and the trackers list it as RECOVERY, so nothing reads
   * from it until it holds everything again.
   */
  private async recoverDisks(): Promise<void> {
    const c = this.config;
    const dial = { connectTimeout: c.connect_timeout, networkTimeout: c.network_timeout, localAddress: this.bindAddr || undefined };
    for (const i of this.recoverPaths) {
      this.log('info', `store_path${i} ${c.store_paths[i]} was replaced: recovering it from a peer`);
      await new DiskRecovery({
        storePathIndex: i,
        storePaths: this.storePaths,
        self: { group: this._groupName, ip: this.myIps[0] ?? c.bind_addr, port: this._port, id: this._serverId, storePathCount: this.storePathCount },
        trackers: c.tracker_servers.map((t) => ({ hosts: [...t.hosts], port: t.port })),
        dial,
        peerDial: dial,
        threads: c.disk_recovery_threads,
        log: this.log.child('recovery'),
        signal: this.recoveryAbort.signal,
      }).run();
    }
    this.recoverPaths = [];
  }

  /** Per-peer replication readers (tests, monitoring). */
  get sync(): SyncManager | null { return this.syncManager; }

  private async saveStat(): Promise<void> {
    const names = this._names;
    if (!this.counters.dirty && !names?.cursorDirty) return;
    this.counters.dirty = false;
    if (names) names.cursorDirty = false;
    await writeStatFile(this.statFile, this.counters.stat, names?.cursor ?? { high: 0, low: 0, count: 0 });
  }

  /** Finish requests in flight (bounded), stop reporting, flush binlog and state files. */
  stop(): Promise<void> {
    if (this.state === 'new') { this.state = 'stopped'; return Promise.resolve(); }
    this.stopped ??= (async () => {
      // A start() still waiting on the trackers gives up.
      this.failReady(new FdfsError('ENOTCONN', 'storage server is stopping'));
      this.recoveryAbort.abort();
      this.state = 'stopping';
      await this.shutdown();
      this.state = 'stopped';
      this.log('info', 'storage stopped');
    })();
    return this.stopped;
  }

  private shuttingDown: Promise<void> | null = null;

  /** Idempotent: a failed start() and a concurrent stop() share one shutdown. */
  private shutdown(): Promise<void> {
    this.shuttingDown ??= this.doShutdown();
    return this.shuttingDown;
  }

  private async doShutdown(): Promise<void> {
    if (this.statTimer) clearInterval(this.statTimer);
    this.statTimer = null;
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => Promise<unknown> | undefined) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
        this.log('warn', `${what}: ${(err as Error).message}`);
      }
    };
    await step('closing the listener', () => this.server?.close(this.options.stopGraceMs ?? 10_000));
    await step('closing the HTTP listener', () => this.http?.close());
    this.metrics?.close();
    this.statConsumer?.close();
    await step('stopping replication', () => this.syncManager?.stop());
    await step('stopping the tracker reporter', () => this.reporter?.stop());
    await step('stopping the trunk role', () => this.trunkRole?.stop());
    await step('saving replication progress', () => this.syncReceiver?.close());
    await step('closing the binlog', () => this._binlog?.close());
    if (this._names) {
      this.counters.dirty = true;
      await step('writing storage_stat.dat', () => this.saveStat());
    }
    if (this._storePaths) await step('writing .data_init_flag', () => this.saveInitFlag());
    // Nothing of an upload left on disk and nothing of an earlier crash either: the next start
    // may skip the deep sweep.
    if (errors.length === 0 && this.uploadSweepDone && this._plain?.openTemps === 0) {
      await step('writing .clean_stop', () => fs.writeFile(this.cleanStopFile, `${new Date().toISOString()}\n`));
    }
  }
}
