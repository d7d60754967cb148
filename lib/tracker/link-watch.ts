import type { StorageRecord } from './cluster.ts';

// Issue 15 defect 8: a frozen storage (SIGSTOP) keeps its report connection open, so the tracker
// went on routing uploads to it until check_active_interval (100 s) marked it OFFLINE. The tracker
// learns each storage's beat rhythm from its heartbeats (83) and stops routing to one whose link
// has been silent for several beats, well before that timeout; the next beat brings it back. Its
// status is not changed: OFFLINE stays the heartbeat timeout's decision (§8.5).

/** Beats missed before a link counts as silent. */
const MISSED_BEATS = 3;
/** Never silent sooner than this, however fast the beats (a busy event loop must not count). */
const MIN_SILENCE_MS = 5000;

/** Gaps between beats seen before the rhythm is trusted. */
const GAPS_NEEDED = 3;

interface Link {
  lastMs: number;
  /** The longest gap between two beats seen: early beats (a storage reporting a change at once) are shorter and never lower it. */
  maxGapMs: number;
  gaps: number;
}

const links = new WeakMap<StorageRecord, Link>();

/** A heartbeat arrived from `s` on its report connection. */
export function noteBeat(s: StorageRecord, now = Date.now()): void {
  const l = links.get(s);
  if (!l) {
    links.set(s, { lastMs: now, maxGapMs: 0, gaps: 0 });
    return;
  }
  const gap = now - l.lastMs;
  // A gap far beyond the rhythm is an outage (a freeze, a reconnect), not the rhythm.
  if (l.gaps < GAPS_NEEDED || gap <= 2 * l.maxGapMs) l.maxGapMs = Math.max(l.maxGapMs, gap);
  l.gaps++;
  l.lastMs = now;
}

/** True when `s` beat regularly and then stayed quiet for MISSED_BEATS of its longest gaps. */
export function linkSilent(s: StorageRecord, now = Date.now()): boolean {
  const l = links.get(s);
  if (!l || l.gaps < GAPS_NEEDED) return false;
  return now - l.lastMs > Math.max(MISSED_BEATS * l.maxGapMs, MIN_SILENCE_MS);
}

/** The members of `all` whose link is not silent; all of them when every one is (C's behaviour). */
export function withLiveLinks(all: StorageRecord[], now = Date.now()): StorageRecord[] {
  const live = all.filter((s) => !linkSilent(s, now));
  return live.length > 0 ? live : all;
}
