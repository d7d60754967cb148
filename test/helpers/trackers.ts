import fs from 'node:fs';
import path from 'node:path';
import { ClientConnection } from '../../lib/net/client-connection.ts';
import { CMD } from '../../lib/protocol/codes.ts';
import { startDaemon, type Daemon } from '../../lib/util/daemon-process.ts';
import { STORAGE_IPS, freePort, tempDir, writeConf } from './cluster.ts';

// Several trackers (one cluster of equal peers, PROTOCOL.md §8.6) and storages reporting to all
// of them, as real processes on loopback. Trackers listen on 127.0.0.1 with ports fixed at start,
// so a killed tracker comes back on the same address.

type Conf = Record<string, string | number | boolean | Array<string | number>>;

export interface TrackerClusterOptions {
  trackers?: number;
  storages?: number;
  /** How many trackers to start now (default all); the rest wait for startTracker(i). */
  startTrackers?: number;
  tracker?: Conf;
  storage?: Conf;
  onLog?: (label: string, line: string) => void;
}

export interface TrackerCluster {
  dir: string;
  trackerAddrs: string[];
  trackers: Array<Daemon | null>;
  storages: Daemon[];
  startTracker(i: number, opts?: { emptyBase?: boolean }): Promise<Daemon>;
  stopTracker(i: number): Promise<void>;
  killTracker(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startTrackerCluster(opts: TrackerClusterOptions = {}): Promise<TrackerCluster> {
  const dir = tempDir('fdfs-trackers-');
  const nt = opts.trackers ?? 2;
  const ns = opts.storages ?? 2;
  const log = (label: string) => (line: string) => {
    if (opts.onLog) opts.onLog(label, line);
    else if (process.env.FDFS_TEST_VERBOSE) process.stderr.write(`[${label}] ${line}\n`);
  };
  const ports: number[] = [];
  while (ports.length < nt) {
    const p = await freePort(['127.0.0.1']);
    if (!ports.includes(p)) ports.push(p);
  }
  const trackerAddrs = ports.map((p) => `127.0.0.1:${p}`);
  const trackers: Array<Daemon | null> = ports.map(() => null);
  const confs = ports.map((port, i) => {
    const base = path.join(dir, `tracker${i + 1}`);
    return {
      base,
      file: path.join(dir, `tracker${i + 1}.conf`),
      entries: {
        bind_addr: '127.0.0.1', port, base_path: base, reserved_storage_space: '1%', connect_timeout: 2, network_timeout: 5,
        ...opts.tracker,
      } as Conf,
    };
  });
  const startTracker = async (i: number, o: { emptyBase?: boolean } = {}) => {
    const c = confs[i]!;
    if (o.emptyBase) fs.rmSync(c.base, { recursive: true, force: true });
    fs.mkdirSync(c.base, { recursive: true });
    writeConf(c.file, c.entries);
    const d = await startDaemon({ label: `tracker${i + 1}`, args: ['tracker', 'start', '-c', c.file], stderr: log(`tracker${i + 1}`) });
    trackers[i] = d;
    return d;
  };
  const storages: Daemon[] = [];
  const cluster: TrackerCluster = {
    dir, trackerAddrs, trackers, storages, startTracker,
    stopTracker: async (i) => { await trackers[i]?.stop(); trackers[i] = null; },
    killTracker: async (i) => { await trackers[i]?.kill9(); trackers[i] = null; },
    stop: async () => {
      await Promise.all(storages.map((s) => s.stop()));
      await Promise.all(trackers.map((t) => t?.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < (opts.startTrackers ?? nt); i++) await startTracker(i);
    const ips = STORAGE_IPS.slice(0, ns);
    const storagePort = await freePort(ips);
    for (let i = 0; i < ns; i++) {
      const base = path.join(dir, `storage${i + 1}`);
      fs.mkdirSync(base, { recursive: true });
      const conf = writeConf(path.join(dir, `storage${i + 1}.conf`), {
        group_name: 'group1', bind_addr: ips[i]!, port: storagePort, base_path: base, store_path0: base,
        tracker_server: trackerAddrs, heart_beat_interval: 1, stat_report_interval: 5, subdir_count_per_path: 16,
        sync_binlog_buff_interval: 1, connect_timeout: 2, network_timeout: 5,
        ...opts.storage,
      });
      storages.push(await startDaemon({ label: `storage${i + 1}`, args: ['storage', 'start', '-c', conf], stderr: log(`storage${i + 1}`) }));
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** 95 GET_LEADER of one tracker: "ip:port", or null (ENOENT, unreachable). */
export async function leaderSeenBy(addr: string): Promise<string | null> {
  const i = addr.lastIndexOf(':');
  let conn: ClientConnection | undefined;
  try {
    conn = await ClientConnection.connect(addr.slice(0, i), Number(addr.slice(i + 1)), { connectTimeout: 1, networkTimeout: 2 });
    return (await conn.request(CMD.SERVER_GET_LEADER)).toString('latin1');
  } catch {
    return null;
  } finally {
    conn?.close();
  }
}

/** What every running tracker of `addrs` names as leader (null entries for none / unreachable). */
export function leadersSeen(addrs: readonly string[]): Promise<Array<string | null>> {
  return Promise.all(addrs.map((a) => leaderSeenBy(a)));
}
