import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientConnection } from '../../lib/net/client-connection.ts';
import { startDownload, uploadFile } from '../../lib/client/storage-client.ts';
import { CMD } from '../../lib/protocol/codes.ts';
import { allCaptures, haveCaptures, packetBytes, serverRole } from '../../test/helpers/captures.ts';
import { startCluster, type Cluster } from '../../test/helpers/cluster.ts';
import { Rng } from './rng.ts';

// `npm run chaos -- fuzz`: mutated real packets (../shared/captures) and random ones against a
// running tracker and storage, from a seed. After each slice the daemon must still be alive, answer
// a valid client (the storage stores and returns a file) and keep its RSS flat.

export interface FuzzOptions {
  seed: number;
  /** Packets per daemon. */
  packets: number;
  concurrency: number;
  out: (line: string) => void;
}

export interface FuzzDaemonResult {
  daemon: 'tracker' | 'storage';
  packets: number;
  connections: number;
  healthChecks: number;
  failures: string[];
  rssWarmMb: number;
  rssEndMb: number;
  seconds: number;
}

const KNOWN_CMDS: number[] = Object.values(CMD as Record<string, number>).filter((v) => typeof v === "number");
const INTERESTING_LENGTHS = [0n, 1n, 16n, 17n, 255n, 256n, 65535n, 65536n, (1n << 31n) - 1n, 1n << 31n, 1n << 32n, 1n << 58n, (1n << 63n) - 1n, -1n];

/** Request packets of the captures, per server role. */
function corpus(): { tracker: Buffer[]; storage: Buffer[] } {
  const out = { tracker: [] as Buffer[], storage: [] as Buffer[] };
  if (!haveCaptures()) return out;
  for (const f of allCaptures()) {
    for (const p of f.packets) {
      if (p.dir !== 'c2s') continue;
      const role = serverRole(f, p);
      const b = packetBytes(p);
      if (b.length < 10) continue;
      if (role.startsWith('tracker')) out.tracker.push(b);
      else if (role.startsWith('storage')) out.storage.push(b);
    }
  }
  return out;
}

function mutate(rng: Rng, seedPacket: Buffer, others: Buffer[]): Buffer {
  let b = Buffer.from(seedPacket);
  const n = rng.int(1, 4);
  for (let i = 0; i < n; i++) {
    switch (rng.int(0, 7)) {
      case 0: // bit flips
        for (let k = rng.int(1, 8); k > 0 && b.length; k--) b[rng.int(0, b.length - 1)]! ^= 1 << rng.int(0, 7);
        break;
      case 1: // interesting byte
        if (b.length) b[rng.int(0, b.length - 1)] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x2f, 0x2e]);
        break;
      case 2: // length field
        if (b.length >= 8) b.writeBigInt64BE(BigInt.asIntN(64, rng.chance(0.5) ? rng.pick(INTERESTING_LENGTHS) : BigInt(b.length - 10 + rng.int(-3, 3))), 0);
        break;
      case 3: // command
        if (b.length >= 9) b[8] = rng.chance(0.7) ? rng.pick(KNOWN_CMDS) : rng.int(0, 255);
        break;
      case 4: // truncate
        b = b.subarray(0, rng.int(0, b.length));
        break;
      case 5: // append garbage
        b = Buffer.concat([b, Buffer.from(rng.bytes(rng.int(1, 64)))]);
        break;
      case 6: { // splice: this header, another body
        const o = rng.pick(others);
        b = Buffer.concat([b.subarray(0, 10), o.subarray(10)]);
        break;
      }
      case 7: // status byte
        if (b.length >= 10) b[9] = rng.int(0, 255);
        break;
    }
  }
  return b;
}

function randomPacket(rng: Rng): Buffer {
  const body = Buffer.from(rng.bytes(rng.chance(0.8) ? rng.int(0, 64) : rng.int(0, 600)));
  const h = Buffer.alloc(10);
  h.writeBigInt64BE(rng.chance(0.6) ? BigInt(body.length) : BigInt.asIntN(64, rng.pick(INTERESTING_LENGTHS)), 0);
  h[8] = rng.chance(0.8) ? rng.pick(KNOWN_CMDS) : rng.int(0, 255);
  h[9] = rng.chance(0.9) ? 0 : rng.int(0, 255);
  return Buffer.concat([h, body]);
}

/** Send packets on one connection, read and drop whatever comes back, end when the server closes or soon after. */
function sendBatch(host: string, port: number, packets: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let done = false;
    const finish = () => { if (!done) { done = true; clearTimeout(timer); s.destroy(); resolve(); } };
    const timer = setTimeout(finish, 1000);
    s.on('error', finish);
    s.on('close', finish);
    s.on('data', () => {});
    s.on('connect', () => {
      for (const p of packets) s.write(p);
      s.end();
    });
  });
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function trackerHealthy(host: string, port: number): Promise<void> {
  const c = await ClientConnection.connect(host, port, { networkTimeout: 10, connectTimeout: 3 });
  try {
    await c.request(CMD.ACTIVE_TEST);
    await c.request(CMD.SERVER_LIST_ALL_GROUPS);
  } finally {
    c.close();
  }
}

