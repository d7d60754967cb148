import { Buffer } from 'node:buffer';
import net from 'node:net';
import { ClientConnection } from '../../lib/net/client-connection.ts';
import { CMD, GROUP_NAME_LEN, HEADER_LEN, STORAGE_STATUS as ST } from '../../lib/protocol/codes.ts';
import { ERRNO } from '../../lib/protocol/errno.ts';
import { encodeHeader } from '../../lib/protocol/header.ts';
import { encodeDiskUsage, encodeJoinRequest } from '../../lib/protocol/storage-tracker.ts';

// A stand-in for a FastDFS 6.16.1 storage as a sync *receiver*, for tests that must run without
// C: it joins the tracker like a storage, keeps the files pushed to it in memory, and reproduces
// the C behaviours that matter to a sender (docs/replication.md "C peers"):
// - edge-triggered reading: one package is served per arrival of bytes; a request that arrived
//   while the previous one was served waits until more bytes arrive (a pipelining sender stalls);
// - REPORT_SERVER_ID is answered status 0 with no body, whatever the request's header status;
// - an unknown command gets EINVAL and the connection is closed after the answer, as after any
//   header-only EINVAL answer;
// - the receiver rules of PROTOCOL.md §5.2–§5.6.

export interface FakeCStorage {
  readonly host: string;
  readonly port: number;
  /** Regular files by logic name (metadata files `…-m` included). */
  readonly files: Map<string, Buffer>;
  /** Symbolic links by logic name ⇒ target logic name. */
  readonly links: Map<string, string>;
  /** Commands it did not know, in arrival order. */
  readonly unknown: number[];
  /** Header statuses of the REPORT_SERVER_ID requests it got. */
  readonly probes: number[];
  /** Times bytes of a next request were there before the answer to the previous one went out. */
  pipelined: number;
  /** Requests served, by command. */
  readonly served: Map<number, number>;
  stop(): Promise<void>;
}

function i64(b: Buffer, off: number): number {
  return Number(b.readBigInt64BE(off));
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? s.length : z).toString('latin1');
}

function answer(status: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeHeader(body.length, CMD.RESP, status), body]);
}

