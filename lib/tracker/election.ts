import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { ClientConnection } from '../net/client-connection.ts';
import { CMD, FDFS_VERSION } from '../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import {
  decodeTrackerStatus, decodeTrunkServers, encodeJoinLeader, encodePingLeader, type ConnectionCounters,
  type TrackerRunningStatus, type TrunkServerOfGroup,
} from '../protocol/tracker-peer.ts';
import { byteOrder } from './cluster.ts';
import type { Logger } from '../util/log.ts';
import { dialPeer, type PeerDial, type TrackerPeer, type TrackerPeers } from './peers.ts';

/**
 * Leader election among the trackers (PROTOCOL.md §8.6, C tracker_relationship.c). One loop per
 * tracker: without a leader it runs an election round; as a follower it pings the leader every
 * second (58 once per connection, then 65); three failed pings in a row forget the leader and the
 * next round elects anew. The handlers of 66/67/68 (handlers/leader.ts) call in here.
 *
 * Events: `'leader'` (peer | null, self: boolean) whenever the leader we know changes.
 */
export interface ElectionHost {
  peers: TrackerPeers;
  log: Logger;
  dial: PeerDial;
  /** Our 64 answer (is_leader filled in by the election). */
  ownStatus(): Omit<TrackerRunningStatus, 'isLeader'>;
  /** Our own connection counters (65). */
  connectionStats(): ConnectionCounters;
  /** Our start time (58 up_time). */
  startTime: number;
  /** A follower learnt the trunk servers from the leader's 65 reply. */
  onTrunkServers(list: TrunkServerOfGroup[]): void;
}

export interface ElectionOptions {
  /** Pause between pings and after a successful round, ms (default 1000, §8.6 "every second"). */
  tickMs?: number;
  /** After a failed round the pause is random in [1, maxRetryS] seconds (default 10, as C). */
  maxRetryS?: number;
}

/** Consecutive failed pings before the leader is forgotten (§8.6). */
export const MAX_PING_FAILURES = 3;

interface Ranked {
  peer: TrackerPeer;
  status: TrackerRunningStatus;
}

/**
 * §8.6 step 2: ascending by (is_leader, running_time, descending restart_interval, ip, port);
 * the last entry wins. Exported for the bootstrap ranking and the unit tests.
 */
export function compareForElection(a: Ranked, b: Ranked): number {
  return (Number(a.status.isLeader) - Number(b.status.isLeader))
    || (a.status.runningTime - b.status.runningTime)
    || (b.status.restartInterval - a.status.restartInterval)
    || byteOrder(a.peer.hosts[0]!, b.peer.hosts[0]!)
    || (a.peer.port - b.peer.port);
}

export class Election extends EventEmitter<{ leader: [TrackerPeer | null, boolean] }> {
  /** The leader we know, null while none (95 answers ENOENT then). */
  leader: TrackerPeer | null = null;
  /** Whether we are the leader (64's first byte; only then do we push changes, §4.8). */
  isLeader = false;
  /** Bumped whenever leadership changes: every storage connection gets the leader brief once (§4.8). */
  changeCount = 1;
  private nextLeader: TrackerPeer | null = null;
  private pingConn: ClientConnection | null = null;
  private pingFailures = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  /** A kick that came while a round was running: the next pause is skipped. */
  private kicked = false;
  private readonly tickMs: number;
  private readonly maxRetryS: number;

