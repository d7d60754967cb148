import { isIP } from 'node:net';
import { EventEmitter } from 'node:events';
import { storageStatusName } from '../protocol/codes.ts';
import { formatAddress, normalizeIp } from '../protocol/ip.ts';
import { PacketServer, type Connection } from '../net/packet-server.ts';
import { effectiveResponseIpAddrSize, ipv6Enabled, type TrackerConfig } from '../config/tracker-config.ts';
import { loadStorageIds } from '../config/storage-ids.ts';
import { silentLogger, type Logger } from '../util/log.ts';
import { loadAllowHosts } from '../net/allow-hosts.ts';
import { Cluster, type StatusChange, type StorageRecord } from './cluster.ts';
import { connData, type TrackerContext } from './context.ts';
import { trackerHandlers } from './handlers/index.ts';
import { StorageIdIndex, idForIp, rwModeOf } from './id-index.ts';
import { TrackerStore } from './persistence.ts';
import { TrunkCoordinator } from './trunk.ts';
import type { Health } from '../http/daemon-http.ts';
import type { HttpServer } from '../http/http-server.ts';
import type { RequestMetrics } from '../metrics/request-metrics.ts';
import { httpPortOf } from '../config/values.ts';
import { Bootstrap, CopyLock } from './bootstrap.ts';
import { Election, type ElectionOptions } from './election.ts';
import { TrackerPeers, type PeerDial } from './peers.ts';
import { runningStatusOf, type TrunkServerOfGroup } from '../protocol/tracker-peer.ts';

export interface TrackerServerOptions {
  /** Listen port, overriding config.port; 0 picks a free port (the ready line shows it). */
  port?: number;
  /** Unix seconds. Inject a fake clock to drive liveness (§8.5) in tests without sleeping. */
  now?: () => number;
  /** Run the periodic liveness and status-file timers (default true). Tests call checkAlive(). */
  timers?: boolean;
  /** HTTP port (/metrics, /healthz) instead of http.server_port; 0 = any free port. */
  httpPort?: number;
  /** Election timing (tests). */
  election?: ElectionOptions;
}

export interface TrackerServerEvents {
  status: [StatusChange];
}

/** `.tracker_status` is rewritten every 300 s (§8.8). */
const STATUS_FILE_PERIOD_S = 300;

/**
 * The tracker daemon (PROTOCOL.md §2, §4, §8): one PacketServer with the tracker command table,
 * the cluster picture, its data files, the liveness check, and its part in the tracker cluster:
 * the peers learnt from storage JOINs, the leader election (§8.6) and the bootstrap of an empty
 * tracker from a peer (§8.7).
 *
 *     const t = new TrackerServer(config, log);
 *     const { host, port } = await t.start();
 *     …
 *     await t.stop();   // saves every data file
 */
export class TrackerServer extends EventEmitter<TrackerServerEvents> {
  readonly cluster = new Cluster();
  private readonly now: () => number;
  private server: PacketServer<TrackerContext> | null = null;
  private ctx: TrackerContext | null = null;
  private store: TrackerStore | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private listenIp = '';
  private listenPort = 0;
  private maxConnectionsSeen = 0;
  private startTime = 0;
  private stopped: Promise<void> | null = null;
  /** Prometheus metrics fed by the request events (lib/util/events.ts); only with an HTTP port (see the storage's). */
  metrics: RequestMetrics | null = null;
  private http: HttpServer | null = null;
  private election: Election | null = null;

  constructor(readonly config: TrackerConfig, private readonly log: Logger = silentLogger, private readonly opts: TrackerServerOptions = {}) {
    super();
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.cluster.on('status', (c) => {
      this.log('info', `storage ${c.storage.id} (${c.storage.group.name}): ${storageStatusName(c.from)} => ${storageStatusName(c.to)} (${c.why})`);
      this.emit('status', c);
    });
  }

  /** The handlers' view of the daemon; available once start() resolved. */
  get context(): TrackerContext {
    if (!this.ctx) throw new Error('tracker not started');
    return this.ctx;
  }

  get address(): { host: string; port: number } {
    return { host: this.listenIp, port: this.listenPort };
  }

