import type { Buffer } from 'node:buffer';
import type { Request } from '../../net/packet-server.ts';
import {
  decodeListFilesRequest, encodeListFilesResponse, LIST_FILES_DEFAULT_LIMIT, LIST_FILES_MAX_LIMIT,
} from '../../protocol/list-files.ts';
import type { StorageContext } from '../context.ts';
import { LiveIndex } from '../live-index.ts';
import { checkGroup, locate } from './common.ts';

// FDFS_LIST_FILES (120), an fdfs extension (codec and layout: lib/protocol/list-files.ts): the live
// files of this storage, from one index per storage that follows the binlog (PROTOCOL.md §7.2)
// forward (lib/storage/live-index.ts). No state is kept per connection, so idle or abandoned
// listings cost nothing; at most LISTINGS_AT_ONCE pages are computed at a time, and each yields
// to the event loop as it goes, so listings never starve uploads and downloads.
// Register it with `handlers.set(CMD.FDFS_LIST_FILES, listFiles)`.

/** Pages computed at once per storage; the others wait their turn (memory: ≤ this × one page). */
const LISTINGS_AT_ONCE = 2;

class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), else free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

interface Listing {
  index: LiveIndex;
  gate: Gate;
}

const listings = new WeakMap<StorageContext, Listing>();

function listingOf(ctx: StorageContext): Listing {
  let l = listings.get(ctx);
  if (!l) {
    l = { index: new LiveIndex(ctx.binlog.dir, (name) => locate(ctx, name).path), gate: new Gate(LISTINGS_AT_ONCE) };
    listings.set(ctx, l);
  }
  return l;
}

/** The live-file index of a storage (tests, and anything else that needs to count files). */
export function liveIndexOf(ctx: StorageContext): LiveIndex {
  return listingOf(ctx).index;
}

export async function listFiles(req: Request, ctx: StorageContext): Promise<Buffer[]> {
  const r = decodeListFilesRequest(await req.body());
  checkGroup(ctx, r.group);
  const since = r.since > 0 ? r.since : 0;
  const limit = r.limit > 0 ? Math.min(r.limit, LIST_FILES_MAX_LIMIT) : LIST_FILES_DEFAULT_LIMIT;
  const { index, gate } = listingOf(ctx);
  const page = await gate.run(async () => {
    // Records of uploads acknowledged a moment ago may still be queued in the writer.
    await ctx.binlog.flush().catch(() => {});
    await index.catchUp();
    // Keyset paging (after = last name of the previous page): any connection may continue a
    // listing, and files alive throughout are never skipped or repeated.
    return index.page(since, r.after, limit);
  });
  return encodeListFilesResponse(page);
}
