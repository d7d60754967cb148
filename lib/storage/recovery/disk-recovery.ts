import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../../protocol/errno.ts';
import { parseLogicName } from '../../protocol/filename.ts';
import type { ClientConnection } from '../../net/client-connection.ts';
import type { Logger } from '../../util/log.ts';
import { parseBinlogLine, type BinlogRecord } from '../binlog.ts';
import { trunkFileName } from '../trunk/trunk-file.ts';
import { parseTrunkName } from '../trunk/trunk-name.ts';
import type { StorePaths } from '../store-paths.ts';
import type { TrackerDialOptions, TrackerEndpoint } from '../tracker-session.ts';
import { readLinesFrom } from './binlog-lines.ts';
import { connectPeer, downloadTo, fetchPathBinlog, type PeerDial } from './peer-fetch.ts';
import { RecoveryFiles, time33, type RecoveryFlag } from './recovery-files.ts';
import {
  askOwnStatus, findSourcePeer, reportOwnStatus, servingStatus, worthRecovering, type PeerAddress, type RecoverySelf,
} from './source-peer.ts';

// Disk recovery (PROTOCOL.md §5.11): a store path whose disk was replaced is rebuilt from a peer
// before the storage serves anything — RECOVERY reported to the trackers, the peer's binlog of that
// path (26), every file copied and checked, resumable after a crash through the work files.

/**
 * §5.11 trigger, checked before the store paths' directories are created: the storage was set up
 * before (`.data_init_flag` existed, initial sync done) and `<store_path>/data` is gone, or an
 * unfinished recovery left its flag file.
 */
export async function storePathsToRecover(storePaths: readonly string[], initialised: boolean, syncOldDone: boolean): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < storePaths.length; i++) {
    const data = path.join(storePaths[i]!, 'data');
    const dataExists = await fs.stat(data).then((s) => s.isDirectory(), () => false);
    if (!dataExists) {
      if (initialised && syncOldDone) out.push(i);
      continue;
    }
    if (await new RecoveryFiles(data).readFlag()) out.push(i);
  }
  return out;
}

/** Written as soon as the empty data directory exists, so a crash before the fetch still resumes. */
export async function markRecoveryPending(dataDir: string): Promise<void> {
  const files = new RecoveryFiles(dataDir);
  if (await files.readFlag()) return;
  await files.writeFlag({ savedStorageStatus: -1, fetchBinlogDone: false, recoveryThreads: -1 });
}

export interface DiskRecoveryOptions {
  storePathIndex: number;
  storePaths: StorePaths;
  self: RecoverySelf;
  trackers: readonly TrackerEndpoint[];
  dial: TrackerDialOptions;
  peerDial: PeerDial;
  /** disk_recovery_threads. */
  threads: number;
  log: Logger;
  signal: AbortSignal;
  /** Retry pauses (ms); tests shorten them. C waits 5 s, and 1 s between status rounds. */
  waitMs?: number;
  /** Accept the trackers that answer once one has been unreachable this long (ms). */
  trackerPatienceMs?: number;
  /**
   * Rewrite a thread's mark after this many records or this many ms. C waits for 1000 records; we
   * default to 100 or 1 s, so a killed recovery repeats at most a second of downloads.
   */
  markEvery?: number;
  markEveryMs?: number;
}

export interface RecoveryResult {
  /** 'skipped': nothing to recover from (unknown to the trackers, INIT, deleted, no peer). */
  outcome: 'recovered' | 'skipped';
  files: number;
  links: number;
  /** Files the peer no longer had (deleted since its binlog was read). */
  missing: number;
  bytes: number;
}

/** How often a record whose copy does not match its name is retried (other peers may be picked). */
const MISMATCH_TRIES = 3;

export class DiskRecovery {
  private readonly o: DiskRecoveryOptions;
  private readonly files: RecoveryFiles;
  private readonly dataDir: string;
  private readonly waitMs: number;
  private readonly result: RecoveryResult = { outcome: 'recovered', files: 0, links: 0, missing: 0, bytes: 0 };

  constructor(opts: DiskRecoveryOptions) {
    this.o = opts;
    this.dataDir = opts.storePaths.dataDir(opts.storePathIndex);
    this.files = new RecoveryFiles(this.dataDir);
    this.waitMs = opts.waitMs ?? 5000;
  }

  private get label(): string { return `store_path${this.o.storePathIndex}`; }

  private async pause(ms = this.waitMs): Promise<void> {
    await sleep(ms, undefined, { signal: this.o.signal }).catch(() => {});
    this.checkAborted();
  }

  private checkAborted(): void {
    if (this.o.signal.aborted) throw new FdfsError('ENOTCONN', `disk recovery of ${this.label} interrupted; it resumes at the next start`);
  }

