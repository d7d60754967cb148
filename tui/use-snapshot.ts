import { useEffect, useState } from 'react';
import { initialState, startPoller, type MonitorState, type PollerOptions } from './poller.ts';
import type { TrackerEntry } from './snapshot.ts';

// The TUI's data: polls the trackers every interval while the component is mounted.

export function useSnapshot(trackers: readonly TrackerEntry[], opts: PollerOptions): MonitorState {
  const [state, setState] = useState<MonitorState>(initialState);
  useEffect(() => {
    const poller = startPoller(trackers, opts, setState);
    return () => { void poller.stop(); };
    // Started once per mount: the tracker list and options do not change while the TUI runs.
  }, []);
  return state;
}
