import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import { ClientConnection } from '../../lib/net/client-connection.ts';
import { CMD, storageStatusName } from '../../lib/protocol/codes.ts';
import { encodeB64 } from '../../lib/protocol/base64.ts';
import { crc32 } from '../../lib/protocol/crc32.ts';
import { encodeFileHeader, makeSizeField } from '../../lib/protocol/filename.ts';
import { decodeStorageStatRecords } from '../../lib/protocol/records.ts';
import { encodeListStorageRequest } from '../../lib/protocol/storage-tracker.ts';
import { waitFor } from '../../test/helpers/cluster.ts';
import { readFrom, uploadTo, type Addr } from '../../test/helpers/replication.ts';

// What the interop scenarios measure: member states from a tracker, which files every member
// holds byte for byte, and how long a file takes to appear on the other member.

export interface Member { ip: string; port: number; status: string; version: string }

export async function membersOf(tracker: Addr, group: string): Promise<Member[]> {
  const c = await ClientConnection.connect(tracker.host, tracker.port, { networkTimeout: 10, connectTimeout: 5 });
  try {
    const body = await c.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(group));
    return decodeStorageStatRecords(body).map((r) => ({ ip: r.ip_addr, port: r.storage_port, status: storageStatusName(r.status), version: r.version }));
  } finally {
    c.close();
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Poll until fn is truthy (the tests' waitFor, a 100 ms step: these waits are seconds long). */
export function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs: number, everyMs = 100): Promise<T> {
  return waitFor(what, fn, timeoutMs, everyMs);
}

/** Waits until the member at `ip` is ACTIVE; returns when (ms since epoch). */
export async function waitActive(tracker: Addr, group: string, ip: string, timeoutMs: number): Promise<number> {
  await until(`${ip} ACTIVE at ${tracker.host}:${tracker.port}`, async () => (await membersOf(tracker, group)).some((m) => m.ip === ip && m.status === 'ACTIVE'), timeoutMs, 50);
  return Date.now();
}

/** Waits until the member at `ip` is ACTIVE; returns when the tracker first listed it (JOIN) and when ACTIVE. */
export async function watchJoin(tracker: Addr, group: string, ip: string, timeoutMs: number): Promise<{ joinedAt: number; activeAt: number; steps: string; copyMs: number }> {
  let joinedAt = 0;
  let last = '';
  const steps: string[] = [];
  const seen = new Map<string, number>();
  await until(`${ip} ACTIVE at ${tracker.host}:${tracker.port}`, async () => {
    const m = (await membersOf(tracker, group)).find((x) => x.ip === ip);
    if (m && !joinedAt) joinedAt = Date.now();
    if (m && m.status !== last) {
      last = m.status;
      if (!seen.has(m.status)) seen.set(m.status, Date.now());
      steps.push(`${m.status}@${((Date.now() - joinedAt) / 1000).toFixed(1)}`);
    }
    return m?.status === 'ACTIVE';
  }, timeoutMs, 20);
  const activeAt = Date.now();
  // The old-data copy: from SYNCING (or WAIT_SYNC when SYNCING passed between two polls) to OFFLINE.
  const from = seen.get('SYNCING') ?? seen.get('WAIT_SYNC') ?? joinedAt;
  const copyMs = (seen.get('OFFLINE') ?? activeAt) - from;
  return { joinedAt, activeAt, steps: steps.join(' '), copyMs };
}

export function content(i: number, size: number): Buffer {
  const b = crypto.randomBytes(size);
  if (size >= 4) b.writeUInt32BE(i >>> 0, 0);
  return b;
}

export interface Verdict { checked: number; missing: number; mismatched: number; firstProblem: string }

/** Every expected file (id ⇒ bytes; null = must be absent) read back from every member. */
export async function verify(members: Addr[], expected: Map<string, Buffer | null>, concurrency = 8): Promise<Verdict> {
  const v: Verdict = { checked: 0, missing: 0, mismatched: 0, firstProblem: '' };
  const jobs: Array<[Addr, string, Buffer | null]> = [];
  for (const m of members) for (const [id, want] of expected) jobs.push([m, id, want]);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const [m, id, want] = jobs[next++]!;
      let got: Buffer | null;
      try {
        got = await readFrom(m, id);
      } catch (err) {
        got = null;
        v.firstProblem ||= `${m.host}: ${id}: ${(err as Error).message}`;
      }
      v.checked++;
      if (want === null) {
        if (got !== null) { v.mismatched++; v.firstProblem ||= `${m.host}: ${id} should be gone`; }
      } else if (got === null) {
        v.missing++;
        v.firstProblem ||= `${m.host}: ${id} missing`;
      } else if (!got.equals(want)) {
        v.mismatched++;
        v.firstProblem ||= `${m.host}: ${id} differs (${got.length} bytes, want ${want.length})`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return v;
}

/** Waits until verify() finds nothing wrong (or the time is up) and returns the last verdict. */
export async function converge(members: Addr[], expected: Map<string, Buffer | null>, timeoutMs: number): Promise<Verdict> {
  const deadline = Date.now() + timeoutMs;
  let v = await verify(members, expected);
  while ((v.missing > 0 || v.mismatched > 0) && Date.now() < deadline) {
    await sleep(500);
    v = await verify(members, expected);
  }
  return v;
}

/**
 * Replication lag: for each file, the time from its upload reply until every member in `peers`
 * serves it whole, polled every 2 ms by a few readers.
 */
export class LagProbe {
  private readonly pending: Array<{ id: string; at: number; size: number }> = [];
  readonly lags: number[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly peers: Addr[], readers = 4) {
    for (let i = 0; i < readers; i++) this.loops.push(this.loop());
  }

  add(id: string, size: number, at = Date.now()): void {
    this.pending.push({ id, at, size });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const item = this.pending.shift();
      if (!item) { await sleep(2); continue; }
      let all = true;
      for (const peer of this.peers) {
        let got: Buffer | null = null;
        try { got = await readFrom(peer, item.id); } catch { /* not yet */ }
        if (!got || got.length !== item.size) { all = false; break; }
      }
      if (all) this.lags.push(Date.now() - item.at);
      else if (Date.now() - item.at < 120_000) { this.pending.push(item); await sleep(2); }
    }
  }

  /** Waits (at most timeoutMs) for every file added so far, then stops. */
  async finish(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.length > 0 && Date.now() < deadline) await sleep(20);
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * Replication lag, one file at a time: upload to `src`, then read from every peer every
 * millisecond until all serve it whole. `n` files; returns the lags in ms.
 */
export async function sequentialLag(src: Addr, peers: Addr[], n: number, size = 2000, timeoutMs = 30_000): Promise<number[]> {
  const lags: number[] = [];
  for (let i = 0; i < n; i++) {
    const data = content(i, size);
    const id = await uploadTo(src, data);
    const at = Date.now();
    for (const peer of peers) {
      for (;;) {
        let got: Buffer | null = null;
        try { got = await readFrom(peer, id); } catch { /* not yet */ }
        if (got && got.equals(data)) break;
        if (Date.now() - at > timeoutMs) throw new Error(`${id} not on ${peer.host} after ${timeoutMs} ms`);
        await sleep(1);
      }
    }
    lags.push(Date.now() - at);
  }
  return lags;
}

/**
 * Round trips of SYNC_CREATE_FILE sent the way a FastDFS storage sends them (storage_sync.c):
 * Nagle left on, header + fixed part + name in one write, the content in a second one, then wait
 * for the answer. A receiver that delays its ACK holds the content back 40 ms (Linux delayed ACK).
 * Returns the round trips in ms and the file ids created.
 */
export async function cStyleRoundTrips(target: Addr, group: string, sourceIp: string, n: number): Promise<{ ms: number[]; files: Map<string, Buffer> }> {
  const net = await import('node:net');
  const sock = net.connect({ host: target.host, port: target.port, noDelay: false, localAddress: sourceIp });
  await new Promise<void>((resolve, reject) => { sock.once('connect', () => resolve()); sock.once('error', reject); });
  let buf = Buffer.alloc(0);
  let waiting: ((status: number) => void) | null = null;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 10) {
      const len = Number(buf.readBigInt64BE(0));
      if (buf.length < 10 + len) break;
      const status = buf[9]!;
      buf = buf.subarray(10 + len);
      const w = waiting;
      waiting = null;
      w?.(status);
    }
  });
  const header = (len: number, cmd: number) => {
    const h = Buffer.alloc(10);
    h.writeBigInt64BE(BigInt(len));
    h[8] = cmd;
    return h;
  };
  const call = (parts: Buffer[]) => new Promise<number>((resolve) => {
    waiting = resolve;
    void (async () => {
      for (const p of parts) {
        sock.write(p);
        // Separate send() calls, as C's tcpsenddata + sendfile.
        await new Promise((r) => setImmediate(r));
      }
    })();
  });
  try {
    const id = Buffer.alloc(16);
    id.write(sourceIp, 'latin1');
    if ((await call([Buffer.concat([header(16, 9), id])])) !== 0) throw new Error('REPORT_SERVER_ID refused');
    const ms: number[] = [];
    const files = new Map<string, Buffer>();
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < n; i++) {
      const data = content(i, 3000);
      // A real name of a file "uploaded" to sourceIp (§6.2), as a C source would push.
      const head = encodeFileHeader({ source: { ip: sourceIp }, timestamp: now, sizeField: makeSizeField('normal', data.length, crypto.randomInt(1 << 23)), crc32: crc32(data) });
      const name = `M00/00/00/${encodeB64(head)}.bin`;
      const nameB = Buffer.from(name, 'latin1');
      const fixed = Buffer.alloc(36);
      fixed.writeBigInt64BE(BigInt(nameB.length), 0);
      fixed.writeBigInt64BE(BigInt(data.length), 8);
      fixed.writeInt32BE(now, 16);
      fixed.write(group, 20, 'latin1');
      const t0 = process.hrtime.bigint();
      const status = await call([Buffer.concat([header(36 + nameB.length + data.length, 16), fixed, nameB]), data]);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (status === 0) files.set(`${group}/${name}`, data);
    }
    return { ms, files };
  } finally {
    sock.destroy();
  }
}