  async run(): Promise<RecoveryResult> {
    await this.files.migrateLegacy();
    let flag = await this.files.readFlag() ?? { savedStorageStatus: -1, fetchBinlogDone: false, recoveryThreads: -1 };
    if (!flag.fetchBinlogDone) {
      const prepared = await this.prepare();
      if (!prepared) {
        await this.files.removeAll();
        return { ...this.result, outcome: 'skipped' };
      }
      flag = prepared;
    } else {
      // A resumed recovery: the trackers must still see RECOVERY (a tracker restarted meanwhile forgot it).
      await this.reportUntilAccepted(ST.RECOVERY);
    }
    flag = await this.spread(flag);
    await Promise.all(Array.from({ length: flag.recoveryThreads }, (_, i) => this.restoreThread(i)));
    await this.reportUntilAccepted(flag.savedStorageStatus >= 0 ? flag.savedStorageStatus : ST.RECOVERY);
    await this.files.removeAll();
    const r = this.result;
    this.o.log('info', `disk recovery of ${this.label} done: ${r.files} files (${r.bytes} bytes), ${r.links} links, ${r.missing} gone at the source`);
    return r;
  }

  // ---- preparation (§5.11 steps 1–6) ----

  private async prepare(): Promise<RecoveryFlag | null> {
    await this.files.writeFlag({ savedStorageStatus: -1, fetchBinlogDone: false, recoveryThreads: -1 });
    await fs.writeFile(this.files.binlogFile(0), '');
    const status = await this.ownStatus();
    if (status === null || !worthRecovering(status)) {
      this.o.log('info', `${this.label} is empty but the trackers ${status === null ? 'do not know this storage' : `see it ${storageStatusName(status)}`}: nothing to recover`);
      return null;
    }
    for (;;) {
      const peer = await this.sourcePeer();
      if (!peer) return null;
      await this.reportUntilAccepted(ST.RECOVERY);
      this.o.log('info', `disk recovery of ${this.label}: fetching its binlog from ${peer.host}:${peer.port}`);
      try {
        const n = await fetchPathBinlog(peer, this.o.peerDial, this.o.self.group, this.o.storePathIndex, this.files.binlogFile(0));
        this.o.log('info', `disk recovery of ${this.label}: ${n} bytes of binlog from ${peer.host}:${peer.port}`);
        break;
      } catch (err) {
        this.checkAborted();
        this.o.log('warn', `disk recovery of ${this.label}: fetching the binlog from ${peer.host}:${peer.port} failed: ${(err as Error).message}; retrying`);
        await this.pause();
      }
    }
    await this.rewriteFetched();
    const flag = { savedStorageStatus: status, fetchBinlogDone: true, recoveryThreads: 1 };
    await this.files.writeFlag(flag);
    return flag;
  }

  /** §5.11 step 2a, repeated while a tracker cannot be asked. null: unknown to every tracker. */
  private async ownStatus(): Promise<number | null> {
    const since = Date.now();
    const patience = this.o.trackerPatienceMs ?? 30_000;
    for (;;) {
      const a = await askOwnStatus(this.o.trackers, this.o.dial, this.o.self, Date.now() - since > patience);
      if (a.kind === 'status') return a.status;
      if (a.kind === 'unknown') return null;
      this.o.log('warn', `disk recovery of ${this.label}: cannot ask every tracker for our status (${a.error.message}); retrying`);
      await this.pause(Math.min(this.waitMs, 1000));
    }
  }

  /** §5.11 step 2b, waiting while the group has no ACTIVE readable peer. null: no recovery possible. */
  private async sourcePeer(): Promise<PeerAddress | null> {
    let said = '';
    for (;;) {
      const a = await findSourcePeer(this.o.trackers, this.o.dial, this.o.self);
      if (a.kind === 'peer') return a.peer;
      if (a.kind === 'none') {
        this.o.log('warn', `disk recovery of ${this.label}: ${a.reason}; nothing to recover from`);
        return null;
      }
      if (a.reason !== said) this.o.log('info', `disk recovery of ${this.label} waits: ${a.reason}`);
      said = a.reason;
      await this.pause();
    }
  }

  private async reportUntilAccepted(status: number): Promise<void> {
    for (;;) {
      if (await reportOwnStatus(this.o.trackers, this.o.dial, this.o.self, status)) break;
      this.o.log('warn', `disk recovery of ${this.label}: no tracker accepted status ${storageStatusName(status)}; retrying`);
      await this.pause();
    }
    if (status === ST.RECOVERY) await this.untilNotServing();
  }

