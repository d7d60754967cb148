/** @jsxImportSource react */
import process from 'node:process';
import { render } from 'ink';
import { Monitor } from './Monitor.tsx';
import type { PollerOptions } from './poller.ts';
import type { TrackerEntry } from './snapshot.ts';

// Full-screen start and clean exit of the Ink TUI: the alternate screen is entered before the
// first frame and left on every way out (q, Ctrl-C, SIGTERM, SIGHUP, a crash), so the shell
// gets its screen back as it was.

const ENTER_ALT = '\x1b[?1049h\x1b[H';
const LEAVE_ALT = '\x1b[?1049l';
const SHOW_CURSOR = '\x1b[?25h';

export interface TuiOptions {
  trackers: readonly TrackerEntry[];
  intervalSec: number;
  poller?: Omit<PollerOptions, 'intervalMs'>;
  notice?: string;
}

export async function runTui(opts: TuiOptions): Promise<void> {
  const out = process.stdout;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    out.write(SHOW_CURSOR + LEAVE_ALT);
  };
  out.write(ENTER_ALT);
  process.once('exit', restore);
  const app = render(<Monitor trackers={opts.trackers} intervalSec={opts.intervalSec} poller={opts.poller} notice={opts.notice} />, {
    exitOnCtrlC: false,
    patchConsole: true,
    // No incrementalRendering: it rewrites only the lines it believes changed, and after a
    // resize or a row removed (a storage deleted) the terminal kept lines of older frames (issue
    // 14: a second header, a row twice, a reason under the wrong member).
  });
  // Ctrl-C arrives as a key in raw mode; these are for `kill` and a closed terminal window.
  const onSignal = () => app.unmount();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    await app.waitUntilExit();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    restore();
  }
}
