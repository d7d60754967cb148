import type { Request } from '../../net/packet-server.ts';
import type { ContentSource } from '../engine/engine.ts';

// A request body as the storage engine reads content (lib/storage/engine/engine.ts ContentSource).

/** The rest of a request's body as the engine's content source (no copy: reads go straight to the socket reader). */
export function contentOf(req: Request): ContentSource {
  return {
    get remaining() { return req.remaining; },
    get buffered() { return req.conn.reader.buffered; },
    read: (n) => req.read(n),
    readSome: (max) => req.readSome(max),
  };
}
