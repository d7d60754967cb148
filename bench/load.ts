import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { decodeStoreOneResponse, decodeFetchResponse, encodeFileRequest } from '../lib/protocol/tracker-queries.ts';
import { decodeFileIdResponse, encodeDownloadRequest, encodeUploadRequest, UPLOAD_FIXED_LEN } from '../lib/protocol/storage-requests.ts';
import { formatAddress } from '../lib/protocol/ip.ts';

// A lean load generator on the shared codec: persistent connections, one request in flight per
// worker, tracker query + storage request per operation (what ../shared/tools/fdfs-load.mjs
// does), so figures compare with the C FastDFS reference in the issue.

export interface LoadResult {
  op: 'upload' | 'download';
  size: number;
  concurrency: number;
  count: number;
  errors: number;
  seconds: number;
  opsPerSec: number;
  mbPerSec: number;
  p50ms: number;
  p99ms: number;
  fileIds: string[];
}

class Worker {
  private tracker?: ClientConnection;
  private storages = new Map<string, ClientConnection>();
  constructor(private readonly trackerHost: string, private readonly trackerPort: number) {}

  private async trackerConn(): Promise<ClientConnection> {
    if (!this.tracker?.usable) this.tracker = await ClientConnection.connect(this.trackerHost, this.trackerPort, { networkTimeout: 60 });
    return this.tracker;
  }

  private async storageConn(ip: string, port: number): Promise<ClientConnection> {
    const key = formatAddress(ip, port);
    let c = this.storages.get(key);
    if (!c?.usable) {
      c = await ClientConnection.connect(ip, port, { networkTimeout: 60 });
      this.storages.set(key, c);
    }
    return c;
  }

  async upload(content: Buffer | (() => Readable), size: number, ext = 'bin'): Promise<string> {
    const t = decodeStoreOneResponse(await (await this.trackerConn()).request(CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE));
    const s = await this.storageConn(t.ip, t.port);
    await s.sendHeader(CMD.UPLOAD_FILE, UPLOAD_FIXED_LEN + size, [encodeUploadRequest({ storePathIndex: t.storePathIndex, fileSize: size, ext })]);
    if (Buffer.isBuffer(content)) {
      await s.write(content);
    } else {
      for await (const chunk of content()) await s.write(chunk as Buffer);
    }
    const h = await s.readHeader();
    const r = decodeFileIdResponse(await s.readBody(h.length));
    return `${r.group}/${r.logicName}`;
  }

  async download(fileId: string): Promise<number> {
    const i = fileId.indexOf('/');
    const group = fileId.slice(0, i);
    const name = fileId.slice(i + 1);
    const f = decodeFetchResponse(await (await this.trackerConn()).request(CMD.SERVICE_QUERY_FETCH_ONE, encodeFileRequest(group, name)));
    const s = await this.storageConn(f.servers[0]!.ip, f.servers[0]!.port);
    const req = encodeDownloadRequest(0, 0, group, name);
    await s.sendHeader(CMD.DOWNLOAD_FILE, req.length, [req]);
    const h = await s.readHeader();
    let left = h.length;
    while (left > 0) left -= (await s.reader.readSome(Math.min(left, 1 << 20))).length;
    s.idle();
    return h.length;
  }

  close(): void {
    this.tracker?.close();
    for (const c of this.storages.values()) c.close();
  }
}

export { Worker };

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface RunOptions {
  tracker: { host: string; port: number };
  op: 'upload' | 'download';
  size: number;
  concurrency: number;
  count: number;
  fileIds?: string[];
  /** For big files: a fresh stream per upload instead of one buffer. */
  stream?: () => Readable;
}

export async function runLoad(o: RunOptions): Promise<LoadResult> {
  const workers = Array.from({ length: o.concurrency }, () => new Worker(o.tracker.host, o.tracker.port));
  const content = o.stream ? null : Buffer.alloc(o.size, 0x5a).fill(Buffer.from(Math.random().toString(36)));
  const latencies: number[] = [];
  const fileIds: string[] = [];
  let next = 0;
  let errors = 0;
  let firstError: unknown;
  const started = performance.now();
  await Promise.all(workers.map(async (w) => {
    while (true) {
      const k = next++;
      if (k >= o.count) break;
      const t0 = performance.now();
      try {
        if (o.op === 'upload') fileIds.push(await w.upload(content ?? o.stream!, o.size));
        else await w.download(o.fileIds![k % o.fileIds!.length]!);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  for (const w of workers) w.close();
  if (errors && !latencies.length) throw firstError;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  return {
    op: o.op, size: o.size, concurrency: o.concurrency, count: ok, errors, seconds,
    opsPerSec: ok / seconds, mbPerSec: (ok * o.size) / 1e6 / seconds,
    p50ms: percentile(latencies, 50), p99ms: percentile(latencies, 99), fileIds,
  };
}
