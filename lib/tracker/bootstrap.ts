import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientConnection } from '../net/client-connection.ts';
import type { Connection } from '../net/packet-server.ts';
import { CMD } from '../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { readI64 } from '../protocol/fields.ts';
import { decodeTrackerStatus, encodeSysFileRequest, type TrackerRunningStatus } from '../protocol/tracker-peer.ts';
import type { Logger } from '../util/log.ts';
import { CHANGELOG_FILE, GROUPS_FILE, SERVERS_FILE, SYNC_TIMESTAMPS_FILE, type TrackerStore } from './persistence.ts';
import { dialPeer, type PeerDial, type TrackerPeer } from './peers.ts';

/** The four system files of §8.8, by the index 63 asks for. */
export const SYS_FILES: readonly string[] = [GROUPS_FILE, SERVERS_FILE, SYNC_TIMESTAMPS_FILE, CHANGELOG_FILE];

/** §8.7 long downtime: more than this many seconds between the last status write and our start. */
const LONG_DOWNTIME_S = 600;
/** Bound on 63 round trips per file (8173 bytes each: ~800 MB), so a lying peer cannot loop us. */
const MAX_PIECES = 100_000;

/**
 * The serving side's lock (61 … 62): one peer at a time copies our files, and our own writes wait
 * meanwhile so the copy is one consistent set. Released by 62 or when that connection closes.
 */
export class CopyLock {
  private holder: { conn: Connection; release: () => void } | null = null;

  async acquire(conn: Connection, store: TrackerStore): Promise<void> {
    if (this.holder && !this.holder.conn.closed) {
      if (this.holder.conn === conn) return;
      // §8.7: a second 61 hangs a 6.16 worker thread; a new tracker should answer EBUSY.
      throw new FdfsError('EBUSY', `tracker ${this.holder.conn.address} is copying the system files`, { subject: conn.address });
    }
    this.holder?.release();
    this.holder = null;
    await store.saveAll();
    await store.drain();
    if (this.holder) throw new FdfsError('EBUSY', 'another tracker took the copy lock meanwhile', { subject: conn.address });
    this.holder = { conn, release: store.hold() };
  }

  release(conn: Connection): void {
    if (this.holder?.conn !== conn) return;
    const h = this.holder;
    this.holder = null;
    h.release();
  }
}

export interface BootstrapHost {
  store: TrackerStore;
  log: Logger;
  dial: PeerDial;
  startTime: number;
  lastCheckTime: number;
  now(): number;
  hasGroups(): boolean;
  /** Our own standing for the long-downtime comparison (is_leader false). */
  ownStatus(): TrackerRunningStatus;
  /** Replace the in-memory state with the copied files and rewrite .tracker_status. */
  reload(): Promise<void>;
}

/**
 * A tracker that starts empty, or after a long downtime, copies the system files from the best
 * peer before it takes the first storage JOIN (PROTOCOL.md §8.7, C tracker_mem_get_sys_files_from_others).
 * Concurrent JOINs wait for the one copy. A failed copy makes that JOIN fail with EAGAIN.
 */
export class Bootstrap {
  private downtimeChecked = false;
  private done = false;
  private running: Promise<void> | null = null;

  constructor(private readonly host: BootstrapHost) {}

  /** Run before a JOIN is handled; `peers` are the other trackers the JOIN names. */
  async beforeJoin(peers: readonly TrackerPeer[]): Promise<void> {
    if (this.done) return;
    while (this.running) await this.running.catch(() => {});
    if (this.done) return;
    this.running = this.check(peers);
    try {
      await this.running;
    } finally {
      this.running = null;
    }
  }

  /** Sets `done` only once the copy (if any) is in place: JOINs arriving meanwhile wait for it. */
  private async check(peers: readonly TrackerPeer[]): Promise<void> {
    const h = this.host;
    if (!this.downtimeChecked) {
      this.downtimeChecked = true;
      if (h.lastCheckTime > 0 && h.startTime - h.lastCheckTime > LONG_DOWNTIME_S) {
        // Long downtime: copy only from a peer that ranks above us; the empty rule is then skipped.
        const best = await this.bestPeer(peers);
        if (best && rankAbove(best.status, h.ownStatus())) {
          h.log('info', `down for ${h.startTime - h.lastCheckTime} s: copying the system files from ${best.peer.line}`);
          await this.copyFrom(best.peer);
        }
        this.done = true;
        return;
      }
    }
    if (!h.hasGroups()) {
      const best = await this.bestPeer(peers);
      if (best) {
        h.log('info', `empty tracker: copying the system files from ${best.peer.line}`);
        await this.copyFrom(best.peer);
      }
    }
    this.done = true;
  }

