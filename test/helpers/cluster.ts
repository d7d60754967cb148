import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { startDaemon, fdfsCommand, type Daemon } from '../../lib/util/daemon-process.ts';

// Real tracker and storage processes for integration tests: loopback only, ports chosen at
// run time, temporary data folders, everything stopped by stop().

export function tempDir(prefix = 'fdfs-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A port free on every given address (both storages of a group share one port). */
export async function freePort(hosts: string[] = ['127.0.0.1']): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, hosts[0], () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    });
    let ok = true;
    for (const h of hosts.slice(1)) {
      ok = await new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, h, () => s.close(() => resolve(true)));
      });
      if (!ok) break;
    }
    if (ok) return port;
  }
  throw new Error('no free port found');
}

export function writeConf(file: string, entries: Record<string, string | number | boolean | Array<string | number>>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(entries)) {
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k} = ${one}`);
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export interface ClusterOptions {
  storages?: number;
  group?: string;
  tracker?: Record<string, string | number | boolean>;
  storage?: Record<string, string | number | boolean | Array<string | number>>;
  /** Per-storage extra conf entries, by index. */
  storageEach?: (i: number) => Record<string, string | number | boolean | Array<string | number>>;
  onLog?: (label: string, line: string) => void;
  /** Run the daemons with another runtime (the Deno test). */
  command?: { command: string; args: string[] };
  /** How many of the storages to start now (default all); the others wait for startStorage(i). */
  start?: number;
}

export interface Cluster {
  dir: string;
  tracker: Daemon;
  trackerAddr: string;
  storages: Daemon[];
  storageConfs: string[];
  storagePort: number;
  group: string;
  startStorage(i: number): Promise<Daemon>;
  stop(): Promise<void>;
}

export const STORAGE_IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const dir = tempDir('fdfs-cluster-');
  const group = opts.group ?? 'group1';
  const n = opts.storages ?? 1;
  // The last lines of each daemon, printed when one dies on its own: a crash explains itself.
  const recent = new Map<string, string[]>();
  const log = (label: string) => (line: string) => {
    const lines = recent.get(label) ?? [];
    lines.push(line);
    if (lines.length > 40) lines.shift();
    recent.set(label, lines);
    if (opts.onLog) opts.onLog(label, line);
    else if (process.env.FDFS_TEST_VERBOSE) process.stderr.write(`[${label}] ${line}\n`);
  };
  let stopping = false;
  const watch = (d: Daemon) => {
    d.child.once('exit', (code, signal) => {
      // A stop (SIGTERM ⇒ 0) or a test's kill -9 is expected; an error exit or another signal is not.
      const crashed = (code !== null && code !== 0) || (signal !== null && signal !== 'SIGKILL' && signal !== 'SIGTERM');
      if (crashed && !stopping) {
        process.stderr.write(`${d.label} exited (code ${code}, signal ${signal}) on its own; its last lines:\n` +
          `${(recent.get(d.label) ?? []).map((l) => `  [${d.label}] ${l}`).join('\n')}\n`);
      }
    });
  };
  const trackerBase = path.join(dir, 'tracker');
  fs.mkdirSync(trackerBase, { recursive: true });
  const trackerConf = writeConf(path.join(dir, 'tracker.conf'), {
    bind_addr: '127.0.0.1', port: 0, base_path: trackerBase, reserved_storage_space: '1%',
    ...opts.tracker,
  });
  const tracker = await startDaemon({ label: 'tracker', args: ['tracker', 'start', '-c', trackerConf], stderr: log('tracker'), command: opts.command });
  const trackerAddr = `127.0.0.1:${tracker.port}`;
  const storageIps = STORAGE_IPS.slice(0, n);
  const storagePort = await freePort(storageIps);
  const storageConfs: string[] = [];
  for (let i = 0; i < n; i++) {
    const base = path.join(dir, `storage${i + 1}`);
    fs.mkdirSync(base, { recursive: true });
    storageConfs.push(writeConf(path.join(dir, `storage${i + 1}.conf`), {
      group_name: group, bind_addr: storageIps[i]!, port: storagePort, base_path: base,
      store_path0: base, tracker_server: trackerAddr, heart_beat_interval: 2, stat_report_interval: 5,
      subdir_count_per_path: 16, sync_binlog_buff_interval: 1,
      ...opts.storage, ...opts.storageEach?.(i),
    }));
  }
  const storages: Daemon[] = [];
  const startStorage = async (i: number) => {
    const d = await startDaemon({ label: `storage${i + 1}`, args: ['storage', 'start', '-c', storageConfs[i]!], stderr: log(`storage${i + 1}`), command: opts.command });
    storages[i] = d;
    watch(d);
    return d;
  };
  const cluster: Cluster = {
    dir, tracker, trackerAddr, storages, storageConfs, storagePort, group, startStorage,
    stop: async () => {
      stopping = true;
      await Promise.all(storages.filter(Boolean).map((s) => s.stop()));
      await tracker.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < (opts.start ?? n); i++) await startStorage(i);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Run `fdfs ARGS…` as a user would; stdin optional. */
export function runCli(args: string[], opts: { input?: Buffer | string; env?: NodeJS.ProcessEnv; timeoutMs?: number; command?: { command: string; args: string[] } } = {}): Promise<CliResult> {
  const cmd = opts.command ?? fdfsCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, [...cmd.args, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`fdfs ${args.join(' ')} timed out`)); }, opts.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(opts.input ?? undefined);
  });
}

/** Poll fn until it returns a truthy value, at most timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 15000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { lastErr = e; }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}
