import { isIPv4, isIPv6 } from 'node:net';
import type { ClientConnection } from '../../net/client-connection.ts';
import { tryTrackers } from '../../net/tracker-calls.ts';
import { ipv6ShortCode } from '../../protocol/base64.ts';
import { FdfsError, toFdfsError } from '../../protocol/errno.ts';
import { formatAddress } from '../../protocol/ip.ts';
import { fetchStorageIds, getGroupName, getMyIp, getParameters, getServerId, withTracker } from '../tracker-session.ts';
import type { ReporterCore, TrackerLink } from './core.ts';

// The storage's start-up lookups (PROTOCOL.md §4 preamble): 109 when no group is configured, 60
// to every tracker, 75 from the first that answers, and with storage ids 69 + 70.

export async function bootstrapRound(r: ReporterCore): Promise<void> {
  const port = r.host.port;
  // 109: the group of a storage without group_name, from storage_ids.conf (§4.12).
  if (r.group === '') {
    r.group = await firstTracker(r, 'GET_GROUP_NAME',
      (conn) => getGroupName(conn, port, r.host.bindAddr || undefined));
    r.log('info', `group name from the tracker: ${r.group}`);
    r.notifyHost('onGroupName', () => r.extras.onGroupName?.(r.group));
  }

  // 60 on a short connection to every tracker not asked yet (§4.1), all at once.
  const pending = r.links.filter((l) => l.myIps === null);
  const answers = await Promise.allSettled(pending.map((l) =>
    withTracker(l.endpoint, r.dial, (conn) => getMyIp(conn, r.group, port))));
  let lastError: unknown = null;
  answers.forEach((a, i) => {
    if (a.status === 'fulfilled') learnMyIp(r, pending[i]!, a.value);
    else lastError = a.reason;
  });
  if (r.myIps.length === 0) throw lastError ?? new FdfsError('ENOTCONN', 'no tracker answered GET_MY_IP');

  // 75: the first tracker that answers (leader first when one is known, §1.4 rule 4).
  if (r.params === null) {
    const params = await firstTracker(r, 'PARAMETER_REQ', (conn) => getParameters(conn), true);
    r.params = params;
    r.useStorageId = params.get('use_storage_id') === '1' || params.get('use_storage_id') === 'true';
    r.notifyHost('onParameters', () => r.host.onParameters(params));
  }

  if (r.useStorageId) {
    // 69 + 70 on one connection, as the C storage does. 70 is asked at every start-up even with a
    // configured server_id: 6.16.1 does (captures README, discrepancy 6).
    if (!r.idsFetched) {
      const ip = r.myIps[0]!;
      const { lines, id } = await firstTracker(r, 'FETCH_STORAGE_IDS', async (conn) => ({
        lines: await fetchStorageIds(conn),
        id: await getServerId(conn, r.group, ip, port).catch((err: unknown) => {
          // §4.12: ENOENT = no entry for this group + ip:port in the trackers' storage_ids.conf.
          const e = toFdfsError(err);
          if (e.code !== 'ENOENT') throw e;
          throw new FdfsError('ENOENT',
            `${formatAddress(ip, port)} (group ${r.group}) is not in the trackers' storage_ids.conf: add "<id> ${r.group} ${formatAddress(ip, port)}" there`,
            { subject: conn.address, fatal: true, retryable: false });
        }),
      }), true);
      r.notifyHost('onStorageIds', () => r.host.onStorageIds(lines));
      if (r.host.serverId && r.host.serverId !== id) {
        r.log('warn', `server_id ${r.host.serverId} in the configuration, the trackers know ${ip}:${port} as ${id}; using ${id}`);
      }
      setServerId(r, id);
      r.idsFetched = true;
    }
  } else {
    setServerId(r, ownIdFromIps(r.myIps));
  }
}

export function learnMyIp(r: ReporterCore, link: TrackerLink, ips: string[]): void {
  link.myIps = ips;
  if (r.myIps.length === 0) {
    r.myIps = ips;
    r.log('info', `my address as ${link.line} sees it: ${ips.join(',')}`);
    r.notifyHost('onMyIp', () => r.host.onMyIp(ips));
  } else if (ips.join(',') !== r.myIps.join(',')) {
    // The first answer stays the source IP of new file names; a multi-homed host may differ per tracker.
    r.log('warn', `tracker ${link.line} sees this storage as ${ips.join(',')}, an earlier tracker as ${r.myIps.join(',')}`);
  }
}

export function setServerId(r: ReporterCore, id: string): void {
  if (id === r.myId && r.idAnnounced) return;
  r.myId = id;
  r.idAnnounced = true;
  r.notifyHost('onServerId', () => r.host.onServerId(id));
}

/**
 * Run fn on a short connection to each tracker in turn until one succeeds (the leader first when
 * asked and known, §1.4 rule 4). Any error moves on: these are start-up lookups, retried anyway.
 */
export async function firstTracker<T>(r: ReporterCore, what: string, fn: (conn: ClientConnection) => Promise<T>, leaderFirst = false): Promise<T> {
  const start = leaderFirst && r.leaderIndex >= 0 ? r.leaderIndex : 0;
  const { value } = await tryTrackers(r.links.map((l) => l.endpoint), (endpoint) => withTracker(endpoint, r.dial, fn), {
    start,
    // A definite "not in storage_ids.conf" ends the round (see bootstrap()).
    moveOn: (e) => !(e instanceof FdfsError && e.fatal),
    onMoveOn: (failed, e) => r.log('debug', `${what} on ${failed.hosts.join(',')}:${failed.port}: ${e.message}`),
    check: () => r.assertRunning(),
  });
  return value;
}

/**
 * Without storage ids our id is the IPv4 address the tracker sees (the first IPv4 of the 60
 * answer), or the §6.7 short code of an IPv6 address.
 */
export function ownIdFromIps(ips: readonly string[]): string {
  const v4 = ips.find((ip) => isIPv4(ip));
  if (v4) return v4;
  const first = ips[0] ?? '';
  return isIPv6(first) ? ipv6ShortCode(first) : first;
}