  async start(): Promise<{ host: string; port: number }> {
    const config = this.config;
    if (config.disabled) throw new Error('this tracker.conf says disabled = true');
    const entries = config.use_storage_id ? loadStorageIds(config.storage_ids_filename) : [];
    const ids = config.use_storage_id ? new StorageIdIndex(entries) : null;
    const store = new TrackerStore(config.base_path, this.cluster, config.use_storage_id, this.log.child('store'));
    this.store = store;
    this.ids = ids;
    await this.loadState();
    const lastCheckTime = await store.readStatusFile();
    this.startTime = this.now();

    const trunk = new TrunkCoordinator(() => this.context);
    const bind = config.bind_addr.split(',').map((a) => a.trim()).find((a) => a !== '') ?? '';
    this.listenIp = bind || (ipv6Enabled(config.address_family, '') ? '::' : '0.0.0.0');

    const dial: PeerDial = {
      connectTimeout: config.connect_timeout,
      networkTimeout: config.network_timeout,
      localAddress: isIP(bind) && bind !== '0.0.0.0' && bind !== '::' ? bind : undefined,
    };
    const peers = new TrackerPeers(() => ({ ip: this.listenIp, port: this.listenPort }), this.log.child('peers'));
    const connectionStats = () => ({
      alloc: config.max_connections,
      current: this.server?.connections.size ?? 0,
      max: this.maxConnectionsSeen,
    });
    const election = new Election({
      peers, log: this.log.child('election'), dial, startTime: this.startTime, connectionStats,
      ownStatus: () => runningStatusOf(false, this.now(), this.startTime, lastCheckTime),
      onTrunkServers: (list) => this.applyTrunkServers(list),
    }, this.opts.election);
    this.election = election;
    election.on('leader', (_peer, self) => {
      // §8.6: a new leader looks for the groups' trunk servers (C tracker_mem_find_trunk_servers).
      if (self && config.use_trunk_file) for (const g of this.cluster.groups.keys()) this.ctx?.checkTrunkServer(g);
    });
    const bootstrap = new Bootstrap({
      store, log: this.log.child('bootstrap'), dial, startTime: this.startTime, lastCheckTime, now: this.now,
      hasGroups: () => this.cluster.groups.size > 0,
      ownStatus: () => runningStatusOf(false, this.now(), this.startTime, lastCheckTime),
      reload: () => this.reload(),
    });

    this.ctx = {
      config,
      cluster: this.cluster,
      store,
      ids,
      ips: effectiveResponseIpAddrSize(config, entries),
      log: this.log.child('handlers'),
      now: this.now,
      startTime: this.startTime,
      lastCheckTime,
      policy: {
        storeLookup: config.store_lookup,
        storeGroup: config.store_group,
        reserved: config.reserved_storage_space,
        useTrunk: config.use_trunk_file,
      },
      selfAddress: (conn) => this.selfAddress(conn),
      connectionStats,
      counters: { statBeats: 0, syncReports: 0 },
      checkTrunkServer: (group) => trunk.check(group),
      peers,
      election,
      bootstrap,
      copyLock: new CopyLock(),
    };

    const server = new PacketServer<TrackerContext>({
      name: 'tracker',
      handlers: trackerHandlers(() => trunk),
      state: this.ctx,
      networkTimeout: config.network_timeout,
      maxBodyLength: config.buff_size,
      closeOnEinval: false,
      maxConnections: config.max_connections,
      allowHost: await loadAllowHosts(config.allow_hosts),
      log: this.log.child('net'),
    });
    server.on('connection', () => {
      this.maxConnectionsSeen = Math.max(this.maxConnectionsSeen, server.connections.size);
    });
    server.on('connection-closed', (conn: Connection) => this.onConnectionClosed(conn));
    server.on('error', (err: Error) => this.log('error', `listener: ${err.message}`));
    this.server = server;

    const httpPort = httpPortOf(this.opts.httpPort, config['http.server_port']);
    if (httpPort !== null) {
      const { RequestMetrics } = await import('../metrics/request-metrics.ts');
      const { registerTrackerMetrics } = await import('../metrics/tracker-metrics.ts');
      this.metrics = new RequestMetrics('tracker');
      this.metrics.watchProtocol(server);
      registerTrackerMetrics(this.metrics.registry, { cluster: this.cluster, electionState: () => this.electionState() });
    }
    const info = await server.listen(this.opts.port ?? config.port, this.listenIp);
    this.listenIp = normalizeIp(info.address);
    this.listenPort = info.port;
    if (httpPort !== null && this.metrics) {
      const log = this.log.child('http');
      const { createDaemonHttp } = await import('../http/daemon-http.ts');
      this.http = createDaemonHttp({ role: 'tracker', metrics: this.metrics, health: () => this.health(), log, timeoutSec: config.network_timeout });
      await this.http.listen(httpPort, bind || undefined);
      log('info', `HTTP (/metrics, /healthz) on ${formatAddress(this.listenIp, this.http.listenPort)}`);
    }

    election.start();
    if (this.opts.timers ?? true) {
      this.timers.push(setInterval(() => this.checkAlive(), config.check_active_interval * 1000));
      this.timers.push(setInterval(() => void store.writeStatusFile(this.startTime, this.now()), STATUS_FILE_PERIOD_S * 1000));
      for (const t of this.timers) t.unref();
    }
    this.log('info', `listening on ${formatAddress(this.listenIp, this.listenPort)}, ${this.cluster.groups.size} group(s) known`);
    return { host: this.listenIp, port: this.listenPort };
  }

