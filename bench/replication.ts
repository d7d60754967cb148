import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { formatAddress } from '../lib/protocol/ip.ts';
import { decodeFileIdResponse, encodeDownloadRequest, encodeUploadRequest, UPLOAD_FIXED_LEN } from '../lib/protocol/storage-requests.ts';
import { decodeFetchResponse, decodeStoreOneResponse, encodeFileRequest } from '../lib/protocol/tracker-queries.ts';
import { startCluster, waitFor, type Cluster } from '../test/helpers/cluster.ts';
import { members } from '../test/helpers/replication.ts';

// Replication benchmark (issue 5): a tracker and two storages of one group as real processes.
// N uploads through the tracker (101 + 11) at a given concurrency; a poller asks the member that
// did not take each upload for its first byte (14, offset 0, length 1), as
// ../shared/tools/fdfs-load.mjs --op replag --peers does, until it has it. Lag = first successful
// read on the peer − upload reply. Also: upload reply → the tracker's 105 listing both members, and
// how long a new member of a running group takes to become ACTIVE.

interface Uploaded {
  fileId: string;
  source: string;
  doneAt: number;
  size: number;
}

interface Addr { host: string; port: number }

export interface LagRun {
  size: number;
  concurrency: number;
  count: number;
  uploadErrors: number;
  uploadSeconds: number;
  uploadsPerSec: number;
  /** Replication lag per file, ms. */
  lagP50ms: number;
  lagP99ms: number;
  lagMaxms: number;
  /** Files not on the peer after the deadline. */
  notReplicated: number;
  /** Files replicated per second and MB/s (MB = 10^6 B) from the first upload to the last file seen on the peer. */
  syncFilesPerSec: number;
  syncMBPerSec: number;
  /** Last file seen on the peer, ms after the last upload reply. */
  allReplicatedAfterUploadsMs: number | null;
}

export interface ReplicationBenchResults {
  runs: LagRun[];
  /** Upload reply → 105 lists both members, ms (isolated uploads, one at a time). */
  trackerListsReplica: { samples: number; p50ms: number; p99ms: number; maxms: number };
  /** Start of a third storage in the running group → the tracker lists it ACTIVE. */
  newMemberActiveMs: number;
  /** The same from its ready line (a first start creates the store path's 65536 directories before it). */
  newMemberActiveAfterReadyMs: number;
  newMemberFilesCopied: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

class Uploader {
  private tracker?: ClientConnection;
  private storages = new Map<string, ClientConnection>();
  constructor(private readonly trackerAddr: Addr) {}

  private async conn(a: Addr, cache: boolean): Promise<ClientConnection> {
    if (!cache) {
      if (!this.tracker?.usable) this.tracker = await ClientConnection.connect(a.host, a.port, { networkTimeout: 60 });
      return this.tracker;
    }
    const key = formatAddress(a.host, a.port);
    let c = this.storages.get(key);
    if (!c?.usable) {
      c = await ClientConnection.connect(a.host, a.port, { networkTimeout: 60 });
      this.storages.set(key, c);
    }
    return c;
  }

  async upload(data: Buffer): Promise<{ fileId: string; source: string }> {
    const t = decodeStoreOneResponse(await (await this.conn(this.trackerAddr, false)).request(CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE));
    const s = await this.conn({ host: t.ip, port: t.port }, true);
    await s.sendHeader(CMD.UPLOAD_FILE, UPLOAD_FIXED_LEN + data.length, [encodeUploadRequest({ storePathIndex: t.storePathIndex, fileSize: data.length, ext: 'bin' })]);
    const p = s.write(data);
    if (p) await p;
    const h = await s.readHeader();
    const r = decodeFileIdResponse(await s.readBody(h.length));
    return { fileId: `${r.group}/${r.logicName}`, source: formatAddress(t.ip, t.port) };
  }

  close(): void {
    this.tracker?.close();
    for (const c of this.storages.values()) c.close();
  }
}

/** One persistent connection per peer; "has it" = a 1-byte download succeeds. */
class Prober {
  private conn: ClientConnection | null = null;
  constructor(private readonly a: Addr) {}

