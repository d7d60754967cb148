import type { Request } from '../../net/packet-server.ts';
import type { ContentSource } from '../engine/engine.ts';
import { writeAll } from '../../util/write-all.ts';

// What the handlers that move content share besides the engine. writeAll itself lives in lib/util,
// as the client's batch download writes the same way.

export { writeAll };

/** The rest of a request's body as the engine's content source (no copy: reads go straight to the socket reader). */
export function contentOf(req: Request): ContentSource {
  return {
    get remaining() { return req.remaining; },
    get buffered() { return req.conn.reader.buffered; },
    read: (n) => req.read(n),
    readSome: (max) => req.readSome(max),
  };
}
