import { ClientConnection, type ConnectOptions } from '../net/client-connection.ts';
import { SYNC_CAP, SYNC_CAPS_PROBE_STATUS, decodeSyncCaps } from '../protocol/capabilities.ts';
import { CMD } from '../protocol/codes.ts';
import { toFdfsError } from '../protocol/errno.ts';
import { formatAddress } from '../protocol/ip.ts';
import { decodeSyncStatusResponse, encodeSyncStatusRequest, type PeerSyncStatus } from '../protocol/sync-status.ts';

// Client side of FDFS_SYNC_STATUS (122, lib/protocol/sync-status.ts): ask one storage how far each
// of its peers is behind its binlog. One plain connection, closed afterwards: `fdfs list` asks
// every storage once, with short timeouts.

export type { PeerSyncStatus } from '../protocol/sync-status.ts';

/**
 * The storage's per-peer sync status, or null when it does not offer the command (a FastDFS C
 * storage, found out with the capability probe before 122 is sent). Other failures throw.
 */
export async function querySyncStatus(host: string, port: number, group: string, opts: ConnectOptions = {}): Promise<PeerSyncStatus[] | null> {
  const address = formatAddress(host, port);
  const conn = await ClientConnection.connect(host, port, opts);
  try {
    // Ask first whether it is an fdfs storage: a C storage logs an error and drops the connection
    // on 122, but answers the probe of ACTIVE_TEST as a plain active test.
    const caps = decodeSyncCaps(await conn.request(CMD.ACTIVE_TEST, [], { status: SYNC_CAPS_PROBE_STATUS, subject: address, maxResponse: 64 }));
    if (!(caps & SYNC_CAP.SYNC_STATUS)) return null;
    const body = await conn.request(CMD.FDFS_SYNC_STATUS, encodeSyncStatusRequest(group), { subject: address, maxResponse: 1024 * 1024 });
    return decodeSyncStatusResponse(body);
  } catch (err) {
    const e = toFdfsError(err, address);
    if (e.code === 'EINVAL') return null;
    throw e;
  } finally {
    if (conn.usable) await conn.quit();
    else conn.destroy();
  }
}
