import fs from 'node:fs';
import mime from 'mime-types';
import type { StorageConfig } from '../config/storage-config.ts';
import { ClientConnection } from '../net/client-connection.ts';
import { startDownload } from '../client/storage-client.ts';
import { FdfsError } from '../protocol/errno.ts';
import { decodeFileName, type FileSource } from '../protocol/filename.ts';
import { formatAddress } from '../protocol/ip.ts';
import { locate } from '../storage/handlers/common.ts';
import { trunkContentRange } from '../storage/trunk/slot-io.ts';
import { parseTrunkName } from '../storage/trunk/trunk-name.ts';
import type { StorageContext } from '../storage/context.ts';
import type { StorePaths } from '../storage/store-paths.ts';
import type { Logger } from '../util/log.ts';
import { makeEtag, sendFile } from './file-response.ts';
import { sendText, type HttpContext } from './http-server.ts';
import { checkToken } from './token.ts';
import { parseFileUrl } from './url-path.ts';

// Files over HTTP, the way fastdfs-nginx-module serves them (PROTOCOL.md §10): the URL names a
// local file; a file not replicated here yet is fetched from (proxy) or sent to (302) its source
// storage; anti-steal tokens as configured.

/** What the file route needs from the storage daemon. */
export interface StorageHttpHost {
  readonly config: StorageConfig;
  readonly groupName: string;
  readonly storePaths: StorePaths;
  /** True when `source` (from a file name, §6.2) is this storage. */
  isOwnSource(source: FileSource): boolean;
  /** Protocol address of the storage `source` names, or null when unknown (§3.8). */
  sourceAddress(source: FileSource): { ip: string; port: number } | null;
  /** storage_sync_file_max_delay pushed by the trackers (§4.2, §8.4), seconds. */
  syncFileMaxDelay(): number;
  /** Our HTTP port: a redirect keeps it (the module keeps the request's port). */
  httpPort(): number;
}

export function fileRoute(host: StorageHttpHost, log: Logger): (ctx: HttpContext) => Promise<void> {
  const c = host.config;
  const withGroup = c.url_have_group_name;
  const defaultType = c['http.default_content_type'];
  let failContent: Buffer | null | undefined;

  const tokenFailed = (ctx: HttpContext, why: string): void => {
    // §10: token_check_fail content (200) if configured, else 400.
    const file = c['http.anti_steal.token_check_fail'];
    if (file && failContent === undefined) {
      try { failContent = fs.readFileSync(file); } catch (err) {
        log('warn', `http.anti_steal.token_check_fail ${file}: ${(err as Error).message}`);
        failContent = null;
      }
    }
    if (file && failContent) {
      ctx.res.writeHead(200, { 'Content-Type': mime.lookup(file) || defaultType, 'Content-Length': failContent.length, 'Cache-Control': 'no-store' });
      ctx.res.end(ctx.req.method === 'HEAD' ? undefined : failContent);
      return;
    }
    sendText(ctx.res, 400, `anti-steal token check failed: ${why}`);
  };

  return async (ctx) => {
    ctx.route = 'file';
    const { req, res } = ctx;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
      return;
    }
    let group: string;
    let logicName: string;
    let filePath: string;
    try {
      ({ group, logicName } = parseFileUrl(ctx.path, withGroup));
      if (withGroup && group !== host.groupName) throw new FdfsError('ENOENT', `no group ${group} here`);
      filePath = locate({ storePaths: host.storePaths } as StorageContext, logicName).path;
    } catch (err) {
      const code = (err as FdfsError).code;
      sendText(res, code === 'EINVAL' ? 400 : 404, code === 'EINVAL' ? 'bad file URL' : 'not found');
      return;
    }
    const fileId = `${host.groupName}/${logicName}`;
    ctx.subject = fileId;

    if (c['http.anti_steal.check_token']) {
      const verdict = checkToken({
        logicName, group: host.groupName, secretKey: c['http.anti_steal.secret_key'],
        ttl: c['http.anti_steal.token_ttl'], token: ctx.query.get('token'), ts: ctx.query.get('ts'),
      });
      if (verdict !== 'ok') {
        log('debug', `HTTP ${fileId} from ${ctx.peer}: token ${verdict}`);
        tokenFailed(ctx, verdict === 'ETIMEDOUT' ? 'expired' : verdict === 'EPERM' ? 'wrong token' : 'token or ts missing');
        return;
      }
    }

    // §11.11: a trunk-stored file is its slot's content inside the trunk file, after the read check.
    const trunkName = parseTrunkName(logicName);
    let trunk: { file: string; offset: number; size: number; mtime: number } | null = null;
    let fd: number;
    try {
      if (trunkName) {
        const range = trunkContentRange(host.storePaths, trunkName);
        if (!range) return notHere(ctx, host, logicName, log);
        trunk = { ...range, mtime: trunkName.timestamp };
        filePath = range.file;
      }
      fd = fs.openSync(filePath, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return notHere(ctx, host, logicName, log);
      sendText(res, code === 'EACCES' ? 403 : 404, 'not found');
      return;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) { sendText(res, 404, 'not found'); return; }
      const size = trunk ? trunk.size : st.size;
      const mtime = trunk ? trunk.mtime : Math.floor(st.mtimeMs / 1000);
      const nameTime = nameTimes.get(logicName);
      ctx.via = 'local';
      await sendFile(ctx, {
        fd,
        size,
        base: trunk ? trunk.offset : 0,
        // §10: Last-Modified is the name's timestamp; an appender changes after it was named.
        lastModified: nameTime && nameTime > 0 ? nameTime : mtime,
        etag: makeEtag(mtime, size),
        contentType: contentTypeOf(logicName, defaultType),
        downloadName: ctx.query.get('filename'),
      });
    } finally {
      try { fs.closeSync(fd); } catch { /* closed */ }
    }
  };
}

