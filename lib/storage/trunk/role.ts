import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConnectionPool } from '../../client/pool.ts';
import type { ReservedSpace } from '../../config/values.ts';
import { CMD, STORAGE_STATUS } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { StorageBrief } from '../../protocol/records.ts';
import type { Logger } from '../../util/log.ts';
import type { FileNameGenerator } from '../file-names.ts';
import type { StorePaths } from '../store-paths.ts';
import { TrunkAllocator } from './allocator.ts';
import { formatTrunkLine } from './binlog-line.ts';
import { truncateTrunkBinlog } from './binlog-truncate.ts';
import { TrunkBinlog } from './binlog-writer.ts';
import { compressTrunkBinlog, deleteMarks, repairCompression } from './compress.ts';
import type { TrunkFlagStore } from './flag-store.ts';
import { GridTask } from './grid-task.ts';
import { loadAllocator } from './loader.ts';
import { precreateTrunkFiles } from './precreate.ts';
import { RemoteSlots } from './remote-slots.ts';
import { saveTrunkSnapshot } from './save.ts';
import { snapshotPath } from './snapshot.ts';
import { TrunkSyncSender, trunkMarkName } from './sync-sender.ts';
import { createTrunkFile } from './trunk-file-ids.ts';
import type { SlotAllocator, TrunkParameters, TrunkService } from './types.ts';

// The trunk server role on a storage (PROTOCOL.md §11.5 storage reaction, §11.7, §11.9, §11.10):
// the trunk binlog every member keeps, becoming and ceasing to be the group's trunk server, the
// allocator with its snapshot and scheduled tasks, and one trunk-sync sender per other member.

const MB = 1024 * 1024;

export interface TrunkSelf {
  id: string;
  ips: readonly string[];
  port: number;
  useStorageId: boolean;
  group: string;
}

export interface TrunkRoleOptions {
  dataDir: string;
  storePaths: StorePaths;
  names: FileNameGenerator;
  /** file_distribute_path_mode (§6.5). */
  pathMode: 0 | 1;
  flags: TrunkFlagStore;
  log: Logger;
  /** Process start, unix s (the snapshot on role loss needs ≥ 3600 s of run time, §11.10). */
  upTime: number;
  self(): TrunkSelf;
  reserve(): ReservedSpace;
  /** 72/73 on the report connection of tracker `line` (reporter/trunk.ts). */
  trackerCall?(line: string, cmd: number, body?: Buffer): Promise<Buffer>;
  dial: { connectTimeout?: number; networkTimeout?: number; localAddress?: string };
  heartBeatMs: number;
  syncWaitMs: number;
  syncIntervalMs: number;
}

/** Where 27–29 go (§11.5: the brief of the last change-push with flag 2). */
export interface TrunkServerAddress {
  id: string;
  ip: string;
  port: number;
}

function senderKey(m: StorageBrief): string {
  return `${m.id}|${m.ip}|${m.port}`;
}

export class TrunkRole implements TrunkService {
  readonly o: TrunkRoleOptions;
  params: TrunkParameters | null = null;
  binlog: TrunkBinlog | null = null;
  /** Loaded allocator; null unless this storage is the trunk server and loading succeeded. */
  allocator: TrunkAllocator | null = null;
  isTrunkServer = false;
  trunkServer: TrunkServerAddress | null = null;
  readonly slots: SlotAllocator;
  private readonly senders = new Map<string, TrunkSyncSender>();
  private tasks: GridTask[] = [];
  private members: StorageBrief[] = [];
  private changes: Promise<void> = Promise.resolve();
  private compressing: Promise<void> | null = null;
  private lastCompressedSize = -1;
  private readonly pool: ConnectionPool;
  private stopped = false;

  constructor(o: TrunkRoleOptions) {
    this.o = o;
    this.pool = new ConnectionPool({ connectTimeout: o.dial.connectTimeout, networkTimeout: o.dial.networkTimeout, localAddress: o.dial.localAddress });
    this.slots = new RemoteSlots(this, this.pool);
  }

  get snapshotFile(): string { return snapshotPath(this.o.dataDir); }
  get trunkDir(): string { return path.join(this.o.dataDir, 'trunk'); }

  /** 75 said use_trunk_file (§11.7): open `data/trunk/binlog`, repair an unfinished compression. */
  async configure(params: TrunkParameters): Promise<void> {
    this.params = params;
    if (this.binlog) return;
    const binlog = new TrunkBinlog(this.o.dataDir, this.o.log.child('trunk-binlog'));
    await binlog.open();
    this.binlog = binlog;
    await repairCompression({ dataDir: this.o.dataDir, binlog, flags: this.o.flags, log: this.o.log });
  }