  /**
   * §4.10: a tracker that still lists us ONLINE/ACTIVE ignores the RECOVERY report and would send
   * readers here — it has not noticed yet that the old process is gone (no FIN after a power loss).
   * It will once the heartbeat times out; then the report is applied.
   */
  private async untilNotServing(): Promise<void> {
    for (let said = false; ;) {
      const serving = await servingStatus(this.o.trackers, this.o.dial, this.o.self);
      if (serving === null) return;
      if (!said) this.o.log('info', `disk recovery of ${this.label}: a tracker still lists this storage ${storageStatusName(serving)}; waiting until it does not`);
      said = true;
      await this.pause(Math.min(this.waitMs, 1000));
      await reportOwnStatus(this.o.trackers, this.o.dial, this.o.self, ST.RECOVERY);
    }
  }

  /**
   * §5.11 step 5: the fetched lines again as `<ts> <op> <name>[ <target>]`, checked to be
   * C/c/L/l records of this path; a trunk name is kept only for the first record of its trunk file,
   * those records last, ordered by (sub dirs, trunk id): copyFile fetches the whole trunk file once.
   */
  private async rewriteFetched(): Promise<void> {
    const tmp = this.files.binlogTmpFile(0);
    const out = await fs.open(tmp, 'w', 0o644);
    try {
      let buf: string[] = [];
      const trunks = new Map<string, { t: { subPathHigh: number; subPathLow: number; trunkId: number }; line: string }>();
      for await (const { line } of readLinesFrom(this.files.binlogFile(0), 0)) {
        const r = parseBinlogLine(line);
        if (!r || !'CcLl'.includes(r.op)) {
          this.o.log('warn', `disk recovery of ${this.label}: skipping binlog line ${JSON.stringify(line.slice(0, 80))}`);
          continue;
        }
        const t = parseTrunkName(r.name)?.slot;
        if (t) {
          const key = [t.storePathIndex, t.subPathHigh, t.subPathLow, t.trunkId].join(' ');
          if (!trunks.has(key)) trunks.set(key, { t, line: `${r.timestamp} ${r.op} ${r.name}\n` });
          continue;
        }
        buf.push(r.extra ? `${r.timestamp} ${r.op} ${r.name} ${r.extra}\n` : `${r.timestamp} ${r.op} ${r.name}\n`);
        if (buf.length >= 1000) { await out.write(buf.join(''), null, 'latin1'); buf = []; }
      }
      const order = [...trunks.values()].sort((a, b) => a.t.subPathHigh - b.t.subPathHigh || a.t.subPathLow - b.t.subPathLow || a.t.trunkId - b.t.trunkId);
      buf.push(...order.map((o) => o.line));
      if (buf.length) await out.write(buf.join(''), null, 'latin1');
      await out.sync();
    } finally {
      await out.close();
    }
    await fs.rename(tmp, this.files.binlogFile(0));
    await this.files.writeMark(0, 0);
  }

  // ---- restore (§5.11) ----

  /**
   * Restore step 2: when disk_recovery_threads differs from the flag's count, the records not
   * handled yet are spread again over `threads` binlogs by the Time33 hash of the second name
   * (link target) or else the name, so a link and its target land in the same thread.
   */
  private async spread(flag: RecoveryFlag): Promise<RecoveryFlag> {
    const want = Math.max(1, this.o.threads);
    if (flag.recoveryThreads === want) return flag;
    const old = Math.max(1, flag.recoveryThreads);
    const outs = await Promise.all(Array.from({ length: want }, (_, i) => fs.open(this.files.binlogTmpFile(i), 'w', 0o644)));
    try {
      for (let i = 0; i < old; i++) {
        const from = await this.files.readMark(i);
        for await (const { line } of readLinesFrom(this.files.binlogFile(i), from)) {
          const r = parseBinlogLine(line);
          const key = r ? (r.extra && 'Ll'.includes(r.op) ? r.extra : r.name) : line;
          await outs[time33(key) % want]!.write(`${line}\n`, null, 'latin1');
        }
      }
      for (const o of outs) await o.sync();
    } finally {
      for (const o of outs) await o.close();
    }
    for (let i = 0; i < want; i++) {
      await fs.rename(this.files.binlogTmpFile(i), this.files.binlogFile(i));
      await this.files.writeMark(i, 0);
    }
    for (let i = want; i < old; i++) {
      await fs.rm(this.files.binlogFile(i), { force: true });
      await fs.rm(this.files.markFile(i), { force: true });
    }
    const next = { ...flag, recoveryThreads: want };
    await this.files.writeFlag(next);
    return next;
  }

