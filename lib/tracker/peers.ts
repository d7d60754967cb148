import os from 'node:os';
import { isIP } from 'node:net';
import { ClientConnection } from '../net/client-connection.ts';
import { FdfsError } from '../protocol/errno.ts';
import { formatAddress, normalizeIp } from '../protocol/ip.ts';
import { formatHostPort, parseHostPort } from '../config/values.ts';
import type { Logger } from '../util/log.ts';

/**
 * One tracker of the cluster as this tracker knows it. Trackers have no list of each other in
 * their configuration: they learn it from the `tracker_server` lines storages send with JOIN
 * (PROTOCOL.md §4.3, §8.6; C tracker_mem_first_add_tracker_servers / _check_add_).
 */
export class TrackerPeer {
  readonly line: string;
  /** Figures a follower reports to the leader (58, 65) and 96 shows. */
  upTime = 0;
  version = '';
  lastHeartbeat = 0;
  connections = { alloc: 0, current: 0, max: 0 };
  /** Address that connected last time (index into hosts). */
  preferredHost = 0;

  constructor(readonly hosts: readonly string[], readonly port: number) {
    this.line = formatHostPort(hosts, port);
  }

  /** "ip:port" of the first address: how the C tracker names a tracker in 66/67 and change pushes. */
  get address(): string {
    return formatAddress(this.hosts[0]!, this.port);
  }

  has(ip: string, port: number): boolean {
    return port === this.port && this.hosts.includes(normalizeIp(ip));
  }
}

export interface PeerDial {
  connectTimeout: number;
  networkTimeout: number;
  /** Source address of outgoing connections (our bind address), so a leader finds us in its list by IP (58). */
  localAddress?: string;
}

/** Connect to a peer, trying its addresses (the one that worked last first). */
export async function dialPeer(peer: TrackerPeer, dial: PeerDial): Promise<ClientConnection> {
  const order = peer.hosts.map((_, i) => i);
  if (peer.preferredHost > 0) order.unshift(...order.splice(peer.preferredHost, 1));
  let last: unknown = new FdfsError('ENOTCONN', 'tracker without address', { subject: peer.line });
  for (const i of order) {
    try {
      const conn = await ClientConnection.connect(peer.hosts[i]!, peer.port, dial);
      peer.preferredHost = i;
      return conn;
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** Every IP of this host: interface addresses, and all of 127.0.0.0/8 (loopback answers to any of them). */
function isLocalIp(ip: string): boolean {
  if (ip.startsWith('127.') || ip === '::1') return true;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (normalizeIp(a.address) === ip) return true;
  }
  return false;
}

/**
 * The trackers of the cluster, ourselves included once a storage told us (JOIN lines). `self` is
 * the entry holding our listen port and an address of this host (the bind address when bound).
 */
export class TrackerPeers {
  readonly list: TrackerPeer[] = [];
  self: TrackerPeer | null = null;
  private warnedNotListed = false;

  constructor(private readonly listen: () => { ip: string; port: number }, private readonly log: Logger) {}

  find(ip: string, port: number): TrackerPeer | undefined {
    return this.list.find((p) => p.has(ip, port));
  }

  /** Parse "ip:port" (66/67 bodies) and find that tracker. */
  findAddress(text: string): TrackerPeer | undefined {
    try {
      const hp = parseHostPort(text, 0);
      return hp.hosts.length === 1 ? this.find(hp.hosts[0]!, hp.port) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `ip:port` is this tracker. */
  isMe(ip: string, port: number): boolean {
    const l = this.listen();
    if (port !== l.port) return false;
    const bound = isIP(l.ip) !== 0 && l.ip !== '0.0.0.0' && l.ip !== '::';
    return bound ? normalizeIp(ip) === l.ip : isLocalIp(normalizeIp(ip));
  }

  /**
   * Merge the tracker lines of a JOIN (§4.3). `dialled` is the address the storage reached us on
   * (current_tracker_ip), which names us when the host has several. Returns true when the list grew.
   *
   * Deviation: a C tracker refuses the JOIN (ENOENT, "my ip NOT in tracker server list") when it
   * cannot find itself in the lines; we accept the storage and stay a tracker on our own (a
   * storage that reached us clearly counts on us, e.g. through an address translation).
   */
  learn(lines: readonly string[], dialled: string): boolean {
    const parsed: TrackerPeer[] = [];
    for (const line of lines) {
      try {
        const hp = parseHostPort(line, 22122);
        parsed.push(new TrackerPeer(hp.hosts.map(normalizeIp), hp.port));
      } catch {
        this.log('warn', `ignoring tracker line "${line}" of a JOIN`);
      }
    }
    const me = parsed.find((p) => p.hosts.includes(normalizeIp(dialled)) && this.isMe(dialled, p.port))
      ?? parsed.find((p) => p.hosts.some((h) => this.isMe(h, p.port)));
    if (!me) {
      if (this.self) return false;
      if (!this.warnedNotListed) {
        this.warnedNotListed = true;
        this.log('warn', `this tracker is not among the tracker_server lines of a storage (${lines.join(' ')}): running on its own`);
      }
      const l = this.listen();
      const ip = isIP(l.ip) !== 0 && l.ip !== '0.0.0.0' && l.ip !== '::' ? l.ip : normalizeIp(dialled);
      this.self = new TrackerPeer([ip], l.port);
      this.list.push(this.self);
      return true;
    }
    let grew = false;
    for (const p of parsed) {
      const known = this.list.find((q) => q.port === p.port && q.hosts.some((h) => p.hosts.includes(h)));
      if (known) {
        if (p === me && !this.self) this.self = known;
        continue;
      }
      // Our own synthesized entry (we were alone) stays; a listed entry for us is the same tracker.
      if (p === me && this.self) continue;
      this.list.push(p);
      if (p === me) this.self = p;
      grew = true;
    }
    if (grew) this.log('info', `tracker cluster: ${this.list.map((p) => p === this.self ? `${p.line} (me)` : p.line).join(', ')}`);
    return grew;
  }
}