  /** §11.5: whether a brief names this storage (same id, or one of our IPs with our port). */
  isSelf(b: { id: string; ip: string; port: number }): boolean {
    const me = this.o.self();
    return (b.id !== '' && b.id === me.id) || (me.ips.includes(b.ip) && b.port === me.port);
  }

  /** A change-push with flag 2 from the leader (§11.5 storage reaction). Serialised. */
  onTrunkServer(brief: StorageBrief, trackerLine: string): Promise<void> {
    const run = this.changes.then(() => this.applyTrunkServer(brief, trackerLine));
    this.changes = run.catch((err: Error) => this.o.log('error', `trunk server change: ${err.message}`));
    return run;
  }

  private async applyTrunkServer(brief: StorageBrief, trackerLine: string): Promise<void> {
    if (this.stopped || !this.params) return;
    if (brief.ip === '' && brief.id === '') {
      // The group has no trunk server now: 27–29 wait (EAGAIN); a role we hold stays until another is named.
      if (!this.isTrunkServer) this.trunkServer = null;
      return;
    }
    const self = this.isSelf(brief);
    this.trunkServer = { id: brief.id, ip: brief.ip, port: brief.port };
    if (self && !this.isTrunkServer) await this.become(trackerLine);
    else if (!self && this.isTrunkServer) await this.resign(trackerLine);
  }

  /**
   * A storage running without trackers (StorageServer option `reporter: false`, tests) is its own
   * group's trunk server: nobody else could hand out slots.
   */
  becomeStandalone(): Promise<void> {
    const run = this.changes.then(async () => {
      if (this.stopped || !this.params || this.isTrunkServer) return;
      const me = this.o.self();
      this.trunkServer = { id: me.id, ip: me.ips[0] ?? '', port: me.port };
      await this.become('');
    });
    this.changes = run.catch((err: Error) => this.o.log('error', `trunk server role: ${err.message}`));
    return run;
  }

  private async become(trackerLine: string): Promise<void> {
    const o = this.o;
    o.log('info', 'this storage is now the trunk server of its group');
    if (o.trackerCall && trackerLine !== '') {
      try {
        const reply = await o.trackerCall(trackerLine, CMD.STORAGE_FETCH_TRUNK_FID);
        const id = reply.length >= 4 ? reply.readInt32BE(0) : 0;
        if (id > o.flags.flag.current_trunk_file_id) {
          o.flags.flag.current_trunk_file_id = id;
          await o.flags.save();
        }
      } catch (err) {
        o.log('warn', `FETCH_TRUNK_FID: ${(err as Error).message}`);
      }
    }
    this.isTrunkServer = true;
    await this.loadAllocator();
    if (!this.allocator) return;
    for (const m of this.members) this.ensureSender(m);
    this.schedule();
  }

  /** Load the allocator (§11.7): on failure it stays null and 27–29 get EINVAL. */
  async loadAllocator(): Promise<void> {
    const params = this.params!;
    const binlog = this.binlog!;
    const a = new TrunkAllocator({
      params,
      storePathCount: this.o.storePaths.count,
      record: (op, slot) => binlog.append(formatTrunkLine(Math.floor(Date.now() / 1000), op, slot)),
      newTrunkFile: (p) => createTrunkFile({
        storePaths: this.o.storePaths, names: this.o.names, pathMode: this.o.pathMode, trunkFileSize: params.trunkFileSize,
        ids: { current: () => this.o.flags.flag.current_trunk_file_id, save: async (id) => { this.o.flags.flag.current_trunk_file_id = id; await this.o.flags.save(); } },
      }, p),
    });
    const started = Date.now();
    try {
      await binlog.flush();
      const r = await loadAllocator({
        allocator: a, params, binlogFile: binlog.file, snapshotFile: this.snapshotFile, storePaths: this.o.storePaths, log: this.o.log,
      });
      this.allocator = a;
      this.o.log('info', `trunk allocator loaded (${r.mode}, ${r.replayed} binlog records) in ${Date.now() - started} ms: ${a.blockCount} free blocks, ${a.totalFreeBytes} bytes`);
      // §11.10: saved after a load that replayed records (when compression is not scheduled), and
      // after a load whose snapshot offset lay beyond the binlog end.
      if (r.offsetBeyondEnd || (params.compressBinlogInterval === 0 && r.replayed > 0)) await this.save();
    } catch (err) {
      this.o.log('error', `cannot load the trunk allocator: ${(err as Error).message}`);
    }
  }

