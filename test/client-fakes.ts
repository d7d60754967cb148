import { Buffer } from 'node:buffer';
import { PacketServer, type Handler, type Request } from '../lib/net/packet-server.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { FdfsError } from '../lib/protocol/errno.ts';
import { Crc32, crc32 } from '../lib/protocol/crc32.ts';
import { FieldReader } from '../lib/protocol/fields.ts';
import { buildLogicName, makeExt7, makeSizeField } from '../lib/protocol/filename.ts';
import { decodeMetadata, encodeMetadata, mergeMetadata, sortMetadata } from '../lib/protocol/metadata.ts';
import { encodeGroupStat, encodeStorageStatRecord, emptyStorageStat, type GroupStat, type StorageStatRecord } from '../lib/protocol/records.ts';
import {
  decodeDownloadRequest, decodeSetMetadataRequest, decodeUploadRequest, encodeFileIdResponse, encodeFileInfoResponse,
} from '../lib/protocol/storage-requests.ts';
import { decodeFileRequest, encodeFetchResponse, encodeStoreOneResponse } from '../lib/protocol/tracker-queries.ts';

// Fake tracker and storage for the client tests: real sockets on loopback (port 0), the real
// connection loop (PacketServer), canned or in-memory answers. Only what the client needs.

export interface FakeFile {
  content: Buffer;
  meta?: Buffer;
}

export class FakeStorage {
  readonly files = new Map<string, FakeFile>();
  /** Commands received, in order (cmd codes). */
  readonly commands: number[] = [];
  connections = 0;
  /** Content bytes received by uploads / sent by downloads so far. */
  received = 0;
  sent = 0;
  /** Keep uploaded content (false for the big streaming test: count and CRC only). */
  keepContent = true;
  lastUploadCrc = 0;
  lastUploadSize = 0;
  lastMetaBlob: Buffer | null = null;
  /** Called after each upload chunk is read: lets a test hold the storage back. */
  onUploadChunk: ((received: number) => Promise<void>) | null = null;
  /** Make SET_METADATA fail with this errno name. */
  failSetMeta: 'ENOSPC' | 'EINVAL' | null = null;
  /** Canned 22 replies by logic name (bytes as a C storage sent them). */
  readonly fileInfoReplies = new Map<string, Buffer>();
  /** Close instead of answering when a connection's request count reaches this (dead pooled socket). */
  killOnRequest: number | null = null;
  readonly server: PacketServer<FakeStorage>;
  port = 0;
  private seq = 0;

  constructor(readonly ip = '127.0.0.1', readonly group = 'group1', readonly sourceIp = '127.0.0.2') {
    const h = new Map<number, Handler<FakeStorage>>();
    const wrap = (cmd: number, fn: (req: Request) => Promise<Buffer | Buffer[] | void>) => {
      h.set(cmd, async (req) => {
        this.commands.push(cmd);
        const n = ((req.conn.data.requests as number | undefined) ?? 0) + 1;
        req.conn.data.requests = n;
        if (this.killOnRequest !== null && n >= this.killOnRequest) {
          req.conn.destroy();
          return;
        }
        return fn(req);
      });
    };
    wrap(CMD.UPLOAD_FILE, (req) => this.upload(req, false));
    wrap(CMD.UPLOAD_APPENDER_FILE, (req) => this.upload(req, true));
    wrap(CMD.DOWNLOAD_FILE, (req) => this.download(req));
    wrap(CMD.DELETE_FILE, async (req) => {
      const { logicName } = decodeFileRequest(await req.body());
      if (!this.files.delete(logicName)) throw new FdfsError('ENOENT', 'no such file', { subject: logicName });
    });
    wrap(CMD.SET_METADATA, (req) => this.setMeta(req));
    wrap(CMD.GET_METADATA, async (req) => {
      const { logicName } = decodeFileRequest(await req.body());
      const f = this.files.get(logicName);
      if (!f?.meta) throw new FdfsError('ENOENT', 'no metadata');
      return f.meta;
    });
    wrap(CMD.QUERY_FILE_INFO, async (req) => {
      const { logicName } = decodeFileRequest(await req.body());
      const canned = this.fileInfoReplies.get(logicName);
      if (canned) return canned;
      const f = this.files.get(logicName);
      if (!f) throw new FdfsError('ENOENT', 'no such file');
      const noCrc = (req.header.status & 1) !== 0;
      return encodeFileInfoResponse({ size: f.content.length, timestamp: 1700000000, crc32: noCrc ? 0 : crc32(f.content), sourceIp: this.sourceIp }, 16);
    });
    wrap(CMD.APPEND_FILE, async (req) => {
      const fixed = await req.read(16);
      const r = new FieldReader(fixed);
      const nameLen = r.i64();
      const bytes = r.i64();
      const nameBuf = await req.read(nameLen);
      const f = this.files.get(nameBuf.toString('latin1'));
      if (!f) throw new FdfsError('ENOENT', 'no such file');
      // §3.9 quirk of 6.16: a no-op append answers status 0 with the request body echoed.
      if (bytes === 0) return [fixed, nameBuf];
      f.content = Buffer.concat([f.content, await req.read(bytes)]);
    });
    wrap(CMD.TRUNCATE_FILE, async (req) => {
      const body = await req.body();
      const r = new FieldReader(body);
      const nameLen = r.i64();
      const size = r.i64();
      const name = r.text(nameLen);
      const f = this.files.get(name);
      if (!f) throw new FdfsError('ENOENT', 'no such file');
      // Same echo quirk as the no-op append (§3.11).
      if (size === f.content.length) return Buffer.from(body);
      const b = Buffer.alloc(size);
      f.content.copy(b, 0, 0, Math.min(size, f.content.length));
      f.content = b;
    });
    this.server = new PacketServer<FakeStorage>({
      name: 'fake-storage', handlers: h, state: this, networkTimeout: 30, maxBodyLength: 256 * 1024, closeOnEinval: true,
    });
    this.server.on('connection', () => { this.connections++; });
  }

