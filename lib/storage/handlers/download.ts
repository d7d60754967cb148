import { GROUP_NAME_LEN, CMD } from '../../protocol/codes.ts';
import { encodeHeader } from '../../protocol/header.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeDownloadRequest } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { SMALL_FILE, releaseChunk, takeChunk } from '../engine/engine.ts';
import { checkGroup, locate } from './common.ts';

// DOWNLOAD_FILE (14), PROTOCOL.md §3.4: decode ⇒ engine (open, read the range) ⇒ reply.

export async function download(req: Request, ctx: StorageContext): Promise<void> {
  const body = await req.body();
  if (body.length <= 16 + GROUP_NAME_LEN) throw new FdfsError('EINVAL', `download request of ${body.length} bytes has no file name`);
  const r = decodeDownloadRequest(body);
  checkGroup(ctx, r.group);
  const f = locate(ctx, r.logicName);
  if (r.offset < 0 || r.length < 0) throw new FdfsError('EINVAL', `negative offset ${r.offset} or length ${r.length}`, { subject: r.logicName });

  const file = await ctx.engine.open(f);
  let streaming = false;
  try {
    const size = file.size;
    // §3.4: offset ≥ size is EINVAL — except that we let an empty file download as an empty body
    // (6.16 makes 0-byte files undownloadable; clients expect them to work).
    if (r.offset >= size && !(size === 0 && r.offset === 0)) {
      throw new FdfsError('EINVAL', `offset ${r.offset} is beyond the file size ${size}`, { subject: r.logicName });
    }
    const left = size - r.offset;
    const total = r.length === 0 ? left : Math.min(r.length, left);

    if (total <= SMALL_FILE) {
      // Header and content leave in one write, from a pooled buffer (a fresh one per download
      // cost more than the read itself at 64 KiB: new memory and the collections it triggers).
      const out = takeChunk().subarray(0, 10 + total); // SMALL_FILE + 10 < READ_CHUNK
      file.readSync(out, 10, r.offset, total);
      file.close();
      encodeHeader(total, CMD.RESP, 0).copy(out, 0);
      req.responded = true;
      await req.conn.write(out, (err) => { if (!err) releaseChunk(out); });
      return;
    }

    await req.replyHeader(total);
    // The engine reads the next chunk while this one is being sent; awaiting the socket write
    // keeps at most two chunks in memory. The stream closes the file when it ends or fails.
    streaming = true;
    for await (const chunk of file.stream(r.offset, total)) {
      await req.conn.write(chunk, (err) => { if (!err) releaseChunk(chunk); });
    }
  } finally {
    if (!streaming) file.close();
  }
}