  private async resign(trackerLine: string): Promise<void> {
    const o = this.o;
    o.log('info', `the trunk server role moved to ${this.trunkServer?.id || this.trunkServer?.ip}`);
    if (o.trackerCall && trackerLine !== '') {
      const b = Buffer.alloc(4);
      b.writeInt32BE(o.flags.flag.current_trunk_file_id | 0);
      await o.trackerCall(trackerLine, CMD.STORAGE_REPORT_TRUNK_FID, b).catch(() => {});
    }
    await this.dropRole();
  }

  private async dropRole(): Promise<void> {
    this.isTrunkServer = false;
    await Promise.all([...this.senders.values()].map((s) => s.stop()));
    this.senders.clear();
    await Promise.all(this.tasks.map((t) => t.stop()));
    this.tasks = [];
    await this.compressing;
    const p = this.params;
    if (this.allocator && p && p.compressBinlogInterval === 0 && Math.floor(Date.now() / 1000) - this.o.upTime >= 3600) {
      await this.save().catch((err: Error) => this.o.log('warn', `trunk snapshot: ${err.message}`));
    }
    this.allocator = null;
  }

  /** The group's member list (change-push): a sender for each new member while trunk server. */
  onMembers(members: readonly StorageBrief[]): void {
    this.members = [...members];
    if (!this.isTrunkServer || !this.allocator) return;
    // A member deleted (or gone from the list) loses its sender.
    const wanted = new Set(members.filter((m) => this.wantsSender(m)).map(senderKey));
    for (const [key, sender] of this.senders) {
      if (wanted.has(key)) continue;
      this.senders.delete(key);
      void sender.stop();
    }
    for (const m of members) this.ensureSender(m);
  }

  /** §11.7: every member other than ourselves and not DELETED / IP_CHANGED / NONE. */
  private wantsSender(m: StorageBrief): boolean {
    return !this.isSelf(m) && m.status !== STORAGE_STATUS.DELETED && m.status !== STORAGE_STATUS.IP_CHANGED && m.status !== STORAGE_STATUS.NONE;
  }

  private ensureSender(m: StorageBrief): void {
    if (!this.binlog || !this.wantsSender(m)) return;
    const key = senderKey(m);
    if (this.senders.has(key)) return;
    const peer = { id: m.id, ip: m.ip, port: m.port };
    const sender = new TrunkSyncSender({
      peer, binlog: this.binlog, markFile: path.join(this.trunkDir, trunkMarkName(peer, this.o.self().useStorageId)),
      dial: this.o.dial, heartBeatMs: this.o.heartBeatMs, syncWaitMs: this.o.syncWaitMs, syncIntervalMs: this.o.syncIntervalMs,
      log: this.o.log.child('trunk-sync'),
    });
    this.senders.set(key, sender);
    sender.start();
  }

  /**
   * After a confirm that keeps a slot used (28 with 0 / EEXIST): the trunk binlog up to here is
   * written and every member with a live trunk-sync session has it, before the upload is
   * acknowledged. A trunk server killed right after would otherwise take its last allocations along
   * (the binlog is buffered up to 1 s, then sent): the member chosen next would count those slots
   * free and hand them out again while their files still exist — two names on one slot (§11.5 "no
   * hand-over", §11.7). Members without a session (down, reconnecting) are not waited for.
   */
  async replicated(): Promise<void> {
    const binlog = this.binlog;
    if (!binlog || !this.isTrunkServer || this.senders.size === 0) return;
    const target = binlog.size;
    await binlog.flush();
    await Promise.all([...this.senders.values()].map((s) => s.reached(target)));
  }

  /** Trunk-sync senders (tests, monitoring). */
  get syncSenders(): TrunkSyncSender[] { return [...this.senders.values()]; }

  private schedule(): void {
    const p = this.params!;
    if (p.createFileAdvance && p.createFileInterval > 0) {
      this.tasks.push(new GridTask(p.createFileTimeBase, p.createFileInterval, () => this.precreate().then(() => {}), this.o.log, 'trunk pre-creation'));
    }
    if (p.compressBinlogInterval > 0) {
      this.tasks.push(new GridTask(p.compressBinlogTimeBase, p.compressBinlogInterval, () => this.scheduledCompress(), this.o.log, 'trunk binlog compression'));
    }
    for (const t of this.tasks) t.start();
  }

  /** §11.9 pre-creation; returns the number of trunk files created. */
  precreate(): Promise<number> {
    const a = this.requireAllocator();
    return precreateTrunkFiles({
      allocator: a, params: this.params!, storePaths: this.o.storePaths, reserve: this.o.reserve(), log: this.o.log,
    });
  }

