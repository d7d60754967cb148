// The FDFS_SYNC_WATERMARK extension, sender side (PROTOCOL.md §8.4, codec.ts): after pushing
// everything up to second X-1, a reader at the end of the binlog tells an fdfs peer "you have all
// my records before X", so downloads are routed to the peer without waiting for the trackers'
// usual rules. This is the bookkeeping: which watermark may go now, and when the next is due.
// C peers never announce the extension and never get one.

/**
 * §8.4 routes a download to a replica once it reports a sync timestamp above the file's. A file's
 * binlog line is written a moment after its mtime; with this much margin a watermark never covers
 * a file whose line might still be on its way into the binlog.
 */
export const WATERMARK_GUARD_MS = 500;

export class Watermarks {
  /** Whether the peer announced the extension (false for a C peer); undefined before the first session. */
  enabled: boolean | undefined;
  /** The peer announced watermarks and then refused one: not sent again while this process runs. */
  private refused = false;
  private sent = 0;
  private sentAt = 0;
  /** Lowest timestamp of a record pushed and not yet covered by a watermark. */
  private uncoveredMin = Infinity;
  private maxPushedTs = 0;

  /** A new session: nothing sent on it yet. */
  startSession(): void {
    this.sent = 0;
    this.maxPushedTs = 0;
    this.uncoveredMin = Infinity;
  }

  /** What a connection's peer announced. */
  announced(takesWatermarks: boolean): void {
    this.enabled = takesWatermarks && !this.refused;
  }

  /** A record of second `ts` reached the peer. */
  pushed(ts: number): void {
    if (ts > this.maxPushedTs) this.maxPushedTs = ts;
    if (ts >= this.sent && ts < this.uncoveredMin) this.uncoveredMin = ts;
  }

  /** When a watermark covering every record pushed so far can go, or null when none is needed. */
  dueAt(): number | null {
    if (!this.enabled) return null;
    if (this.sent > this.maxPushedTs) return null;
    // It covers a record of second T once it reaches T + 1.
    return (this.maxPushedTs + 1) * 1000 + WATERMARK_GUARD_MS;
  }

  /** The watermark to send now by a reader at the end of the binlog (checked at `checkedAt`), or null. */
  next(checkedAt: number, now = Date.now()): number | null {
    if (!this.enabled) return null;
    const x = Math.floor((checkedAt - WATERMARK_GUARD_MS) / 1000);
    // The first one of a session goes at once (the tracker keeps a 0 for a source that never
    // reported). Later ones go when they cover every record pushed, or — under a steady stream of
    // records, where that never happens — once a second: the receiver reports once a second anyway.
    if (x <= this.sent) return null;
    if (this.sent > 0) {
      // The last one already covers every record pushed: nothing new to tell.
      if (this.sent > this.maxPushedTs) return null;
      // A partial one must cover a pushed record, and goes at most once a second: spent on
      // nothing, it would delay the receiver's report of the full one by a second.
      if (x <= this.maxPushedTs && (x <= this.uncoveredMin || now - this.sentAt < 1000)) return null;
    }
    return x;
  }

  /** The peer took watermark `x`. */
  accepted(x: number, now = Date.now()): void {
    this.enabled = true;
    this.sent = x;
    this.sentAt = now;
    // What stays uncovered has a timestamp of x or more (a lower bound is enough).
    this.uncoveredMin = this.maxPushedTs >= x ? x : Infinity;
  }

  /** It announced the extension and still refused it as unknown: never again with this peer. */
  refuse(): void {
    this.enabled = false;
    this.refused = true;
  }
}