/**
 * Timestamp in a file name (§6.2), or −1 for appenders and undecodable names. Decoding costs
 * more than the rest of a small-file request, and popular files are asked for again and again.
 */
const nameTimes = {
  cache: new Map<string, number>(),
  get(logicName: string): number {
    let t = this.cache.get(logicName);
    if (t === undefined) {
      const d = decodeFileName(logicName);
      t = d && !d.isAppender ? d.timestamp : -1;
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(logicName, t);
    }
    return t;
  },
};

function contentTypeOf(name: string, fallback: string): string {
  const t = mime.lookup(name);
  return t ? mime.contentType(t) || t : fallback;
}

/**
 * §10: the file is not here. 404 when we are its source or it is older than
 * storage_sync_file_max_delay (it would have arrived); otherwise it is on its way: redirect to
 * the source (once: a request already redirected gets 400, never a loop) or proxy from it.
 */
async function notHere(ctx: HttpContext, host: StorageHttpHost, logicName: string, log: Logger): Promise<void> {
  const { res } = ctx;
  const decoded = decodeFileName(logicName);
  if (!decoded || host.isOwnSource(decoded.source)) { sendText(res, 404, 'not found'); return; }
  const age = Math.floor(Date.now() / 1000) - decoded.timestamp;
  if (age > host.syncFileMaxDelay()) { sendText(res, 404, 'not found'); return; }
  const src = host.sourceAddress(decoded.source);
  if (!src) { sendText(res, 404, 'not found (source storage unknown)'); return; }

  if (host.config.response_mode === 'redirect') {
    if (ctx.query.get('redirect') === '1') {
      sendText(res, 400, 'file not on the storage this request was redirected to');
      return;
    }
    const raw = ctx.req.url ?? ctx.path;
    const location = `http://${formatAddress(src.ip, host.httpPort())}${raw}${raw.includes('?') ? '&' : '?'}redirect=1`;
    ctx.via = 'redirect';
    res.writeHead(302, { Location: location, 'Content-Length': 0 });
    res.end();
    return;
  }
  ctx.via = 'proxy';
  await proxy(ctx, host, logicName, src, log);
}

/** Fetch the whole file from its source over the storage protocol (14, §3.4) and relay it. */
async function proxy(ctx: HttpContext, host: StorageHttpHost, logicName: string, src: { ip: string; port: number }, log: Logger): Promise<void> {
  const { req, res } = ctx;
  const fileId = `${host.groupName}/${logicName}`;
  const c = host.config;
  let conn: ClientConnection;
  try {
    conn = await ClientConnection.connect(src.ip, src.port, { connectTimeout: c.connect_timeout, networkTimeout: c.network_timeout, localAddress: c.client_bind && c.bind_addr ? c.bind_addr : undefined });
  } catch (err) {
    log('warn', `HTTP proxy of ${fileId}: cannot reach source ${formatAddress(src.ip, src.port)}: ${(err as Error).message}`);
    sendText(res, 502, 'source storage unreachable');
    return;
  }
  let complete = false;
  try {
    let len: number;
    try {
      len = await startDownload(conn, host.groupName, logicName, 0, 0, fileId);
    } catch (err) {
      const code = (err as FdfsError).code;
      sendText(res, code === 'ENOENT' ? 404 : 502, code === 'ENOENT' ? 'not found' : 'source storage failed');
      complete = code !== undefined;
      return;
    }
    const decoded = decodeFileName(logicName)!;
    res.writeHead(200, {
      'Content-Type': contentTypeOf(logicName, c['http.default_content_type']),
      'Content-Length': len,
      'Last-Modified': new Date(decoded.timestamp * 1000).toUTCString(),
      // Ranges and validators come once the file is here; until then, whole bodies only.
      'Accept-Ranges': 'none',
      'Cache-Control': 'no-cache',
    });
    if (req.method === 'HEAD') { res.end(); return; }
    let left = len;
    while (left > 0) {
      const chunk = await conn.reader.readSome(Math.min(left, 256 * 1024));
      left -= chunk.length;
      // Backpressure both ways: we read the next chunk only once the client took this one.
      if (!res.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onClose = () => reject(new Error('client went away'));
          res.once('close', onClose);
          res.once('drain', () => { res.off('close', onClose); resolve(); });
        });
      }
    }
    res.end();
    complete = true;
  } finally {
    // A body cut short leaves the connection mid-response; only a finished one could be reused.
    if (complete) void conn.quit().catch(() => {}); else conn.destroy();
  }
}