  /** §11.10 scheduled compression: not within 600 s of start, not when the binlog did not change. */
  private async scheduledCompress(): Promise<void> {
    if (Math.floor(Date.now() / 1000) - this.o.upTime < 600) return;
    if (this.binlog && this.binlog.size === this.lastCompressedSize) return;
    await this.compress();
  }

  /** Compress the trunk binlog now (§11.10); members restart their copy at offset 0. */
  compress(): Promise<void> {
    this.compressing ??= (async () => {
      try {
        await compressTrunkBinlog({
          dataDir: this.o.dataDir, binlog: this.binlog!, flags: this.o.flags, log: this.o.log,
          saveSnapshot: () => this.writeSnapshot(),
        });
        this.lastCompressedSize = this.binlog!.size;
        for (const s of this.senders.values()) s.restart();
      } finally {
        this.compressing = null;
      }
    })();
    return this.compressing;
  }

  /**
   * storage_trunk_save (§11.10): a compression when trunk_compress_binlog_min_interval has passed
   * since the last one, otherwise the snapshot (skipped while a compression runs).
   */
  async save(): Promise<void> {
    const p = this.params;
    if (!p || !this.allocator) return;
    const now = Math.floor(Date.now() / 1000);
    if (p.compressBinlogMinInterval > 0 && now - this.o.flags.flag.trunk_last_compress_time > p.compressBinlogMinInterval) {
      await this.compress();
      return;
    }
    if (this.compressing) return;
    await this.writeSnapshot();
  }

  private writeSnapshot(): Promise<void> {
    // Not requireAllocator(): the role may be on its way out (the snapshot written when it is lost).
    if (!this.allocator) return Promise.reject(new FdfsError('EINVAL', 'no trunk allocator loaded'));
    return saveTrunkSnapshot({
      allocator: this.allocator, params: this.params!, binlog: this.binlog!, snapshotFile: this.snapshotFile,
      storePaths: this.o.storePaths, log: this.o.log,
    });
  }

  requireAllocator(): TrunkAllocator {
    if (!this.isTrunkServer || !this.allocator) throw new FdfsError('EINVAL', 'this storage is not the trunk server (or its allocator is not loaded)');
    return this.allocator;
  }

  /** §11.5: what the report loop sends with 73/74 while trunk server. */
  trunkReport(): { fileId: number; freeMb: number } | null {
    if (!this.isTrunkServer || !this.allocator) return null;
    return { fileId: this.o.flags.flag.current_trunk_file_id, freeMb: Math.floor(this.allocator.totalFreeBytes / MB) };
  }

  // ---- member side: 30–33 ----

  private requireBinlog(): TrunkBinlog {
    if (!this.params || !this.binlog) throw new FdfsError('EINVAL', 'use_trunk_file is off');
    return this.binlog;
  }

  /** 30: append the bytes unparsed (EINVAL: empty, trunk mode off, we are the trunk server). */
  appendSynced(body: Uint8Array): void {
    const b = this.requireBinlog();
    if (body.length === 0) throw new FdfsError('EINVAL', 'TRUNK_SYNC_BINLOG with an empty body');
    if (this.isTrunkServer) throw new FdfsError('EINVAL', 'TRUNK_SYNC_BINLOG to the trunk server itself');
    b.append(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }

  /** 31: size of data/trunk/binlog. */
  binlogSize(): number {
    return this.requireBinlog().size;
  }

  /** 32: forget the snapshot and every mark, so the allocator is rebuilt and members resynced. */
  async deleteBinlogMarks(): Promise<void> {
    const b = this.requireBinlog();
    if (this.isTrunkServer) throw new FdfsError('EINVAL', 'TRUNK_DELETE_BINLOG_MARKS to the trunk server itself');
    await fs.rm(this.snapshotFile, { force: true });
    await deleteMarks(b.dir);
  }

  /** 33: empty our copy of the trunk binlog (keeping backups per trunk_binlog_max_backups). */
  async truncateBinlog(): Promise<void> {
    const b = this.requireBinlog();
    if (this.isTrunkServer) throw new FdfsError('EINVAL', 'TRUNK_TRUNCATE_BINLOG_FILE to the trunk server itself');
    await truncateTrunkBinlog(b, this.snapshotFile, this.params!.binlogMaxBackups);
  }

  /** Storage stop: role tasks end, the snapshot is saved per §11.10, the binlog flushed. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.changes;
    if (this.isTrunkServer) await this.dropRole();
    this.pool.close();
    await this.binlog?.close();
  }
}