  async has(fileId: string): Promise<boolean> {
    const i = fileId.indexOf('/');
    if (!this.conn?.usable) this.conn = await ClientConnection.connect(this.a.host, this.a.port, { networkTimeout: 30 });
    const c = this.conn;
    try {
      const body = encodeDownloadRequest(0, 1, fileId.slice(0, i), fileId.slice(i + 1));
      await c.sendHeader(CMD.DOWNLOAD_FILE, body.length, [body]);
      const h = await c.readHeader();
      await c.readBody(h.length);
      return true;
    } catch (err) {
      if (err instanceof FdfsError && err.code === 'ENOENT') {
        // ENOENT leaves the connection framed (status, no body): keep using it.
        c.usable = !c.socket.destroyed;
        return false;
      }
      throw err;
    }
  }

  close(): void { this.conn?.close(); }
}

async function lagRun(cluster: Cluster, storages: Addr[], size: number, concurrency: number, count: number, lagMaxMs: number): Promise<LagRun> {
  const trackerAddr = { host: '127.0.0.1', port: cluster.tracker.port };
  const data = crypto.randomBytes(size);
  const pending: Uploaded[] = [];
  const lags: number[] = [];
  let uploadErrors = 0;
  let uploadsDone = false;
  let lastSeen = 0;
  let next = 0;
  const t0 = performance.now();
  const probers = new Map(storages.map((a) => [formatAddress(a.host, a.port), new Prober(a)]));
  const peerOf = (source: string) => [...probers.keys()].find((k) => k !== source)!;

  const poller = (async () => {
    let lastUploadAt = 0;
    for (;;) {
      if (uploadsDone && pending.length === 0) break;
      if (uploadsDone && performance.now() > lastUploadAt + lagMaxMs) break;
      // Oldest first; per peer, the first file it lacks ends that peer's sweep (replication is in order).
      const missing = new Set<string>();
      for (let k = 0; k < pending.length;) {
        const f = pending[k]!;
        const peer = peerOf(f.source);
        if (missing.has(peer)) { k++; continue; }
        if (await probers.get(peer)!.has(f.fileId)) {
          const now = performance.now();
          lags.push(now - f.doneAt);
          lastSeen = now;
          pending.splice(k, 1);
        } else {
          missing.add(peer);
          k++;
        }
      }
      if (uploadsDone && lastUploadAt === 0) lastUploadAt = performance.now();
      await new Promise((r) => setTimeout(r, pending.length > 0 ? 2 : 1));
    }
  })();

  const workers = Array.from({ length: concurrency }, async () => {
    const u = new Uploader(trackerAddr);
    try {
      for (let i = next++; i < count; i = next++) {
        try {
          const r = await u.upload(data);
          pending.push({ ...r, doneAt: performance.now(), size });
        } catch {
          uploadErrors++;
        }
      }
    } finally {
      u.close();
    }
  });
  await Promise.all(workers);
  const uploadEnd = performance.now();
  uploadsDone = true;
  await poller;
  for (const p of probers.values()) p.close();
  lags.sort((a, b) => a - b);
  const seconds = (uploadEnd - t0) / 1000;
  const syncSeconds = lastSeen > 0 ? (lastSeen - t0) / 1000 : 0;
  return {
    size, concurrency, count, uploadErrors,
    uploadSeconds: seconds,
    uploadsPerSec: (count - uploadErrors) / seconds,
    lagP50ms: pct(lags, 50), lagP99ms: pct(lags, 99), lagMaxms: lags[lags.length - 1] ?? 0,
    notReplicated: pending.length,
    syncFilesPerSec: syncSeconds > 0 ? lags.length / syncSeconds : 0,
    syncMBPerSec: syncSeconds > 0 ? (lags.length * size) / 1e6 / syncSeconds : 0,
    allReplicatedAfterUploadsMs: pending.length === 0 && lastSeen > 0 ? Math.max(0, lastSeen - uploadEnd) : null,
  };
}

async function trackerLag(cluster: Cluster, samples: number): Promise<ReplicationBenchResults['trackerListsReplica']> {
  const trackerAddr = { host: '127.0.0.1', port: cluster.tracker.port };
  const u = new Uploader(trackerAddr);
  const q = await ClientConnection.connect(trackerAddr.host, trackerAddr.port, { networkTimeout: 30 });
  const out: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const { fileId } = await u.upload(crypto.randomBytes(4096));
      const t = performance.now();
      const i0 = fileId.indexOf('/');
      const body = encodeFileRequest(fileId.slice(0, i0), fileId.slice(i0 + 1));
      for (;;) {
        const r = decodeFetchResponse(await q.request(CMD.SERVICE_QUERY_FETCH_ALL, body));
        if (r.servers.length >= 2) break;
        if (performance.now() - t > 60_000) throw new Error(`105 never listed both members for ${fileId}`);
        await new Promise((res) => setTimeout(res, 5));
      }
      out.push(performance.now() - t);
    }
  } finally {
    u.close();
    q.close();
  }
  out.sort((a, b) => a - b);
  return { samples, p50ms: pct(out, 50), p99ms: pct(out, 99), maxms: out[out.length - 1] ?? 0 };
}