  /** Restore step 3 for one thread: every record of its binlog from its mark. */
  private async restoreThread(index: number): Promise<void> {
    const file = this.files.binlogFile(index);
    const markEvery = this.o.markEvery ?? 100;
    const markEveryMs = this.o.markEveryMs ?? 1000;
    let offset = await this.files.readMark(index);
    if (offset > 0) this.o.log('info', `disk recovery of ${this.label}: thread ${index} resumes at byte ${offset} of its binlog`);
    let conn: ClientConnection | null = null;
    let sinceMark = 0;
    let markedAt = Date.now();
    const saveMark = async () => {
      await this.files.writeMark(index, offset);
      sinceMark = 0;
      markedAt = Date.now();
    };
    try {
      outer: for (;;) {
        try {
          for await (const { line, end } of readLinesFrom(file, offset)) {
            this.checkAborted();
            const r = parseBinlogLine(line);
            if (!r) throw new FdfsError('EINVAL', `unreadable recovery record ${JSON.stringify(line.slice(0, 80))}`, { subject: file });
            if (r.op === 'C' || r.op === 'c') {
              conn ??= await this.connectSource();
              await this.copyFile(conn, r);
            } else if (r.op === 'L' || r.op === 'l') {
              await this.makeLink(r);
            } else {
              throw new FdfsError('EINVAL', `recovery record with op ${r.op}`, { subject: file });
            }
            offset = end;
            if (++sinceMark >= markEvery || Date.now() - markedAt >= markEveryMs) await saveMark();
          }
          break outer;
        } catch (err) {
          const e = toFdfsError(err, file);
          if (e.code === 'EINVAL' || this.o.signal.aborted) throw e;
          this.o.log('warn', `disk recovery of ${this.label}: ${e.message}; retrying in ${this.waitMs / 1000} s`);
          conn?.destroy();
          conn = null;
          await saveMark();
          await this.pause();
        }
      }
    } finally {
      conn?.quit();
      await saveMark().catch(() => {});
    }
  }

  private async connectSource(): Promise<ClientConnection> {
    const peer = await this.sourcePeer();
    if (!peer) throw new FdfsError('ENOENT', 'the group has no peer to recover from any more');
    return connectPeer(peer, this.o.peerDial);
  }

  private localPath(name: string): string {
    const p = parseLogicName(name);
    const sp = this.o.storePaths;
    if (!p || p.storePathIndex >= sp.count || p.high >= sp.subdirCount || p.low >= sp.subdirCount || p.base.startsWith('.')) {
      throw new FdfsError('EINVAL', 'invalid file name in recovery binlog', { subject: name });
    }
    return sp.filePath(p.storePathIndex, p.high, p.low, p.base);
  }

  private mismatches = new Map<string, number>();

  /** C/c: download into a dot-named temp file (never served), mtime = record time, rename. */
  private async copyFile(conn: ClientConnection, record: BinlogRecord): Promise<void> {
    // §5.11 restore step 3: a trunk name stands for its whole trunk file, `Mxx/HH/HH/<6-digit id>`,
    // which the source serves as an ordinary file (the name is not 60 characters).
    const t = parseTrunkName(record.name)?.slot;
    const hh = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
    const r = t ? { ...record, name: `M${hh(t.storePathIndex)}/${hh(t.subPathHigh)}/${hh(t.subPathLow)}/${trunkFileName(t.trunkId)}` } : record;
    const local = this.localPath(r.name);
    const tmp = path.join(path.dirname(local), `.${path.basename(local)}.recovery.tmp`);
    let size: number | null;
    try {
      size = await downloadTo(conn, this.o.self.group, r.name, tmp);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      const e = toFdfsError(err, r.name);
      if (e.code === 'EIO' && /does not match its name/.test(e.message)) {
        const n = (this.mismatches.get(r.name) ?? 0) + 1;
        this.mismatches.set(r.name, n);
        if (n >= MISMATCH_TRIES) {
          this.o.log('error', `disk recovery of ${this.label}: every copy of ${r.name} fetched was damaged; left out`);
          return;
        }
      }
      throw e;
    }
    if (size === null) {
      // A temp file of an attempt before a crash may still be there.
      await fs.rm(tmp, { force: true });
      this.result.missing++;
      return;
    }
    await fs.utimes(tmp, r.timestamp, r.timestamp);
    await fs.rename(tmp, local);
    this.result.files++;
    this.result.bytes += size;
  }

  /** L/l: the symlink to the target's physical path; an existing link or missing target is fine. */
  private async makeLink(r: BinlogRecord): Promise<void> {
    if (!r.extra) throw new FdfsError('EINVAL', 'link record without target', { subject: r.name });
    const local = this.localPath(r.name);
    const target = this.localPath(r.extra);
    try {
      await fs.symlink(target, local);
      this.result.links++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
    }
  }
}
