import { Buffer } from 'node:buffer';
import type { ClientConnection } from '../../net/client-connection.ts';
import { CMD, commandName } from '../../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../../protocol/errno.ts';
import { TRANSPORT_ERRNOS, type ReporterCore, type TrackerLink } from './core.ts';

// The trunk server's exchanges with the trackers (PROTOCOL.md §11.5, §4.14). 72/73/74 need a
// joined storage connection, so they travel on the report connection of the tracker concerned:
// the trunk role queues a call, the report loop sends it at its next tick. While this storage is
// the trunk server the loop also sends 73 when its trunk file id grew and 74 when its free trunk
// space (MB) changed.

export interface TrunkCall {
  cmd: number;
  body: Buffer;
  resolve(body: Buffer): void;
  reject(err: Error): void;
}

/** What the host (the storage) reports while it is trunk server; null otherwise. */
export interface TrunkReportState {
  fileId: number;
  freeMb: number;
}

export interface TrunkLinkState {
  calls: TrunkCall[];
  fileId: number;
  freeMb: number;
  retryAt: number;
}

const state = new WeakMap<TrackerLink, TrunkLinkState>();

function linkState(link: TrackerLink): TrunkLinkState {
  let s = state.get(link);
  if (!s) {
    s = { calls: [], fileId: -1, freeMb: -1, retryAt: 0 };
    state.set(link, s);
  }
  return s;
}

/**
 * Send `cmd` on the report connection of the tracker `line` (as the 'trunk-server' event named it).
 * Rejects after `timeoutMs` when that connection does not come up.
 */
export function trunkCall(r: ReporterCore, line: string, cmd: number, body: Buffer = Buffer.alloc(0), timeoutMs = 30_000): Promise<Buffer> {
  const link = r.links.find((l) => l.line === line);
  if (!link) return Promise.reject(new FdfsError('ENOENT', `no tracker ${line} in tracker_server`));
  if (r.stopping) return Promise.reject(r.stoppedError());
  const s = linkState(link);
  return new Promise<Buffer>((resolve, reject) => {
    const call: TrunkCall = {
      cmd, body,
      resolve: (b) => { clearTimeout(timer); resolve(b); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    };
    const timer = setTimeout(() => {
      const i = s.calls.indexOf(call);
      if (i >= 0) s.calls.splice(i, 1);
      reject(new FdfsError('ETIMEDOUT', `${commandName(cmd)} not sent: no joined connection`, { subject: line }));
    }, timeoutMs);
    timer.unref();
    s.calls.push(call);
    // A reporter that stops does not leave the caller waiting for the timeout.
    void r.stopped.then(() => {
      const i = s.calls.indexOf(call);
      if (i >= 0) { s.calls.splice(i, 1); call.reject(r.stoppedError()); }
    });
    link.sleeper.wake();
  });
}

/** Whether calls wait for this link (the loop shortens its pause). */
export function hasTrunkCalls(link: TrackerLink): boolean {
  return (state.get(link)?.calls.length ?? 0) > 0;
}

/** Status replies keep a tracker connection framed (captures README); transport errors do not. */
function keepFramed(conn: ClientConnection, err: unknown): FdfsError {
  const e = toFdfsError(err);
  if (TRANSPORT_ERRNOS.has(e.errno) || conn.socket.destroyed) throw e;
  conn.usable = true;
  return e;
}

/** Queued calls, then the 73/74 reports; run by the report loop on a joined connection. */
export async function trunkDuties(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  const s = linkState(link);
  while (s.calls.length > 0) {
    const call = s.calls.shift()!;
    try {
      call.resolve(await conn.request(call.cmd, call.body, { maxResponse: 64 }));
    } catch (err) {
      call.reject(keepFramed(conn, err));
    }
  }
  const report = (r.host as { trunkReport?(): TrunkReportState | null }).trunkReport?.() ?? null;
  if (!report) {
    s.fileId = -1;
    s.freeMb = -1;
    return;
  }
  const now = Date.now();
  if (now < s.retryAt) return;
  try {
    if (report.fileId > s.fileId) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(report.fileId | 0);
      await conn.request(CMD.STORAGE_REPORT_TRUNK_FID, b, { maxResponse: 0 });
      s.fileId = report.fileId;
    }
    if (report.freeMb !== s.freeMb) {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(report.freeMb));
      await conn.request(CMD.STORAGE_REPORT_TRUNK_FREE, b, { maxResponse: 0 });
      s.freeMb = report.freeMb;
    }
  } catch (err) {
    // §11.5: EINVAL while this tracker does not know us as trunk server yet. C reconnects; we
    // keep the connection and try again one heart beat later.
    const e = keepFramed(conn, err);
    s.retryAt = now + r.heartBeatMs;
    r.log('debug', `trunk report to ${link.line}: ${e.message}`);
  }
}