export async function runReplicationBench(opts: { quick: boolean }): Promise<ReplicationBenchResults> {
  const quick = opts.quick;
  const cluster = await startCluster({ storages: 3, start: 2, storage: { subdir_count_per_path: 256 } });
  try {
    await waitFor('two ACTIVE storages', async () => (await members(cluster)).filter((m) => m.status === 'ACTIVE').length === 2, 30000, 100);
    const storages = cluster.storages.slice(0, 2).map((d) => ({ host: d.host, port: d.port }));
    const MB = 1024 * 1024;
    const plan: Array<[number, number, number]> = [
      [4096, 1, quick ? 500 : 3000],
      [4096, 16, quick ? 4000 : 30000],
      [MB, 1, quick ? 50 : 300],
      [MB, 16, quick ? 200 : 1000],
    ];
    const runs: LagRun[] = [];
    for (const [size, c, n] of plan) runs.push(await lagRun(cluster, storages, size, c, n, 120_000));
    const trackerListsReplica = await trackerLag(cluster, quick ? 10 : 30);

    // A third member joins the running group (which now holds every file above).
    const t = performance.now();
    await cluster.startStorage(2);
    const ready = performance.now();
    await waitFor('the new member ACTIVE', async () => (await members(cluster)).filter((m) => m.status === 'ACTIVE').length === 3, 300_000, 20);
    const newMemberActiveMs = performance.now() - t;
    const newMemberActiveAfterReadyMs = performance.now() - ready;
    const newMemberFilesCopied = runs.reduce((a, r) => a + r.count - r.uploadErrors, 0) + trackerListsReplica.samples;
    return { runs, trackerListsReplica, newMemberActiveMs, newMemberActiveAfterReadyMs, newMemberFilesCopied };
  } finally {
    await cluster.stop();
  }
}

/** The results as a table for people. */
export function formatReplicationResults(r: ReplicationBenchResults): string {
  const head = ['size', 'c', 'files', 'uploads/s', 'lag p50 ms', 'p99 ms', 'max ms', 'sync files/s', 'sync MB/s', 'missing'];
  const rows = r.runs.map((x) => [x.size >= 1024 * 1024 ? `${x.size / 1024 / 1024} MiB` : `${x.size / 1024} KiB`, String(x.concurrency),
    String(x.count), x.uploadsPerSec.toFixed(0), x.lagP50ms.toFixed(1), x.lagP99ms.toFixed(1), x.lagMaxms.toFixed(1),
    x.syncFilesPerSec.toFixed(0), x.syncMBPerSec.toFixed(1), String(x.notReplicated)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const t = r.trackerListsReplica;
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt),
    `tracker 105 lists both members after upload: p50 ${t.p50ms.toFixed(0)} ms, p99 ${t.p99ms.toFixed(0)} ms, max ${t.maxms.toFixed(0)} ms (${t.samples} isolated uploads)`,
    `new member of the running group ACTIVE ${(r.newMemberActiveMs / 1000).toFixed(2)} s after its start, ${(r.newMemberActiveAfterReadyMs / 1000).toFixed(2)} s after it was ready (${r.newMemberFilesCopied} old files copied)`,
  ].join('\n');
}

// `node build/bench/replication.js [--quick]` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runReplicationBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`\n== replication: one tracker, two storages of one group ==\n${formatReplicationResults(r)}\n`);
  process.stdout.write(`\nJSON ${JSON.stringify(r)}\n`);
}
