import { isIPv6 } from 'node:net';
import { ipv6ShortCode } from '../protocol/base64.ts';
import { RW_MODE } from '../protocol/records.ts';
import type { RwMode, StorageIdEntry } from '../config/storage-ids.ts';

/**
 * storage_ids.conf as the tracker queries it (§4.1, §4.3, §4.12, §4.13): by id, and by
 * group + IP + port (an entry without a port means 23000, captures/README.md discrepancy 5).
 */
export class StorageIdIndex {
  private readonly byId = new Map<string, StorageIdEntry>();

  constructor(readonly entries: readonly StorageIdEntry[]) {
    for (const e of entries) this.byId.set(e.id, e);
  }

  get(id: string): StorageIdEntry | undefined {
    return this.byId.get(id);
  }

  /** The entry of a storage at ip:port; `group` undefined matches any group (109). */
  find(group: string | undefined, ip: string, port: number): StorageIdEntry | undefined {
    return this.entries.find((e) => (group === undefined || e.group === group) && e.port === port && e.hosts.includes(ip));
  }
}

export function rwModeOf(rw: RwMode): number {
  switch (rw) {
    case 'read': return RW_MODE.READ;
    case 'write': return RW_MODE.WRITE;
    case 'none': return RW_MODE.NONE;
    default: return RW_MODE.BOTH;
  }
}

/** §0 storage id without storage ids: the IPv4 text itself, or the IPv6 short code (§6.7). */
export function idForIp(ip: string): string {
  return isIPv6(ip) ? ipv6ShortCode(ip) : ip;
}
