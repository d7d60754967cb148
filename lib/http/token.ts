import { createHash, timingSafeEqual } from 'node:crypto';
import { Buffer } from 'node:buffer';

// Anti-steal tokens of fastdfs-nginx-module (PROTOCOL.md §10):
//   token = lower-hex(MD5(file_id_part + secret_key + decimal(ts)))
// The module verifies over the logic name without the group (`M00/00/00/x.jpg`) while FastDFS's
// fdfs_test signs `group1/M00/…`; we sign without the group and accept either when verifying, so
// URLs signed by existing applications of both kinds keep working.

export type TokenCheck = 'ok' | 'EINVAL' | 'ETIMEDOUT' | 'EPERM';

/** The token of `fileIdPart` (a logic name, or a whole file id) at unix time `ts`. */
export function antiStealToken(fileIdPart: string, secretKey: string, ts: number): string {
  return createHash('md5').update(`${fileIdPart}${secretKey}${ts}`, 'utf8').digest('hex');
}

/** `?token=…&ts=…` for a file id, as FastDFS applications append it to download URLs. */
export function signFileId(fileId: string, secretKey: string, ts = Math.floor(Date.now() / 1000)): { token: string; ts: number } {
  const slash = fileId.indexOf('/');
  // §10: the module verifies over the name without the group.
  const part = /^M[0-9A-Fa-f]{2}\//.test(fileId) || slash < 0 ? fileId : fileId.slice(slash + 1);
  return { token: antiStealToken(part, secretKey, ts), ts };
}

/**
 * §10 verification: a 32-char token, not expired (ts ≠ 0 and now − ts > ttl ⇒ ETIMEDOUT; ts = 0
 * never expires, as in the module), matching the logic name or the whole file id (else EPERM).
 */
export function checkToken(opts: {
  logicName: string; group: string; secretKey: string; ttl: number;
  token: string | null; ts: string | null; now?: number;
}): TokenCheck {
  const { token, ts } = opts;
  if (token === null || ts === null || token.length !== 32 || !/^\d{1,12}$/.test(ts)) return 'EINVAL';
  const t = Number(ts);
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (t !== 0 && now - t > opts.ttl) return 'ETIMEDOUT';
  const given = Buffer.from(token.toLowerCase(), 'latin1');
  for (const part of [opts.logicName, `${opts.group}/${opts.logicName}`]) {
    const want = Buffer.from(antiStealToken(part, opts.secretKey, t), 'latin1');
    if (timingSafeEqual(want, given)) return 'ok';
  }
  return 'EPERM';
}
