import { EventEmitter } from 'node:events';
import type { ClientConnection } from '../../net/client-connection.ts';
import { STORAGE_STATUS } from '../../protocol/codes.ts';
import { ERRNO, FdfsError } from '../../protocol/errno.ts';
import { STORAGE_BRIEF_LEN } from '../../protocol/records.ts';
import type { SyncSource } from '../../protocol/storage-tracker.ts';
import { silentLogger, type Logger } from '../../util/log.ts';
import type { ReporterHost } from '../reporter-host.ts';
import { trackerLine, type TrackerDialOptions, type TrackerEndpoint } from '../tracker-session.ts';
import { SpaceWatch } from '../space-watch.ts';

// The state every part of the storage's tracker side shares (PROTOCOL.md §4): configuration,
// one TrackerLink per configured tracker, what the start-up lookups learnt, the leader, and the
// lifecycle. The jobs live beside it: startup.ts (109/60/75/69/70), link-loop.ts (one
// connection loop per tracker), join.ts (81, 87, 88), reports.ts (83, 84, 89, 77, 71) and
// leader-status.ts (change pushes, the leader, 59, 68). tracker-reporter.ts is the public face.

/** The storage.conf keys the reporter reads (a subset of the storage config; FastDFS names). */
export interface ReporterConfig {
  /** `tracker_server` entries, `host[,host2]:port` each. */
  tracker_servers: ReadonlyArray<{ hosts: readonly string[]; port: number }>;
  /** Seconds between beats (default 30). */
  heart_beat_interval: number;
  /** Seconds between disk usage reports (default 300). */
  stat_report_interval: number;
  /** Seconds per connect attempt (default 10). */
  connect_timeout?: number;
  /** Seconds without progress on a request (default 60). */
  network_timeout?: number;
}

export interface TrackerReporterOptions {
  /** Start-up rounds before bootstrap() gives up (default: Infinity — the CLI stops it on SIGTERM). */
  bootstrapAttempts?: number;
  /** Pause between start-up rounds and after a failed exchange, ms (default 1000). */
  retryDelayMs?: number;
  /** Pause after a failed connect or a refused JOIN, ms (default min(heart_beat_interval, 5) s). */
  connectRetryMs?: number;
  /** Period of the report loop, ms (default 1000, §4.4 "every second"). */
  tickMs?: number;
  /** reportNow() calls within this many ms make one early beat (default 100). */
  reportNowDebounceMs?: number;
  /** After stop(), how long a request in flight may finish before its socket is destroyed, ms (default 2000). */
  stopGraceMs?: number;
}

/** Optional members a host may have beyond ReporterHost (see the report: proposed additions). */
export interface ReporterHostExtras {
  /** Locally recorded sync source (.data_init_flag), sent with every 88 SYNC_NOTIFY. */
  readonly syncSource?: SyncSource | null;
  /** Group learnt with 109 when group_name is not configured. */
  onGroupName?(group: string): void;
}

export interface BootstrapResult {
  group: string;
  myIps: string[];
  params: Map<string, string>;
  useStorageId: boolean;
  serverId: string;
}

export interface TrackerLinkState {
  tracker: string;
  connected: boolean;
  joined: boolean;
  /** This storage's status as that tracker last reported it; -1 = unknown. */
  status: number;
}

/** Polls of 71 in the first seconds after a JOIN (one per tick), then one after each beat. */
export const ACTIVE_FAST_POLLS = 30;
/** reportNow() beats at most this often per tracker, however busy the storage is. */
export const MIN_EARLY_BEAT_GAP_MS = 1000;
/** Largest change-push we accept: flags + leader + trunk + members (C: 32 members; be generous). */
export const MAX_PUSH_LEN = 1 + 258 * STORAGE_BRIEF_LEN;
/** Errors that leave the connection at an unknown stream position. */
export const TRANSPORT_ERRNOS = new Set<number>([ERRNO.EPROTO, ERRNO.ENOTCONN, ERRNO.ECONNRESET, ERRNO.ETIMEDOUT, ERRNO.EPIPE]);
export const AVAILABLE = new Set<number>([STORAGE_STATUS.OFFLINE, STORAGE_STATUS.ONLINE, STORAGE_STATUS.ACTIVE]);

/** A pause that stop(), reportNow() and rejoin() can cut short. */
export class Sleeper {
  private timer: NodeJS.Timeout | null = null;
  private resolve: (() => void) | null = null;

  sleep(ms: number): Promise<void> {
    this.wake();
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.timer = setTimeout(() => this.wake(), ms);
    });
  }

  wake(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const r = this.resolve;
    this.resolve = null;
    r?.();
  }
}

/**
 * JOIN or the initial-sync step failed: retried after the longer connect pause. A member of the
 * FdfsError family with the errno and message of its reason.
 */
