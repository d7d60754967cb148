import path from 'node:path';
import { STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import type { StorageBrief } from '../../protocol/records.ts';
import type { PeerSyncStatus } from '../../protocol/sync-status.ts';
import type { Logger } from '../../util/log.ts';
import { effectiveSyncMaxThreads } from '../../config/storage-config.ts';
import type { StorageContext } from '../context.ts';
import type { TrackerDialOptions, TrackerEndpoint } from '../tracker-session.ts';
import { markFileName, renameMarkAside } from './mark-file.ts';
import { PeerSync, type SyncEnv, type SyncPeer } from './peer-sync.ts';
import type { SyncReceiver } from './receiver.ts';
import { askSyncSource, reportPeerStatus } from './tracker-calls.ts';

// Replication inside a group (PROTOCOL.md §5): one PeerSync per other member, started, updated
// and stopped from the member lists the tracker leader pushes (§4.8), plus the glue to the
// reporter: sync progress for 89 (§4.7) and quick heartbeats while members change state (§8.5).

/** The storage.conf keys replication reads (FastDFS names). */
export interface SyncConfig {
  heart_beat_interval: number;
  sync_wait_msec: number;
  sync_interval: number;
  write_mark_file_freq: number;
  file_sync_skip_invalid_record: boolean;
  connect_timeout: number;
  network_timeout: number;
  sync_start_time: { hour: number; minute: number };
  sync_end_time: { hour: number; minute: number };
  sync_max_threads: number | 'auto';
  sync_min_threads: number;
  store_path_count: number;
  /** fdfs key: requests in flight per connection to a peer that announced pipelining (C peers: 1). */
  sync_pipeline_window?: number;
}

/** The parts of the tracker reporter replication talks to (tracker-reporter.ts). */
export interface SyncReporter {
  setSyncTimestamps?(map: ReadonlyMap<string, number>): void;
  reportNow?(): void;
  on?(event: 'changelog', listener: (text: string, tracker: string) => void): unknown;
  off?(event: 'changelog', listener: (text: string, tracker: string) => void): unknown;
}

export interface SyncManagerOptions {
  ctx: StorageContext;
  receiver: SyncReceiver;
  config: SyncConfig;
  log: Logger;
  /** `<base_path>/data/sync`. */
  syncDir: string;
  ownId(): string;
  ownPort(): number;
  useStorageId(): boolean;
  ownStatus(): number;
  localAddress?: string;
  trackers: readonly TrackerEndpoint[];
  dial: TrackerDialOptions;
  reporter?: SyncReporter | null;
  /** Pipelined requests per connection to an fdfs peer (default: sync_pipeline_window, else 64). */
  window?: number;
  /** Connections per peer (default: sync_max_threads as 6.16 uses it). */
  lanes?: number;
}

/** Statuses during which the members involved beat every second, so the trackers follow quickly. */
const SETTLING = new Set<number>([ST.WAIT_SYNC, ST.SYNCING, ST.ONLINE, ST.OFFLINE]);
/** How long after an old-data copy ends the source keeps beating fast (it waits for the ACTIVE push). */
const AFTER_COPY_MS = 20_000;

function minutes(t: { hour: number; minute: number }): number {
  return t.hour * 60 + t.minute;
}

/**
 * §5.10 sync window. Deviation: computed plainly on the local clock ([S, E], wrapping midnight when
 * E < S) rather than from "today" as 6.16 does, so a daytime window does not reconnect every 5 s
 * before S.
 */
export function insideSyncWindow(now: Date, start: { hour: number; minute: number }, end: { hour: number; minute: number }): boolean {
  const s = minutes(start);
  const e = minutes(end);
  if (s === 0 && e === 23 * 60 + 59) return true;
  const m = now.getHours() * 60 + now.getMinutes();
  return s <= e ? m >= s && m <= e : m >= s || m <= e;
}

export class SyncManager {
  private readonly opts: SyncManagerOptions;
  private readonly log: Logger;
  private readonly env: SyncEnv;
  private readonly peers = new Map<string, PeerSync>();
  /** Ids whose deletion we already handled (mark renamed aside). */
  private readonly deleted = new Set<string>();
  private members: StorageBrief[] = [];
  private fastUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stopping = false;
  private readonly onAppend = () => { for (const p of this.peers.values()) p.wake(); };
  private readonly onReceived = (map: ReadonlyMap<string, number>) => { this.opts.reporter?.setSyncTimestamps?.(map); };
  private readonly onChangelog = (text: string) => { this.changelog(text); };
  /**
   * A new member's own sync reader introduces itself to us as soon as it joined, long before our
   * next heartbeat (30 s by default) would bring the member list naming it: beat now, so the
   * tracker's answer tells us to copy the old files to it.
   */
  private readonly onHello = (id: string) => {
    if (id === this.opts.ownId()) return;
    const m = this.members.find((x) => x.id === id);
    if (!m || m.status !== ST.ACTIVE) this.opts.reporter?.reportNow?.();
  };
  private pendingDeletes: Promise<void> = Promise.resolve();

  constructor(opts: SyncManagerOptions) {
    this.opts = opts;
    this.log = opts.log;
    const c = opts.config;
    this.env = {
      ctx: opts.ctx,
      syncDir: opts.syncDir,
      // Each peer's reader logs as `sync push`; the manager itself as `sync`.
      log: opts.log.child('push'),
      ownId: opts.ownId,
      ownPort: opts.ownPort,
      useStorageId: opts.useStorageId,
      localAddress: opts.localAddress || undefined,
      heartBeatMs: Math.max(1, c.heart_beat_interval > 0 ? c.heart_beat_interval : 30) * 1000,
      waitMs: c.sync_wait_msec > 0 ? c.sync_wait_msec : 100,
      intervalMs: Math.max(0, c.sync_interval),
      markFreq: Math.max(1, c.write_mark_file_freq),
      skipInvalid: c.file_sync_skip_invalid_record,
      connectTimeout: c.connect_timeout > 0 ? c.connect_timeout : 10,
      networkTimeout: c.network_timeout > 0 ? c.network_timeout : 60,
      window: Math.max(1, opts.window ?? c.sync_pipeline_window ?? 64),
      // Records of different files go out on up to sync_max_threads connections at once, as in
      // 6.16 (§5.10); on one connection a busy receiver would serve its clients first.
      lanes: Math.max(1, opts.lanes ?? effectiveSyncMaxThreads(c)),
      inWindow: (now) => insideSyncWindow(now, c.sync_start_time, c.sync_end_time),
      askSyncSource: (destId) => askSyncSource(opts.trackers, opts.dial, opts.ctx.groupName, destId),
      reportPeerStatus: (peer, status) => {
        this.log('info', `reporting ${peer.id} ${storageStatusName(status)} to the trackers`);
        return reportPeerStatus(opts.trackers, opts.dial, opts.ctx.groupName, peer, status);
      },
      onOldCopyDone: () => { this.fastUntil = Date.now() + AFTER_COPY_MS; this.opts.reporter?.reportNow?.(); },
    };
  }

  /** Readers per peer id (tests, monitoring). */
  get peerSyncs(): ReadonlyMap<string, PeerSync> { return this.peers; }

  /**
   * FDFS_SYNC_STATUS (lib/protocol/sync-status.ts): per peer, how much of our binlog it still
   * lacks and the timestamp of the last record pushed to it.
   */
  async status(): Promise<PeerSyncStatus[]> {
    const out: PeerSyncStatus[] = [];
    for (const p of [...this.peers.values()]) {
      const b = await p.behind().catch((err: Error) => {
        this.log('debug', `sync status of ${p.peer.id}: ${err.message}`);
        return { records: 0, bytes: 0 };
      });
      out.push({ peerId: p.peer.id, status: p.peer.status, recordsBehind: b.records, bytesBehind: b.bytes, lastPushedTimestamp: p.lastPushedTimestamp });
    }
    return out;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.ctx.binlog.on('append', this.onAppend);
    this.opts.ctx.binlog.on('rotate', this.onAppend);
    this.opts.receiver.on('change', this.onReceived);
    this.opts.receiver.on('hello', this.onHello);
    this.opts.reporter?.on?.('changelog', this.onChangelog);
    // Publish what we already know (from the file kept across restarts).
    this.onReceived(this.opts.receiver.timestamps());
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /** The member list of our group from a change-push (§4.8). */
  onMembers(members: readonly StorageBrief[]): void {
    if (this.stopping) return;
    this.members = [...members];
    const own = this.opts.ownId();
    const seen = new Set<string>();
    for (const m of members) {
      if (!m.id || m.id === own) continue;
      seen.add(m.id);
      if (m.status === ST.DELETED || m.status === ST.IP_CHANGED || m.status === ST.NONE) {
        this.peerGone(m);
        continue;
      }
      this.deleted.delete(m.id);
      const peer: SyncPeer = { id: m.id, ip: m.ip, port: m.port, status: m.status };
      const p = this.peers.get(m.id);
      if (p) {
        p.update(peer);
      } else {
        const ps = new PeerSync(this.env, peer);
        this.peers.set(m.id, ps);
        this.log('info', `sync reader for ${m.id} at ${m.ip}:${m.port} (${storageStatusName(m.status)}) started`);
        ps.start();
      }
    }
    for (const [id, p] of this.peers) {
      if (!seen.has(id)) {
        this.peers.delete(id);
        void p.stop();
      }
    }
    this.tick();
  }

  /** Our own status changed (leader's view). */
  onOwnStatus(status: number): void {
    if (SETTLING.has(status)) this.tick();
  }

  /**
   * A deleted peer (§2.7, §5.9): stop syncing to it, rename its mark aside (a storage re-joining
   * under that id gets a full copy) and forget what it sent us.
   */
  private peerGone(m: StorageBrief): void {
    const p = this.peers.get(m.id);
    if (p) {
      this.peers.delete(m.id);
      this.log('info', `peer ${m.id} is ${storageStatusName(m.status)}: sync to it stopped`);
    }
    if (m.status !== ST.DELETED || this.deleted.has(m.id)) {
      if (p) void p.stop();
      return;
    }
    this.deleted.add(m.id);
    this.opts.receiver.forget(m.id);
    const file = path.join(this.opts.syncDir, markFileName(m, this.opts.useStorageId(), this.opts.ownPort()));
    this.pendingDeletes = this.pendingDeletes.then(async () => {
      await p?.stop();
      const aside = await renameMarkAside(file).catch((err: Error) => {
        this.log('warn', `cannot rename ${file} aside: ${err.message}`);
        return null;
      });
      if (aside) this.log('info', `mark file of deleted peer ${m.id} renamed to ${aside}`);
    });
  }

  /**
   * §4.15: changelog lines `<ts> <group> <id> <status> <extra>`; DELETED lines of our group. The
   * member push usually told us first; the line can even arrive after the storage re-joined (the
   * tracker writes it with an fsync, after the push), and must not stop syncing to it then.
   */
  private changelog(text: string): void {
    for (const line of text.split('\n')) {
      const f = line.split(' ');
      if (f.length < 4 || f[1] !== this.opts.ctx.groupName) continue;
      if (Number(f[3]) !== ST.DELETED) continue;
      const id = f[2]!;
      if (id === this.opts.ownId() || this.deleted.has(id)) continue;
      const known = this.members.find((m) => m.id === id);
      if (known && known.status !== ST.DELETED) {
        this.log('debug', `changelog: ${id} was deleted, but it is a member again (${storageStatusName(known.status)})`);
        continue;
      }
      this.peerGone({ status: ST.DELETED, port: known?.port ?? 0, id, ip: known?.ip ?? id });
    }
  }

  /**
   * Once a second: while this storage or a peer is between states (§8.5: WAIT_SYNC → SYNCING →
   * OFFLINE → ACTIVE), ask the reporter for an early beat, so the member lists and the ACTIVE
   * transition follow within a second instead of one heart_beat_interval.
   */
  private tick(): void {
    if (this.stopping) return;
    const own = this.opts.ownStatus();
    const settling = (own !== ST.ACTIVE && SETTLING.has(own))
      || this.members.some((m) => m.id !== this.opts.ownId() && (m.status === ST.WAIT_SYNC || m.status === ST.SYNCING))
      || Date.now() < this.fastUntil;
    if (settling) this.opts.reporter?.reportNow?.();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.opts.ctx.binlog.off('append', this.onAppend);
    this.opts.ctx.binlog.off('rotate', this.onAppend);
    this.opts.receiver.off('change', this.onReceived);
    this.opts.receiver.off('hello', this.onHello);
    this.opts.reporter?.off?.('changelog', this.onChangelog);
    const all = [...this.peers.values()];
    this.peers.clear();
    await Promise.all(all.map((p) => p.stop()));
    await this.pendingDeletes;
  }
}