  /** 64 to every peer; ENOENT (no groups) and unreachable peers are skipped (§8.7 ranking). */
  private async bestPeer(peers: readonly TrackerPeer[]): Promise<{ peer: TrackerPeer; status: TrackerRunningStatus } | null> {
    let best: { peer: TrackerPeer; status: TrackerRunningStatus } | null = null;
    for (const peer of peers) {
      let status: TrackerRunningStatus;
      try {
        const conn = await dialPeer(peer, this.host.dial);
        try {
          status = decodeTrackerStatus(await conn.request(CMD.TRACKER_GET_STATUS, [], { maxResponse: 64 }));
        } finally {
          conn.close();
        }
      } catch (err) {
        this.host.log('debug', `GET_STATUS of tracker ${peer.line}: ${(err as Error).message}`);
        continue;
      }
      if (!best || rankAbove(status, best.status)) best = { peer, status };
    }
    return best;
  }

  /** 61, the 63 loop for files 0–3, 62 on one connection; then the files replace ours and we reload. */
  private async copyFrom(peer: TrackerPeer): Promise<void> {
    const { store, log } = this.host;
    let conn: ClientConnection | null = null;
    const temps: string[] = [];
    try {
      conn = await dialPeer(peer, this.host.dial);
      await conn.request(CMD.TRACKER_GET_SYS_FILES_START, [], { maxResponse: 64 });
      for (let index = 0; index < SYS_FILES.length; index++) {
        const temp = join(store.dataDir, `${SYS_FILES[index]}.copy`);
        temps.push(temp);
        await fetchFile(conn, index, temp);
      }
      await conn.request(CMD.TRACKER_GET_SYS_FILES_END, [], { maxResponse: 64 });
      await store.drain();
      for (let index = 0; index < SYS_FILES.length; index++) await rename(temps[index]!, join(store.dataDir, SYS_FILES[index]!));
      await this.host.reload();
      log('info', `system files copied from tracker ${peer.line}`);
    } catch (err) {
      const e = toFdfsError(err, peer.line);
      log('error', `cannot copy the system files from tracker ${peer.line}: ${e.message}`);
      throw new FdfsError('EAGAIN', `this tracker could not copy the system files from ${peer.line}: ${e.message}`);
    } finally {
      conn?.close();
      for (const t of temps) await rm(t, { force: true });
    }
  }
}

/** §8.7 ranking: a leader ranks highest; else the longer running time, then the shorter restart interval. */
function rankAbove(a: TrackerRunningStatus, b: TrackerRunningStatus): boolean {
  if (a.isLeader !== b.isLeader) return a.isLeader;
  if (a.runningTime !== b.runningTime) return a.runningTime > b.runningTime;
  return a.restartInterval < b.restartInterval;
}

/** The 63 loop (§8.7): pieces from offset 0 until offset ≥ the size the peer reports. */
async function fetchFile(conn: ClientConnection, index: number, dest: string): Promise<void> {
  const fh = await open(dest, 'w', 0o644);
  try {
    let offset = 0;
    for (let piece = 0; piece < MAX_PIECES; piece++) {
      const reply = await conn.request(CMD.TRACKER_GET_ONE_SYS_FILE, encodeSysFileRequest(index, offset), { maxResponse: 64 * 1024 });
      if (reply.length < 8) throw new FdfsError('EPROTO', `GET_ONE_SYS_FILE reply of ${reply.length} bytes`, { subject: conn.address });
      const size = readI64(reply, 0);
      const data = reply.subarray(8);
      if (data.length > 0) await fh.write(data);
      offset += data.length;
      if (offset >= size) {
        await fh.sync();
        return;
      }
      if (data.length === 0) throw new FdfsError('EPROTO', `file ${index}: no bytes at offset ${offset} of ${size}`, { subject: conn.address });
    }
    throw new FdfsError('EPROTO', `file ${index}: too many pieces`, { subject: conn.address });
  } finally {
    await fh.close();
  }
}