  private ids: StorageIdIndex | null = null;

  /** Files 0–2 (§8.8) into the cluster picture, which must be empty; changelog size. */
  private async loadState(): Promise<void> {
    const store = this.store!;
    const ids = this.ids;
    await store.init();
    await store.load({
      storeServer: this.config.store_server,
      idOf: idForIp,
      ipsOf: (id, ip) => ids?.get(id)?.hosts.slice() ?? [ip],
    });
    for (const g of this.cluster.groups.values()) {
      if (ids) for (const s of g.members) s.rwMode = rwModeOf(ids.get(s.id)?.rw ?? 'both');
      // §8.8: a saved trunk_server counts only if that member is writable, and nobody is before
      // the storages report again; it is chosen anew (and pushed, §4.8) once one is ACTIVE.
      g.trunkServerId = '';
    }
  }

  /** §8.7: after a bootstrap copy, all state comes from the copied files; .tracker_status is rewritten. */
  private async reload(): Promise<void> {
    this.cluster.groups.clear();
    this.cluster.currentWriteGroup = 0;
    await this.loadState();
    await this.store!.writeStatusFile(this.startTime, this.now());
    this.log('info', `state reloaded from the copied files: ${this.cluster.groups.size} group(s)`);
  }

  /** A follower learns the trunk servers from the leader's 65 reply (§8.6). */
  private applyTrunkServers(list: readonly TrunkServerOfGroup[]): void {
    let changed = false;
    for (const { group, trunkServerId } of list) {
      const g = this.cluster.getGroup(group);
      if (!g || g.trunkServerId === trunkServerId) continue;
      g.trunkServerId = trunkServerId;
      if (trunkServerId) g.lastTrunkServerId = trunkServerId;
      g.trunkChangeCount++;
      changed = true;
    }
    if (changed) void this.store?.save('groups');
  }

  /** Whether this tracker is the leader of its cluster (§8.6). */
  get isLeader(): boolean {
    return this.election?.isLeader ?? false;
  }

  /**
   * §8.5 liveness: ACTIVE storages without a heartbeat for longer than check_active_interval go
   * OFFLINE; with trunk files, groups get (or replace) their trunk server (§11.5). Runs every
   * check_active_interval seconds; public so tests can drive it with an injected clock.
   */
  checkAlive(): StorageRecord[] {
    if (!this.ctx) return [];
    const gone = this.cluster.checkAlive(this.now(), this.config.check_active_interval);
    if (this.config.use_trunk_file) for (const g of this.cluster.groups.keys()) this.ctx.checkTrunkServer(g);
    return gone;
  }

  /** HTTP port actually listened on (0: none). */
  get httpPort(): number { return this.http?.listenPort ?? 0; }

  /** §8.6 as far as this tracker knows it: leader, follower, or electing (no leader known yet). */
  electionState(): 'leader' | 'follower' | 'electing' {
    const e = this.election;
    if (!e) return 'electing';
    return e.isLeader ? 'leader' : e.leader ? 'follower' : 'electing';
  }

  /** /healthz: 200 while serving; 503 before start and while stopping. */
  health(): Health {
    if (!this.ctx || this.stopped) return { ok: false, reason: this.stopped ? 'stopping' : 'not started' };
    return { ok: true, reason: `ok: ${this.electionState()}, ${this.cluster.groups.size} group(s)` };
  }

  /** Stop listening, finish requests in flight, save every data file. Safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await this.election?.stop();
    await this.server?.close();
    await this.http?.close();
    this.metrics?.close();
    if (this.store) {
      await this.store.saveAll();
      await this.store.drain();
      await this.store.writeStatusFile(this.startTime, this.now());
    }
    this.log('info', 'stopped');
  }

  /** §8.5: the report connection of a joined storage closed (not an older one it replaced). */
  private onConnectionClosed(conn: Connection): void {
    const s = connData(conn).storage;
    if (s && s.connection === conn) this.cluster.disconnect(s);
    this.ctx?.copyLock.release(conn);
  }

  /** Our address as `conn`'s peer dialled it: the bind address, else the socket's local address. */
  private selfAddress(conn: Connection): { ip: string; port: number } {
    const ip = isIP(this.listenIp) && this.listenIp !== '0.0.0.0' && this.listenIp !== '::' ? this.listenIp : conn.localIp;
    return { ip, port: this.listenPort };
  }
}
