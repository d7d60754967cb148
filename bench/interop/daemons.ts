import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { startDaemon, type Daemon } from '../../lib/util/daemon-process.ts';
import { freePort, writeConf } from '../../test/helpers/cluster.ts';

export { freePort };

// Tracker and storage daemons of either kind, FastDFS 6.x (C, from PATH) or fdfs, for the interop
// runs (bench/interop.ts). Each daemon has a fixed loopback address, a base path and a conf file
// that stay when it is stopped, so a run can restart it, or replace it by the other kind on the
// same address and data, as an operator migrating a cluster would.

export type Kind = 'c' | 'fdfs';

/** Whether the C daemons are installed (PATH). */
export function haveC(): boolean {
  const r = spawnSync('sh', ['-c', 'command -v fdfs_trackerd && command -v fdfs_storaged'], { encoding: 'utf8' });
  return r.status === 0;
}

async function waitListening(host: string, port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`daemon for ${host}:${port} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

export interface Node {
  readonly role: 'tracker' | 'storage';
  kind: Kind;
  readonly ip: string;
  readonly port: number;
  readonly base: string;
  running: boolean;
  /** ms since epoch of the last start. */
  startedAt: number;
  start(kind?: Kind): Promise<void>;
  stop(): Promise<void>;
}

export interface TrackerSpec {
  dir: string;
  ip: string;
  port: number;
  kind: Kind;
  /** Other trackers (host:port), for a tracker pair. */
  peers?: string[];
}

export interface StorageSpec {
  dir: string;
  ip: string;
  port: number;
  kind: Kind;
  group: string;
  trackers: string[];
  name: string;
}

/** Settings shared by both kinds, so that state changes show within a second or two. */
const FAST = { heart_beat_interval: 1, stat_report_interval: 1, sync_wait_msec: 10, sync_binlog_buff_interval: 1, sync_stat_file_interval: 1 };

abstract class BaseNode implements Node {
  abstract readonly role: 'tracker' | 'storage';
  running = false;
  startedAt = 0;
  private child: ChildProcess | null = null;
  private daemon: Daemon | null = null;

  constructor(public kind: Kind, readonly ip: string, readonly port: number, readonly base: string, protected readonly dir: string, protected readonly name: string) {
    fs.mkdirSync(base, { recursive: true });
  }

  protected abstract writeConfs(): { c: string; fdfs: string };

  /** The daemon's process id while it runs (for CPU and RSS readings from /proc). */
  get pid(): number | undefined {
    return this.running ? (this.child?.pid ?? this.daemon?.child.pid) : undefined;
  }

  async start(kind: Kind = this.kind): Promise<void> {
    if (this.running) throw new Error(`${this.name} is running`);
    this.kind = kind;
    const confs = this.writeConfs();
    this.startedAt = Date.now();
    if (kind === 'c') {
      const bin = this.role === 'tracker' ? 'fdfs_trackerd' : 'fdfs_storaged';
      this.child = spawn(bin, [confs.c, 'start', '-N'], { stdio: ['ignore', 'ignore', 'pipe'] });
      this.child.stderr?.on('data', () => {});
      await waitListening(this.ip, this.port, 30_000, this.child);
    } else {
      this.daemon = await startDaemon({
        label: this.name, args: [this.role, 'start', '-c', confs.fdfs],
        stderr: (line) => { if (process.env.INTEROP_VERBOSE) process.stderr.write(`[${this.name}] ${line}\n`); },
        env: { FDFS_LOG_LEVEL: process.env.INTEROP_VERBOSE ? 'debug' : 'info' },
      });
    }
    this.running = true;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.daemon) {
      await this.daemon.stop(20_000);
      this.daemon = null;
    }
    const child = this.child;
    if (child) {
      this.child = null;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(t);
      }
    }
  }
}

export class TrackerNode extends BaseNode {
  readonly role = 'tracker' as const;
  constructor(private readonly spec: TrackerSpec) {
    super(spec.kind, spec.ip, spec.port, path.join(spec.dir, `tracker-${spec.ip}`), spec.dir, `tracker ${spec.ip}`);
  }

  get address(): string { return `${this.ip}:${this.port}`; }

  protected writeConfs(): { c: string; fdfs: string } {
    const common = {
      bind_addr: this.ip, port: this.port, base_path: this.base, reserved_storage_space: '1%',
      check_active_interval: 5, store_lookup: 0, store_server: 0, download_server: 0, store_slave_file_use_link: true,
    };
    const c = path.join(this.dir, `tracker-${this.ip}.c.conf`);
    writeConf(c, { ...common, log_level: 'info', storage_sync_file_max_delay: 86400, storage_sync_file_max_time: 300 });
    const f = path.join(this.dir, `tracker-${this.ip}.conf`);
    writeConf(f, { ...common });
    return { c, fdfs: f };
  }
}

export class StorageNode extends BaseNode {
  readonly role = 'storage' as const;
  constructor(private readonly spec: StorageSpec) {
    super(spec.kind, spec.ip, spec.port, path.join(spec.dir, spec.name), spec.dir, spec.name);
  }

  protected writeConfs(): { c: string; fdfs: string } {
    // Same base path and store path for both kinds: a replacement reads what the other wrote (§7).
    const common = {
      group_name: this.spec.group, bind_addr: this.ip, client_bind: true, port: this.port,
      base_path: this.base, store_path_count: 1, store_path0: this.base, subdir_count_per_path: 16,
      tracker_server: this.spec.trackers, ...FAST,
    };
    const c = path.join(this.dir, `${this.name}.c.conf`);
    writeConf(c, { ...common, log_level: 'info', thread_stack_size: '512KB', work_threads: 2, disk_writer_threads: 1, disk_reader_threads: 1, buff_size: '256KB' });
    const f = path.join(this.dir, `${this.name}.conf`);
    writeConf(f, { ...common });
    return { c, fdfs: f };
  }
}