async function storageHealthy(host: string, port: number): Promise<void> {
  const data = crypto.randomBytes(10_000);
  const c = await ClientConnection.connect(host, port, { networkTimeout: 10, connectTimeout: 3 });
  try {
    await c.request(CMD.ACTIVE_TEST);
    const r = await uploadFile(c, { storePathIndex: -1, ext: 'bin', content: { size: data.length, chunks: () => data } });
    const n = await startDownload(c, r.group, r.logicName, 0, 0, r.logicName);
    const back = await c.reader.readExact(n);
    if (!back.equals(data)) throw new Error(`downloaded ${back.length} bytes differ from the ${data.length} uploaded`);
  } finally {
    c.close();
  }
}

async function fuzzOne(daemon: 'tracker' | 'storage', addr: { host: string; port: number }, pid: number, packets: Buffer[],
  rng: Rng, o: FuzzOptions, exited: () => boolean): Promise<FuzzDaemonResult> {
  const t0 = Date.now();
  const res: FuzzDaemonResult = { daemon, packets: 0, connections: 0, healthChecks: 0, failures: [], rssWarmMb: 0, rssEndMb: 0, seconds: 0 };
  const health = daemon === 'tracker' ? trackerHealthy : storageHealthy;
  const slices = 10;
  const perSlice = Math.ceil(o.packets / slices);
  for (let slice = 0; slice < slices && res.packets < o.packets; slice++) {
    const target = Math.min(o.packets, (slice + 1) * perSlice);
    const worker = async (wrng: Rng) => {
      while (res.packets < target) {
        const n = Math.min(wrng.int(1, 16), target - res.packets);
        res.packets += n;
        const batch: Buffer[] = [];
        for (let i = 0; i < n; i++) batch.push(packets.length && wrng.chance(0.75) ? mutate(wrng, wrng.pick(packets), packets) : randomPacket(wrng));
        res.connections++;
        await sendBatch(addr.host, addr.port, batch);
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(rng.fork(slice * 100 + w))));
    if (exited()) {
      res.failures.push(`${daemon} exited after ${res.packets} packets`);
      break;
    }
    try {
      await health(addr.host, addr.port);
      res.healthChecks++;
    } catch (err) {
      res.failures.push(`${daemon} failed a valid request after ${res.packets} packets: ${(err as Error).message}`);
    }
    if (slice === 0) res.rssWarmMb = rssMb(pid);
  }
  // Let idle connections close and the heap settle before the last reading.
  await sleep(2000);
  res.rssEndMb = rssMb(pid);
  if (res.rssWarmMb > 0 && res.rssEndMb > Math.max(res.rssWarmMb * 1.5, res.rssWarmMb + 64)) {
    res.failures.push(`${daemon} RSS grew from ${res.rssWarmMb.toFixed(0)} MB to ${res.rssEndMb.toFixed(0)} MB`);
  }
  res.seconds = (Date.now() - t0) / 1000;
  o.out(`${daemon}: ${res.packets} packets on ${res.connections} connections in ${res.seconds.toFixed(1)} s; ${res.healthChecks} health checks passed; RSS ${res.rssWarmMb.toFixed(0)} MB after the first slice, ${res.rssEndMb.toFixed(0)} MB at the end${res.failures.length ? `; FAILED: ${res.failures.join('; ')}` : ''}`);
  return res;
}

export async function runFuzz(o: FuzzOptions): Promise<{ ok: boolean; results: FuzzDaemonResult[] }> {
  o.out(`fuzz seed ${o.seed}: ${o.packets} packets per daemon; replay with: npm run chaos -- fuzz --seed ${o.seed} --packets ${o.packets}`);
  const { tracker: tp, storage: sp } = corpus();
  o.out(`corpus: ${tp.length} tracker and ${sp.length} storage request packets from the captures${haveCaptures() ? '' : ' (captures not found: random packets only)'}`);
  const rng = new Rng(o.seed);
  let cluster: Cluster | null = null;
  const results: FuzzDaemonResult[] = [];
  try {
    cluster = await startCluster({ storages: 1, storage: { network_timeout: 5 }, tracker: { network_timeout: 5 } });
    const c = cluster;
    const s = c.storages[0]!;
    results.push(await fuzzOne('tracker', { host: '127.0.0.1', port: c.tracker.port }, c.tracker.child.pid!, tp, rng.fork(1), o,
      () => c.tracker.child.exitCode !== null || c.tracker.child.signalCode !== null));
    results.push(await fuzzOne('storage', { host: s.host, port: s.port }, s.child.pid!, sp, rng.fork(2), o,
      () => s.child.exitCode !== null || s.child.signalCode !== null));
  } finally {
    await cluster?.stop();
  }
  const ok = results.length === 2 && results.every((r) => r.failures.length === 0);
  o.out(`fuzz ${ok ? 'PASSED' : 'FAILED'}`);
  return { ok, results };
}