export class SetupError extends FdfsError {
  constructor(readonly reason: FdfsError) {
    super(reason.errno, reason.message.replace(/^[A-Z0-9_]+: /, ''), { cause: reason, retryable: true });
    this.name = 'SetupError';
  }
}

export class TrackerLink {
  readonly line: string;
  readonly sleeper = new Sleeper();
  /** Answer of 60 from this tracker. */
  myIps: string[] | null = null;
  preferredHost = 0;
  conn: ClientConnection | null = null;
  joined = false;
  /** undefined until this tracker answered a JOIN at all (C my_result == -1). */
  joinResult: number | undefined;
  /** Our status as this tracker sees it (JOIN reply / its member push); -1 = unknown. */
  trackerStatus = -1;
  /** The leader's view differs from this follower's: send 59 CHANGE_STATUS (§4.11). */
  reportMyStatus = false;
  forceBeat = false;
  needRejoin = false;
  loop: Promise<void> | null = null;

  constructor(readonly index: number, readonly endpoint: TrackerEndpoint) {
    this.line = trackerLine(endpoint);
  }
}

export class ReporterCore extends EventEmitter {
  readonly links: TrackerLink[];
  readonly opts: Required<TrackerReporterOptions>;
  readonly heartBeatMs: number;
  readonly statReportMs: number;
  readonly bootSleeper = new Sleeper();

  group: string;
  myIps: string[] = [];
  params: Map<string, string> | null = null;
  useStorageId = false;
  idsFetched = false;
  myId: string;
  ownStatusKnown = false;
  /** Sync source learnt by this reporter (87, or cleared after ENOENT); undefined = the host's record. */
  syncSrc: SyncSource | null | undefined;
  syncTimestamps = new Map<string, number>();
  syncChangeCount = 0;
  memberIds: string[] = [];
  leaderIndex = -1;
  leaderAddress: string | null = null;
  activeSeen = false;
  syncStepLock: Promise<void> = Promise.resolve();
  /** The start-up round in flight, so that stop() can wait for its short connections. */
  bootRound: Promise<void> | null = null;
  reportTimer: NodeJS.Timeout | null = null;
  started = false;
  stopping = false;
  stopPromise: Promise<void> | null = null;
  resolveStopped!: () => void;
  readonly stopped = new Promise<void>((r) => { this.resolveStopped = r; });
  readonly dial: TrackerDialOptions;
  idAnnounced = false;
  /** Issue 15 defect 7: a disk report at once when a store path crosses the reserve, either way. */
  readonly spaceWatch = new SpaceWatch({ diskUsage: () => this.host.diskUsage(), reserve: () => this.params?.get('reserved_storage_space'), onCross: () => { for (const l of this.links) l.sleeper.wake(); } });

  constructor(readonly host: ReporterHost, config: ReporterConfig, readonly log: Logger = silentLogger,
    options: TrackerReporterOptions = {}) {
    super();
    if (config.tracker_servers.length === 0) throw new FdfsError('EINVAL', 'no tracker_server configured');
    this.links = config.tracker_servers.map((t, i) => new TrackerLink(i, { hosts: [...t.hosts], port: t.port }));
    const hbi = config.heart_beat_interval > 0 ? config.heart_beat_interval : 30;
    this.heartBeatMs = hbi * 1000;
    this.statReportMs = (config.stat_report_interval > 0 ? config.stat_report_interval : 300) * 1000;
    this.opts = {
      bootstrapAttempts: options.bootstrapAttempts ?? Infinity,
      retryDelayMs: options.retryDelayMs ?? 1000,
      // Deviation: C waits heart_beat_interval after a failed connect; we cap it at 5 s so a
      // restarted tracker sees its storages again quickly.
      connectRetryMs: options.connectRetryMs ?? Math.min(hbi, 5) * 1000,
      tickMs: options.tickMs ?? 1000,
      reportNowDebounceMs: options.reportNowDebounceMs ?? 100,
      stopGraceMs: options.stopGraceMs ?? 2000,
    };
    this.dial = {
      connectTimeout: config.connect_timeout,
      networkTimeout: config.network_timeout && config.network_timeout > 0 ? config.network_timeout : 60,
      localAddress: host.bindAddr || undefined,
    };
    this.group = host.groupName;
    this.myId = host.serverId;
  }

  get extras(): ReporterHostExtras { return this.host as ReporterHost & ReporterHostExtras; }

  assertRunning(): void {
    if (this.stopping) throw this.stoppedError();
  }

  stoppedError(): FdfsError {
    return new FdfsError('ENOTCONN', 'tracker reporter stopped');
  }

  /** Host callbacks must not break the protocol loop: a throwing host is logged, not fatal. */
  notifyHost(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log('error', `storage host ${what} failed: ${(err as Error).stack ?? err}`);
    }
  }
}