  constructor(private readonly host: ElectionHost, opts: ElectionOptions = {}) {
    super();
    this.tickMs = opts.tickMs ?? 1000;
    this.maxRetryS = opts.maxRetryS ?? 10;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop the loop; a round waiting on an unreachable peer is not waited for longer than 1 s. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    this.pingConn?.destroy();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise<void>((r) => { timer = setTimeout(r, 1000); })]);
    clearTimeout(timer);
  }

  /** Run the next round now (the peer list grew, a leader stepped down). */
  kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.wake;
    this.wake = null;
    if (w) w();
    else this.kicked = true;
  }

  /**
   * A tracker that knows only itself is its own leader at once (the election of one), so a single
   * tracker pushes from the first beat on. Called when the peer list changed.
   */
  peersChanged(): void {
    const { list, self } = this.host.peers;
    if (!this.leader && self && list.length === 1) this.setLeader(self, true);
    else this.kick();
  }

  private sleep(ms: number): Promise<void> {
    if (this.kicked) {
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => { this.timer = null; this.wake = null; resolve(); }, ms);
      this.timer.unref?.();
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let pause = this.tickMs;
      try {
        if (this.host.peers.self) {
          if (!this.leader) {
            const ok = await this.selectLeader();
            if (!ok) pause = 1000 * (1 + Math.floor(Math.random() * this.maxRetryS));
          } else if (!this.isLeader) {
            await this.pingOnce();
          }
        }
      } catch (err) {
        this.host.log('error', `election: ${(err as Error).stack ?? err}`);
      }
      if (this.stopped) break;
      await this.sleep(pause);
    }
    this.pingConn?.destroy();
    this.pingConn = null;
  }

  // ---- election round (§8.6 steps 1–3)

  /** One round. True when a leader is known afterwards (or we wait for the winner's 66/67). */
  async selectLeader(): Promise<boolean> {
    const { peers, log } = this.host;
    const self = peers.self;
    if (!self) return false;
    log('info', 'selecting the tracker leader…');
    const ranked: Ranked[] = [];
    for (const peer of [...peers.list]) {
      if (peer === self) {
        ranked.push({ peer, status: { ...this.host.ownStatus(), isLeader: this.isLeader } });
        continue;
      }
      try {
        ranked.push({ peer, status: await this.askStatus(peer) });
      } catch (err) {
        // ENOENT = that tracker knows no group yet: not a candidate. Unreachable: not one either.
        log('debug', `GET_STATUS of tracker ${peer.line}: ${(err as Error).message}`);
      }
    }
    if (this.stopped || this.leader) return this.leader !== null;
    ranked.sort(compareForElection);
    const winner = ranked[ranked.length - 1]!;
    if (winner.peer === self) {
      try {
        await this.announce(self);
      } catch (err) {
        log('warn', `cannot become the tracker leader: ${toFdfsError(err).message}`);
        return false;
      }
      log('info', `I am the new tracker leader ${self.address}`);
      return true;
    }
    if (winner.status.isLeader) {
      this.setLeader(winner.peer, false);
      return true;
    }
    log('info', `waiting for the candidate tracker leader ${winner.peer.address} to announce itself`);
    return false;
  }

  private async askStatus(peer: TrackerPeer): Promise<TrackerRunningStatus> {
    const conn = await dialPeer(peer, this.host.dial);
    try {
      return decodeTrackerStatus(await conn.request(CMD.TRACKER_GET_STATUS, [], { maxResponse: 64 }));
    } finally {
      conn.close();
    }
  }

  /**
   * §8.6 step 3: 66 NOTIFY_NEXT_LEADER to all, then 67 COMMIT_NEXT_LEADER to all. A tracker we
   * cannot connect to is skipped; one that answers with an error stops the round.
   */
  private async announce(self: TrackerPeer): Promise<void> {
    const body = Buffer.from(self.address, 'latin1');
    for (const cmd of [CMD.TRACKER_NOTIFY_NEXT_LEADER, CMD.TRACKER_COMMIT_NEXT_LEADER]) {
      let ok = 0;
      for (const peer of [...this.host.peers.list]) {
        if (peer === self) {
          if (cmd === CMD.TRACKER_NOTIFY_NEXT_LEADER) this.nextLeader = self;
          else if (this.nextLeader !== self) throw new FdfsError('EBUSY', 'another leader was announced meanwhile');
          else this.setLeader(self, true);
          ok++;
          continue;
        }
        let conn: ClientConnection;
        try {
          conn = await dialPeer(peer, this.host.dial);
        } catch {
          continue;
        }
        try {
          const reply = await conn.request(cmd, body, { maxResponse: 64 });
          if (reply.length !== 0) throw new FdfsError('EINVAL', `${reply.length}-byte reply`, { subject: peer.line });
          ok++;
        } catch (err) {
          throw toFdfsError(err, peer.line);
        } finally {
          conn.close();
        }
      }
      if (ok === 0) throw new FdfsError('ENOENT', 'no tracker accepted the announcement');
    }
  }

  // ---- leader changes

  setLeader(peer: TrackerPeer, self: boolean): void {
    const changed = this.leader !== peer || this.isLeader !== self;
    this.leader = peer;
    this.nextLeader = null;
    if (this.isLeader !== self || self) this.changeCount++;
    this.isLeader = self;
    this.pingFailures = 0;
    if (!self) {
      this.pingConn?.destroy();
      this.pingConn = null;
    }
    if (changed) {
      if (!self) this.host.log('info', `the tracker leader is ${peer.address}`);
      this.emit('leader', peer, self);
    }
  }

  /** Forget the leader (and stop being it); the loop elects anew. */
  forget(why: string): void {
    const was = this.leader;
    if (this.isLeader) this.changeCount++;
    this.isLeader = false;
    this.leader = null;
    this.nextLeader = null;
    this.pingConn?.destroy();
    this.pingConn = null;
    this.pingFailures = 0;
    this.host.log('warn', `tracker leader ${was?.address ?? '-'} forgotten: ${why}`);
    this.emit('leader', null, false);
    this.kick();
  }

  /** 66 from the round's winner: remember it; a leader named away steps down (EINVAL). */
  onNotify(peer: TrackerPeer): void {
    if (this.isLeader && peer !== this.host.peers.self) {
      this.forget(`tracker ${peer.address} announces itself as leader: two leaders`);
      throw new FdfsError('EINVAL', `two leaders: ${peer.address} announced while I am the leader`);
    }
    this.nextLeader = peer;
  }

  /** 67: the announced winner commits. */
  onCommit(peer: TrackerPeer): void {
    if (peer !== this.nextLeader) throw new FdfsError('EINVAL', `cannot commit leader ${peer.address}: ${this.nextLeader?.address ?? 'none'} was announced`);
    this.setLeader(peer, peer === this.host.peers.self);
  }

  /** 68 from a storage that sees two leaders (§8.6): a leader steps down. */
  onReselect(from: string): void {
    if (!this.isLeader) throw new FdfsError('EOPNOTSUPP', 'not the leader');
    this.forget(`storage ${from} sees two leaders: re-selecting`);
  }

  // ---- follower: 58 + 65

  private async pingOnce(): Promise<void> {
    const leader = this.leader!;
    try {
      // A leader that stopped closes our connection: notice it now rather than at a timeout.
      if (this.pingConn && (!this.pingConn.usable || this.pingConn.socket.readableEnded || this.pingConn.socket.destroyed)) {
        this.pingConn.destroy();
        this.pingConn = null;
      }
      if (!this.pingConn) {
        const conn = await dialPeer(leader, this.host.dial);
        conn.socket.once('end', () => conn.destroy());
        this.pingConn = conn;
        await conn.request(CMD.TRACKER_JOIN_LEADER, encodeJoinLeader({
          upTime: this.host.startTime, version: FDFS_VERSION, serverPort: this.host.peers.self!.port,
        }), { maxResponse: 64 });
      }
      const reply = await this.pingConn.request(CMD.TRACKER_PING_LEADER, encodePingLeader(this.host.connectionStats()),
        { maxResponse: 256 * 1024 });
      this.pingFailures = 0;
      if (reply.length > 0) this.host.onTrunkServers(decodeTrunkServers(reply));
    } catch (err) {
      this.pingConn?.destroy();
      this.pingConn = null;
      if (this.leader !== leader) return;
      this.pingFailures++;
      this.host.log('error', `ping ${this.pingFailures} of tracker leader ${leader.address} failed: ${toFdfsError(err).message}`);
      if (this.pingFailures >= MAX_PING_FAILURES) this.forget(`${MAX_PING_FAILURES} pings failed`);
    }
  }
}
