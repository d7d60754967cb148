import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { startDaemon, type Daemon } from '../../lib/util/daemon-process.ts';
import { freePort, writeConf } from '../../test/helpers/cluster.ts';
import { FaultProxy } from './proxy.ts';

// The chaos cluster as real processes: two trackers; group1 with three storages and group2 with
// two, each on its own loopback IP and with storage ids; storage 100002 reached through a fault
// proxy; optionally one store path on a small tmpfs that can be filled to its reserve.

export interface ChaosNode {
  label: string;
  kind: 'tracker' | 'storage';
  host: string;
  port: number;
  conf: string;
  base: string;
  /** Storages: the store path (apart from base_path, so a disk can be "replaced"). */
  storePath: string;
  group: string;
  id: string;
  daemon: Daemon | null;
  /** SIGSTOPped right now. */
  stopped: boolean;
}

export interface TopologyOptions {
  dir: string;
  /** Heartbeat timeout the trackers apply (check_active_interval, s). */
  checkActive: number;
  /** Try a tmpfs for one store path (root on Linux only). */
  wantDiskFull: boolean;
  /** 1 or 2 trackers. */
  trackers: number;
  log: (label: string, line: string) => void;
}

const TRACKER_IPS = ['127.0.0.11', '127.0.0.12'];
const STORAGES = [
  { id: '100001', group: 'group1', ip: '127.0.0.21' },
  { id: '100002', group: 'group1', ip: '127.0.0.22' },
  { id: '100003', group: 'group1', ip: '127.0.0.23' },
  { id: '100004', group: 'group2', ip: '127.0.0.24' },
  { id: '100005', group: 'group2', ip: '127.0.0.25' },
];
const PROXY_IP = '127.0.0.31';
/**
 * How storage_ids.conf spells the proxy: not a dotted quad for the id-file checks (so the pair is
 * taken like a host name, as FastDFS takes names), of the "outer" type like every loopback
 * requester (so the trackers hand it to peers and clients, §0), and 127.0.0.31 for the resolver.
 * A real proxy would sit on an inner/outer address pair; loopback has only outer ones.
 */
const PROXY_ALIAS = '127.00.0.31';
/** Per-path reserve; the tmpfs store path is filled down to it. */
export const RESERVE_MB = 64;
const TMPFS_MB = 1024;

export class ChaosCluster {
  readonly trackers: ChaosNode[] = [];
  readonly storages: ChaosNode[] = [];
  proxy!: FaultProxy;
  /** The storage behind the proxy, and the peer whose link to it the proxy faults. */
  proxied!: ChaosNode;
  proxyPeer!: ChaosNode;
  /** Storage whose store path is a tmpfs (disk-full fault), or null. */
  fullDiskNode: ChaosNode | null = null;
  private mounted: string | null = null;

  private constructor(readonly opts: TopologyOptions) {}

