import { isIPv6 } from 'node:net';

// Address helpers shared by every role (PROTOCOL.md §0).

/** "ip:port", IPv6 wrapped in brackets. */
export function formatAddress(ip: string, port: number): string {
  return isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Strip an IPv4-mapped IPv6 prefix so peers of a dual-stack socket look like their IPv4 selves. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export type IpType = 'private10' | 'private172' | 'private192' | 'outer' | 'unknown';

/** §0: network type used to pick the inner or outer address of a dual-IP storage. */
export function ipType(ip: string): IpType {
  if (ip.length < 8) return 'unknown';
  if (ip.startsWith('10.')) return 'private10';
  if (ip.startsWith('192.168.')) return 'private192';
  const m = /^172\.(\d+)\./.exec(ip);
  if (m && Number(m[1]) >= 16 && Number(m[1]) <= 31) return 'private172';
  return 'outer';
}

/**
 * §0: for a dual-IP storage the outer (second) address is returned when its type equals the
 * requester's, else the inner (first) one.
 */
export function chooseAddressFor(requesterIp: string, ips: readonly string[]): string {
  if (ips.length < 2) return ips[0] ?? '';
  return ipType(ips[1]!) === ipType(requesterIp) ? ips[1]! : ips[0]!;
}