  async start(): Promise<this> {
    this.port = (await this.server.listen(0, this.ip)).port;
    return this;
  }

  close(): Promise<void> {
    return this.server.close(1000);
  }

  /** A normal (or appender) file name of this storage for the given content. */
  nameFor(content: Buffer, ext: string, appender = false): string {
    this.seq++;
    return buildLogicName({
      storePathIndex: 0, high: 0, low: this.seq & 0xff,
      header: {
        source: { ip: this.sourceIp }, timestamp: 1700000000 + this.seq,
        sizeField: makeSizeField(appender ? 'appender' : 'normal', content.length, this.seq), crc32: crc32(content),
      },
      ext7: makeExt7(ext),
    });
  }

  addFile(content: Buffer, ext = 'bin', meta?: Record<string, string>): string {
    const name = this.nameFor(content, ext);
    this.files.set(name, { content, meta: meta ? encodeMetadata(sortMetadata(meta)) : undefined });
    return `${this.group}/${name}`;
  }

  private async upload(req: Request, appender: boolean): Promise<Buffer> {
    const u = decodeUploadRequest(await req.read(15));
    if (u.fileSize !== req.remaining) throw new FdfsError('EINVAL', 'size mismatch');
    const crc = new Crc32();
    const chunks: Buffer[] = [];
    let n = 0;
    while (req.remaining > 0) {
      const c = await req.readSome(1024 * 1024);
      crc.update(c);
      n += c.length;
      this.received += c.length;
      if (this.keepContent) chunks.push(c);
      if (this.onUploadChunk) await this.onUploadChunk(n);
    }
    this.lastUploadCrc = crc.digest();
    this.lastUploadSize = n;
    const content = this.keepContent ? Buffer.concat(chunks) : Buffer.alloc(0);
    this.seq++;
    const name = buildLogicName({
      storePathIndex: Math.max(0, u.storePathIndex), high: 0, low: this.seq & 0xff,
      header: { source: { ip: this.sourceIp }, timestamp: 1700000000 + this.seq, sizeField: makeSizeField(appender ? 'appender' : 'normal', n, this.seq), crc32: crc.digest() },
      ext7: makeExt7(u.ext),
    });
    this.files.set(name, { content });
    return encodeFileIdResponse(this.group, name);
  }

  private async download(req: Request): Promise<void> {
    const d = decodeDownloadRequest(await req.body());
    const f = this.files.get(d.logicName);
    if (!f) throw new FdfsError('ENOENT', 'no such file');
    // §3.4 as 6.16 does it: offset ≥ size is EINVAL, so a 0-byte file cannot be downloaded.
    if (d.offset >= f.content.length) throw new FdfsError('EINVAL', 'offset beyond the end');
    const left = f.content.length - d.offset;
    const n = d.length === 0 ? left : Math.min(d.length, left);
    await req.replyHeader(n);
    for (let off = 0; off < n; off += 64 * 1024) {
      const chunk = f.content.subarray(d.offset + off, d.offset + Math.min(n, off + 64 * 1024));
      const p = req.conn.write(chunk);
      if (p) await p;
      this.sent += chunk.length;
    }
  }

  private async setMeta(req: Request): Promise<void> {
    const m = decodeSetMetadataRequest(await req.body());
    this.lastMetaBlob = Buffer.from(m.blob);
    if (this.failSetMeta) throw new FdfsError(this.failSetMeta, 'set metadata refused');
    const f = this.files.get(m.logicName);
    if (!f) throw new FdfsError('ENOENT', 'no such file');
    const incoming = decodeMetadata(m.blob);
    if (m.flag === 0x4f) {
      f.meta = incoming.length ? encodeMetadata(sortMetadata(incoming)) : undefined;
    } else if (incoming.length) {
      f.meta = encodeMetadata(mergeMetadata(f.meta ? decodeMetadata(f.meta) : [], incoming));
    }
  }
}

