import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HttpContext } from './http-server.ts';
import { parseRange, type ByteRange } from './range.ts';

// One open local file answered over HTTP (PROTOCOL.md §10, RFC 9110): validators, conditional
// requests (304), Range and multi-range (206, multipart/byteranges), 416, HEAD, and the body
// streamed with backpressure.

export interface OpenFile {
  fd: number;
  size: number;
  /** Where the content starts in fd: 0, or a trunk slot's offset + 24 (PROTOCOL.md §11.11). */
  base?: number;
  /** Unix seconds: the timestamp in the file name (§10), or the file's mtime for appenders. */
  lastModified: number;
  etag: string;
  contentType: string;
  /** ?filename= of the URL ⇒ Content-Disposition: attachment. */
  downloadName?: string | null;
}

/** Bodies up to this size are read with one synchronous call and sent in one write (page cache). */
const SMALL_BODY = 256 * 1024;
/** Chunk size of streamed bodies: within the 256 KiB–1 MiB range that keeps throughput (STYLE.md rule 4). */
const CHUNK = 512 * 1024;

/** nginx's ETag: hex mtime and hex size, quoted. Changes whenever an appender grows. */
export function makeEtag(mtimeSec: number, size: number): string {
  return `"${mtimeSec.toString(16)}-${size.toString(16)}"`;
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

function httpDate(sec: number): string {
  return new Date(sec * 1000).toUTCString();
}

/** RFC 6266 attachment header: a quoted ASCII fallback plus the UTF-8 name. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function notModified(ctx: HttpContext, f: OpenFile): boolean {
  const inm = ctx.req.headers['if-none-match'];
  if (inm !== undefined) return etagMatches(inm, f.etag);
  const ims = ctx.req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const t = Date.parse(ims);
  // §10: the module answers 304 on equality; later dates mean "not modified since" too.
  return Number.isFinite(t) && f.lastModified <= Math.floor(t / 1000);
}

/** If-Range: the Range counts only when the validator still matches. */
function rangeApplies(ctx: HttpContext, f: OpenFile): boolean {
  const ir = ctx.req.headers['if-range'] as string | undefined;
  if (ir === undefined) return true;
  if (ir.startsWith('"') || ir.startsWith('W/')) return ir === f.etag;
  const t = Date.parse(ir);
  return Number.isFinite(t) && Math.floor(t / 1000) === f.lastModified;
}

function readWhole(fd: number, start: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, start + got);
    if (n === 0) throw new Error(`file shrank while being read (at ${start + got})`);
    got += n;
  }
  return buf;
}

function rangeStream(fd: number, r: ByteRange, base = 0): Readable {
  return fs.createReadStream('', { fd, start: base + r.start, end: base + r.end, autoClose: false, highWaterMark: CHUNK });
}

/** Answer the request from `f`; the caller closes f.fd afterwards. */
export async function sendFile(ctx: HttpContext, f: OpenFile): Promise<void> {
  const { req, res } = ctx;
  const head = req.method === 'HEAD';
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', f.etag);
  res.setHeader('Last-Modified', httpDate(f.lastModified));
  if (f.downloadName) res.setHeader('Content-Disposition', contentDisposition(f.downloadName));

  if (notModified(ctx, f)) {
    res.writeHead(304);
    res.end();
    return;
  }
  const ranges = rangeApplies(ctx, f) ? parseRange(req.headers.range, f.size) : null;
  if (ranges === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${f.size}`, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 22 });
    res.end(head ? undefined : 'range not satisfiable\n');
    return;
  }

  if (ranges === null || ranges.length === 1) {
    const r = ranges?.[0] ?? { start: 0, end: f.size - 1 };
    const length = r.end - r.start + 1;
    const headers: Record<string, string | number> = { 'Content-Type': f.contentType, 'Content-Length': length };
    if (ranges) headers['Content-Range'] = `bytes ${r.start}-${r.end}/${f.size}`;
    res.writeHead(ranges ? 206 : 200, headers);
    if (head || length === 0) { res.end(); return; }
    if (length <= SMALL_BODY) { res.end(readWhole(f.fd, (f.base ?? 0) + r.start, length)); return; }
    await pipeline(rangeStream(f.fd, r, f.base), res);
    return;
  }

  // multipart/byteranges (RFC 9110 §14.6): every part's header is known up front, so the total
  // length is too.
  const boundary = randomBytes(12).toString('hex');
  const partHead = (r: ByteRange) => Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${f.contentType}\r\nContent-Range: bytes ${r.start}-${r.end}/${f.size}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  let total = tail.length;
  for (const r of ranges) total += partHead(r).length + r.end - r.start + 1;
  res.writeHead(206, { 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': total });
  if (head) { res.end(); return; }
  const fd = f.fd;
  async function* parts(): AsyncGenerator<Buffer> {
    for (const r of ranges as ByteRange[]) {
      yield partHead(r);
      for await (const chunk of rangeStream(fd, r, f.base)) yield chunk as Buffer;
    }
    yield tail;
  }
  await pipeline(Readable.from(parts(), { objectMode: false }), res);
}