  static async start(opts: TopologyOptions): Promise<ChaosCluster> {
    const c = new ChaosCluster(opts);
    try {
      await c.setup();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async setup(): Promise<void> {
    const { dir } = this.opts;
    const idsFile = path.join(dir, 'storage_ids.conf');
    const storagePort = await freePort([...STORAGES.map((s) => s.ip), PROXY_IP]);
    // Entries carry the port: an entry without one stands for the default port 23000.
    fs.writeFileSync(idsFile, STORAGES.map((s) => `${s.id} ${s.group} ${s.ip}${s.id === '100002' ? `,${PROXY_ALIAS}` : ''}:${storagePort}`).join('\n') + '\n');
    const trackerIps = TRACKER_IPS.slice(0, Math.max(1, Math.min(TRACKER_IPS.length, this.opts.trackers)));
    const trackerPorts = await Promise.all(trackerIps.map((ip) => freePort([ip])));
    for (let i = 0; i < trackerIps.length; i++) {
      const base = path.join(dir, `tracker${i + 1}`);
      fs.mkdirSync(base, { recursive: true });
      const conf = writeConf(path.join(dir, `tracker${i + 1}.conf`), {
        bind_addr: trackerIps[i]!, port: trackerPorts[i]!, base_path: base,
        reserved_storage_space: `${RESERVE_MB}MB`, check_active_interval: this.opts.checkActive,
        use_storage_id: true, storage_ids_filename: idsFile, id_type_in_filename: 'id',
        network_timeout: 10, connect_timeout: 3,
      });
      this.trackers.push({ label: `tracker${i + 1}`, kind: 'tracker', host: trackerIps[i]!, port: trackerPorts[i]!, conf, base, storePath: '', group: '', id: '', daemon: null, stopped: false });
    }
    const trackerServers = this.trackers.map((t) => `${t.host}:${t.port}`);
    for (const [i, s] of STORAGES.entries()) {
      const base = path.join(dir, `storage${i + 1}`);
      const storePath = path.join(dir, `store${i + 1}`);
      fs.mkdirSync(base, { recursive: true });
      fs.mkdirSync(storePath, { recursive: true });
      const conf = writeConf(path.join(dir, `storage${i + 1}.conf`), {
        group_name: s.group, bind_addr: s.ip, port: storagePort, base_path: base, store_path0: storePath,
        tracker_server: trackerServers, heart_beat_interval: 2, stat_report_interval: 3,
        subdir_count_per_path: 16, sync_binlog_buff_interval: 1, network_timeout: 10, connect_timeout: 3,
      });
      this.storages.push({ label: `storage${i + 1}(${s.id})`, kind: 'storage', host: s.ip, port: storagePort, conf, base, storePath, group: s.group, id: s.id, daemon: null, stopped: false });
    }
    this.proxied = this.storages[1]!;
    this.proxyPeer = this.storages[0]!;
    this.proxy = new FaultProxy({ host: PROXY_IP, port: storagePort }, { host: this.proxied.host, port: storagePort });
    await this.proxy.start();
    if (this.opts.wantDiskFull) this.tryTmpfs(this.storages[2]!);
    for (const t of this.trackers) await this.startNode(t);
    for (const s of this.storages) await this.startNode(s);
  }

  /** A tmpfs under the store path of `node`, when this process may mount one. */
  private tryTmpfs(node: ChaosNode): void {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) return;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m`, 'tmpfs', node.storePath], { stdio: 'ignore' });
      this.mounted = node.storePath;
      this.fullDiskNode = node;
    } catch { /* no mount permission: the disk-full fault is left out */ }
  }

  async startNode(n: ChaosNode, timeoutMs = 180_000): Promise<void> {
    n.daemon = await startDaemon({
      label: n.label,
      args: [n.kind, 'start', '-c', n.conf],
      stderr: (line) => this.opts.log(n.label, line),
      timeoutMs,
    });
    n.stopped = false;
  }

  async kill9(n: ChaosNode): Promise<void> {
    if (n.stopped) this.cont(n);
    await n.daemon?.kill9();
    n.daemon = null;
  }

  stop9(n: ChaosNode): void {
    n.daemon?.child.kill('SIGSTOP');
    n.stopped = true;
  }

  cont(n: ChaosNode): void {
    n.daemon?.child.kill('SIGCONT');
    n.stopped = false;
  }

  /** Every storage, by group. */
  group(name: string): ChaosNode[] {
    return this.storages.filter((s) => s.group === name);
  }

  get trackerAddrs(): string[] {
    return this.trackers.map((t) => `${t.host}:${t.port}`);
  }

  async stop(): Promise<void> {
    const all = [...this.storages, ...this.trackers];
    for (const n of all) if (n.stopped) this.cont(n);
    await Promise.all(all.map((n) => n.daemon?.stop(15_000)));
    await this.proxy?.stop();
    if (this.mounted) {
      try { execFileSync('umount', ['-l', this.mounted], { stdio: 'ignore' }); } catch { /* gone */ }
      this.mounted = null;
    }
  }
}