export interface FakeTrackerOptions {
  ip?: string;
  /** Where 101–105 point. */
  storage: { ip: string; port: number; group?: string };
  groups?: GroupStat[];
  storages?: StorageStatRecord[];
}

export class FakeTracker {
  readonly commands: number[] = [];
  connections = 0;
  readonly server: PacketServer<FakeTracker>;
  port = 0;
  readonly ip: string;

  constructor(readonly opts: FakeTrackerOptions) {
    this.ip = opts.ip ?? '127.0.0.1';
    const group = opts.storage.group ?? 'group1';
    const h = new Map<number, Handler<FakeTracker>>();
    const on = (cmd: number, fn: (req: Request) => Promise<Buffer | Buffer[] | void>) => {
      h.set(cmd, (req) => { this.commands.push(cmd); return fn(req); });
    };
    const target = () => ({ group, ip: this.opts.storage.ip, port: this.opts.storage.port, storePathIndex: 0 });
    on(CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE, async () => encodeStoreOneResponse(target(), 16));
    on(CMD.SERVICE_QUERY_STORE_WITH_GROUP_ONE, async (req) => {
      const g = new FieldReader(await req.body()).str(16);
      if (g !== group) throw new FdfsError('ENOENT', 'no such group');
      return encodeStoreOneResponse(target(), 16);
    });
    const fetch = async (req: Request) => {
      const f = decodeFileRequest(await req.body());
      if (f.group !== group) throw new FdfsError('ENOENT', 'no such group');
      return encodeFetchResponse({ group, servers: [{ ip: this.opts.storage.ip, port: this.opts.storage.port }] }, 16);
    };
    on(CMD.SERVICE_QUERY_FETCH_ONE, fetch);
    on(CMD.SERVICE_QUERY_UPDATE, fetch);
    on(CMD.SERVICE_QUERY_FETCH_ALL, fetch);
    on(CMD.SERVER_LIST_ALL_GROUPS, async () => (this.opts.groups ?? []).map((g) => encodeGroupStat(g)));
    on(CMD.SERVER_LIST_ONE_GROUP, async (req) => {
      const g = new FieldReader(await req.body()).str(16);
      const found = (this.opts.groups ?? []).find((x) => x.group_name === g);
      if (!found) throw new FdfsError('ENOENT', 'no such group');
      return encodeGroupStat(found);
    });
    on(CMD.SERVER_LIST_STORAGE, async (req) => {
      const body = await req.body();
      const g = new FieldReader(body).str(16);
      if (!(this.opts.groups ?? []).some((x) => x.group_name === g)) throw new FdfsError('ENOENT', 'no such group');
      return (this.opts.storages ?? []).map((s) => encodeStorageStatRecord(s, 16));
    });
    this.server = new PacketServer<FakeTracker>({
      name: 'fake-tracker', handlers: h, state: this, networkTimeout: 30, maxBodyLength: 256 * 1024, closeOnEinval: false,
    });
    this.server.on('connection', () => { this.connections++; });
  }

  async start(): Promise<this> {
    this.port = (await this.server.listen(0, this.ip)).port;
    return this;
  }

  get address(): string { return `${this.ip}:${this.port}`; }

  close(): Promise<void> {
    return this.server.close(1000);
  }
}

export function groupStat(name = 'group1', more: Partial<GroupStat> = {}): GroupStat {
  return {
    group_name: name, total_mb: 258019, free_mb: 80016, reserved_mb: 51603, trunk_free_mb: 0, storage_count: 1,
    storage_port: 23000, readable_server_count: 1, writable_server_count: 1, current_write_server: 0,
    store_path_count: 1, subdir_count_per_path: 256, current_trunk_file_id: -1, ...more,
  };
}

export function storageRecord(ip: string, port: number, more: Partial<StorageStatRecord> = {}): StorageStatRecord {
  const stat = emptyStorageStat();
  stat.last_heart_beat_time = Math.floor(Date.now() / 1000) - 3;
  return {
    status: 7, rw_mode: 6, id: ip, ip_addr: ip, src_id: '', version: '6.16.1', join_time: 1700000000, up_time: 1700000000,
    total_mb: 258019, free_mb: 80016, reserved_mb: 51603, upload_priority: 10, store_path_count: 1, subdir_count_per_path: 256,
    current_write_path: 0, storage_port: port, stat, if_trunk_server: false, ...more,
  };
}

/** A port on which nothing listens (bound, then released). */
export async function closedPort(ip = '127.0.0.1'): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, ip, () => {
      const p = (s.address() as import('node:net').AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Poll until fn() is truthy, at most timeoutMs. */
export async function waitUntil(what: string, fn: () => boolean, timeoutMs = 10000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
