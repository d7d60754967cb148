import { ConnectionPool } from '../lib/client/pool.ts';
import { collectSnapshot, type CollectOptions, type Snapshot, type TrackerEntry } from './snapshot.ts';
import { diffEvents, recordSamples, type MonitorEvent, type RateHistory } from './derive.ts';

// The polling loop behind the TUI and the charts: one snapshot every interval (counted from the
// end of the previous poll, so a slow tracker never stacks polls), plus what is derived across
// polls (rate history, event log). Errors never leave the loop: collectSnapshot records them.

export interface MonitorState {
  snapshot?: Snapshot;
  history: RateHistory;
  events: MonitorEvent[];
  polls: number;
}

export interface PollerOptions extends Omit<CollectOptions, 'pool'> {
  /** ms between polls. Default 2000. */
  intervalMs?: number;
  /** Events kept for the log. Default 200. */
  maxEvents?: number;
  /** Replaces collectSnapshot (tests feed recorded snapshots). */
  collect?: (trackers: readonly TrackerEntry[], opts: CollectOptions) => Promise<Snapshot>;
  /** Connections to use; default: a pool owned (and closed) by the poller. */
  pool?: ConnectionPool;
}

export interface Poller {
  /** Stop polling and close the connections; resolves when a poll in flight has ended. */
  stop(): Promise<void>;
}

export const initialState: MonitorState = { history: new Map(), events: [], polls: 0 };

/** One step of the derived state, pure: the next state after a new snapshot. */
export function advance(state: MonitorState, snap: Snapshot, maxEvents = 200): MonitorState {
  const events = [...state.events, ...diffEvents(state.snapshot, snap)];
  return {
    snapshot: snap,
    history: recordSamples(state.history, snap),
    events: events.length > maxEvents ? events.slice(events.length - maxEvents) : events,
    polls: state.polls + 1,
  };
}

export function startPoller(trackers: readonly TrackerEntry[], opts: PollerOptions, onUpdate: (s: MonitorState) => void): Poller {
  const intervalMs = opts.intervalMs ?? 2000;
  const ownPool = !opts.pool;
  const pool = opts.pool ?? new ConnectionPool({ connectTimeout: opts.connectTimeout ?? 3, networkTimeout: opts.networkTimeout ?? 5 });
  const collect = opts.collect ?? collectSnapshot;
  let state = initialState;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        const snap = await collect(trackers, { ...opts, pool });
        if (stopped) break;
        state = advance(state, snap, opts.maxEvents);
        onUpdate(state);
      } catch {
        // collectSnapshot does not throw; a replacement might. The next poll tries again.
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, intervalMs);
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      wake?.();
      // A poll in flight ends by itself within the network timeout; destroying its sockets ends it now.
      if (ownPool) pool.destroy();
      await loop;
    },
  };
}
