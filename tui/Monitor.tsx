/** @jsxImportSource react */
import { useState } from 'react';
import { App } from './App.tsx';
import { useSnapshot } from './use-snapshot.ts';
import { useTerminalSize } from './use-terminal-size.ts';
import type { PollerOptions } from './poller.ts';
import type { TrackerEntry } from './snapshot.ts';

// The live TUI: the polling hook and the terminal size feeding the pure App.

export interface MonitorProps {
  trackers: readonly TrackerEntry[];
  intervalSec: number;
  poller?: Omit<PollerOptions, 'intervalMs'>;
  /** A one-line note shown first in the event log (e.g. why --charts fell back to this view). */
  notice?: string;
}

export function Monitor({ trackers, intervalSec, poller, notice }: MonitorProps) {
  const state = useSnapshot(trackers, { ...poller, intervalMs: intervalSec * 1000 });
  const [started] = useState(() => Date.now());
  const events = notice ? [{ at: started, level: 'warn' as const, text: notice }, ...state.events] : state.events;
  const { columns, rows } = useTerminalSize();
  // One row short of the terminal: a frame as tall as the screen makes Ink clear it on every
  // redraw, which flickers.
  return (
    <App snapshot={state.snapshot} history={state.history} events={events}
      width={columns} height={Math.max(3, rows - 1)} intervalSec={intervalSec} />
  );
}