/** Start it on host:port and make it a member of `group` at the tracker (it beats every second). */
export async function startFakeCStorage(opts: { host: string; port: number; tracker: { host: string; port: number }; group: string; subdirCount?: number }): Promise<FakeCStorage> {
  const files = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const sockets = new Set<net.Socket>();
  const fake: FakeCStorage = {
    host: opts.host, port: opts.port, files, links, unknown: [], probes: [], pipelined: 0, served: new Map(),
    stop: async () => { /* replaced below */ },
  };

  function serve(cmd: number, status: number, body: Buffer): { reply: Buffer; close?: boolean } {
    fake.served.set(cmd, (fake.served.get(cmd) ?? 0) + 1);
    switch (cmd) {
      case CMD.REPORT_SERVER_ID:
        fake.probes.push(status);
        return { reply: answer(body.length === 16 ? 0 : ERRNO.EINVAL) };
      case CMD.ACTIVE_TEST:
        return { reply: answer(0) };
      case CMD.SYNC_CREATE_FILE:
      case CMD.SYNC_UPDATE_FILE: {
        const nameLen = i64(body, 0);
        const size = i64(body, 8);
        const off = 20 + GROUP_NAME_LEN;
        const name = body.toString('latin1', off, off + nameLen);
        if (status === 17) return { reply: answer(ERRNO.EEXIST) };
        const have = files.get(name);
        if (cmd === CMD.SYNC_CREATE_FILE && have && have.length === size) return { reply: answer(ERRNO.EEXIST) };
        files.set(name, Buffer.from(body.subarray(off + nameLen, off + nameLen + size)));
        return { reply: answer(0) };
      }
      case CMD.SYNC_DELETE_FILE: {
        const name = body.toString('latin1', 4 + GROUP_NAME_LEN);
        const existed = files.delete(name) || links.delete(name);
        return { reply: answer(existed ? 0 : ERRNO.ENOENT) };
      }
      case CMD.SYNC_APPEND_FILE:
      case CMD.SYNC_MODIFY_FILE: {
        const nameLen = i64(body, 0);
        const start = i64(body, 8);
        const length = i64(body, 16);
        const off = 28 + GROUP_NAME_LEN;
        const name = body.toString('latin1', off, off + nameLen);
        const data = body.subarray(off + nameLen, off + nameLen + length);
        const have = files.get(name);
        if (!have) return { reply: answer(ERRNO.ENOENT) };
        const fits = cmd === CMD.SYNC_APPEND_FILE ? have.length === start : have.length >= start;
        if (!fits) return { reply: answer(have.length >= start + length ? ERRNO.EEXIST : ERRNO.ENOENT) };
        const out = Buffer.alloc(Math.max(have.length, start + length));
        have.copy(out);
        data.copy(out, start);
        files.set(name, out);
        return { reply: answer(0) };
      }
      case CMD.SYNC_TRUNCATE_FILE: {
        const nameLen = i64(body, 0);
        const oldSize = i64(body, 8);
        const newSize = i64(body, 16);
        const off = 28 + GROUP_NAME_LEN;
        const name = body.toString('latin1', off, off + nameLen);
        const have = files.get(name);
        if (!have) return { reply: answer(ERRNO.ENOENT) };
        if (have.length !== oldSize) return { reply: answer(ERRNO.EEXIST) };
        const out = Buffer.alloc(newSize);
        have.copy(out, 0, 0, Math.min(have.length, newSize));
        files.set(name, out);
        return { reply: answer(0) };
      }
      case CMD.SYNC_CREATE_LINK:
      case CMD.SYNC_RENAME_FILE: {
        const aLen = i64(body, 0);
        const bLen = i64(body, 8);
        const off = 20 + GROUP_NAME_LEN;
        const first = body.toString('latin1', off, off + aLen);
        const second = body.toString('latin1', off + aLen, off + aLen + bLen);
        if (cmd === CMD.SYNC_CREATE_LINK) {
          if (!links.has(first) && files.has(second)) links.set(first, second);
          return { reply: answer(0) };
        }
        if (files.has(first)) return { reply: answer(ERRNO.EEXIST) };
        const have = files.get(second);
        if (!have) return { reply: answer(ERRNO.ENOENT) };
        files.delete(second);
        files.set(first, have);
        return { reply: answer(0) };
      }
      case CMD.QUERY_FILE_INFO: {
        const have = files.get(cstr(body, GROUP_NAME_LEN, body.length - GROUP_NAME_LEN));
        if (!have) return { reply: answer(ERRNO.ENOENT) };
        const info = Buffer.alloc(40);
        info.writeBigInt64BE(BigInt(have.length), 0);
        return { reply: answer(0, info) };
      }
      default:
        fake.unknown.push(cmd);
        return { reply: answer(ERRNO.EINVAL), close: true };
    }
  }

  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let busy = false;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (busy) {
        // C is dealing with the previous request: this edge is lost (check_task ⇒ EAGAIN).
        fake.pipelined++;
        return;
      }
      if (buf.length < HEADER_LEN) return;
      const len = i64(buf, 0);
      if (buf.length < HEADER_LEN + len) return;
      const cmd = buf[8]!;
      const status = buf[9]!;
      const body = buf.subarray(HEADER_LEN, HEADER_LEN + len);
      buf = buf.subarray(HEADER_LEN + len);
      if (buf.length > 0) fake.pipelined++;
      busy = true;
      // Answer on a later turn, as a C storage answers after its disk thread wrote the file.
      setImmediate(() => {
        const out = serve(cmd, status, body);
        s.write(out.reply, () => {
          busy = false;
          // An answer with header-only EINVAL closes the connection (sock_send_done_callback).
          if (out.close || (out.reply.length === HEADER_LEN && out.reply[9] === ERRNO.EINVAL)) s.destroy();
          // No look at `buf` here: bytes that came in meanwhile wait for the next edge.
        });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });

  // Tracker membership: JOIN as an initialised storage (ACTIVE ⇒ ONLINE), disk usage, then beats.
  let tracker: ClientConnection | null = null;
  let beating = true;
  let beatTimer: NodeJS.Timeout | null = null;
  const join = async () => {
    const c = await ClientConnection.connect(opts.tracker.host, opts.tracker.port, { localAddress: opts.host, networkTimeout: 10 });
    const now = Math.floor(Date.now() / 1000);
    await c.request(CMD.STORAGE_JOIN, encodeJoinRequest({
      group: opts.group, port: opts.port, storePathCount: 1, subdirCountPerPath: opts.subdirCount ?? 16, uploadPriority: 10,
      joinTime: now, upTime: now, version: '6.16.1', initFlag: 0, status: ST.ACTIVE, storageId: '',
      currentTrackerIp: opts.tracker.host, trackers: [`${opts.tracker.host}:${opts.tracker.port}`],
    }));
    await c.request(CMD.STORAGE_REPORT_DISK_USAGE, encodeDiskUsage([{ totalMb: 100_000, freeMb: 50_000 }]));
    tracker = c;
  };
  await join();
  const beat = async () => {
    if (!beating) return;
    try {
      if (!tracker) await join();
      await tracker!.request(CMD.STORAGE_BEAT);
    } catch {
      tracker?.destroy();
      tracker = null;
    }
    if (beating) beatTimer = setTimeout(() => void beat(), 1000);
  };
  void beat();

  fake.stop = async () => {
    beating = false;
    if (beatTimer) clearTimeout(beatTimer);
    tracker?.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}
