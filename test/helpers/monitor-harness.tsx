/** @jsxImportSource react */
import process from 'node:process';
import { runTui } from '../../tui/run.tsx';
import { STORAGE_STATUS as S } from '../../lib/protocol/codes.ts';
import { laterSnapshot, recordedSnapshot } from '../tui-fixtures.ts';
import type { Snapshot } from '../../tui/snapshot.ts';

// `fdfs monitor` exactly as it renders (runTui: same Ink options, alternate screen, terminal
// size), fed recorded snapshots instead of a live tracker, for tests that read a real terminal
// (tmux). Step 0: the recorded cluster; step 1: a poll later, one member deleted by an
// administrator. argv[2] is the step to reach (one step per poll); SIGUSR2 goes one step further.

const steps: Snapshot[] = [recordedSnapshot()];
steps.push(laterSnapshot(steps[0]!, 2, (s) => {
  const g = s.groups[0]!;
  g.storages[g.storages.length - 1]!.status = S.DELETED;
  g.stat.storage_count -= 1;
  g.stat.readable_server_count -= 1;
  g.stat.writable_server_count -= 1;
}));

let target = Math.min(steps.length - 1, Number(process.argv[2] ?? 0));
let current = -1;
process.on('SIGUSR2', () => { target = Math.min(steps.length - 1, target + 1); });

await runTui({
  trackers: [],
  intervalSec: 0.1,
  poller: {
    collect: async () => {
      current = Math.min(current + 1, target);
      return steps[current]!;
    },
  },
});
