import process from 'node:process';
import type { CommandModule } from 'yargs';
import { createClient, reportError, withClientOptions, type ClientArgs } from '../common.ts';
import type { TrackerEntry } from '../../lib/client/tracker-client.ts';
import { UsageError } from '../../lib/protocol/errno.ts';

// `fdfs monitor`: the cluster at a glance. Three modes —
//   fdfs monitor [--tracker HOST:PORT]… [--interval S]   full-screen Ink TUI (a terminal is needed)
//   fdfs monitor --once [--json]                          one snapshot as text or JSON, then exit
//   fdfs monitor --charts                                 blessed-contrib dashboard
// Only the public client commands 91/92/95/96/97/98 are used, so a C FastDFS cluster works too.
// The TUI, the charts and their libraries are imported only by the mode that needs them.

interface MonitorArgs extends ClientArgs {
  interval: number;
  once?: boolean;
  charts?: boolean;
}

/** A monitor must not hang on a dead host: shorter defaults than the client's 10 s / 30 s. */
const MONITOR_CONNECT_TIMEOUT = 3;
const MONITOR_NETWORK_TIMEOUT = 5;

export const monitorCommand: CommandModule<object, MonitorArgs> = {
  command: 'monitor',
  describe: 'watch the cluster: trackers, groups, storages, sync (full-screen; --once for a snapshot)',
  builder: (y) => withClientOptions(y)
    .option('interval', { type: 'number', default: 2, describe: 'seconds between polls' })
    .option('once', { type: 'boolean', describe: 'print one snapshot (text, or JSON with --json) and exit; the default when stdout is not a terminal' })
    .option('charts', { type: 'boolean', describe: 'blessed-contrib dashboard of rates, space and sync lag (on Deno needs --unsafe-proto)' })
    .example('$0 monitor --tracker 127.0.0.1:22122', 'full-screen view; q quits')
    .example('$0 monitor --once --json | jq .groups', 'one snapshot for scripts')
    .epilog('--once exits 1 when no tracker could list the groups, else 0 (a storage being down is reported, not an error).') as never,
  handler: async (argv) => {
    let trackers: TrackerEntry[];
    try {
      if (!Number.isFinite(argv.interval) || argv.interval <= 0) throw new UsageError('--interval must be a positive number of seconds');
      // Same tracker resolution as every client command: --tracker, FDFS_TRACKER, -c client.conf, default.
      const client = createClient(argv);
      trackers = [...client.tracker.entries];
      await client.close();
    } catch (err) {
      reportError(err);
      return;
    }
    const poller = {
      connectTimeout: argv['connect-timeout'] ?? MONITOR_CONNECT_TIMEOUT,
      networkTimeout: argv['network-timeout'] ?? MONITOR_NETWORK_TIMEOUT,
    };
    const interactive = Boolean(process.stdout.isTTY && process.stdin.isTTY);
    if (argv.once || argv.json || !interactive) {
      const { collectSnapshot } = await import('../../tui/snapshot.ts');
      const { formatSnapshotJson, formatSnapshotText } = await import('../../tui/format.ts');
      const snap = await collectSnapshot(trackers, poller);
      process.stdout.write(argv.json ? formatSnapshotJson(snap) : formatSnapshotText(snap));
      process.exitCode = snap.groupsError ? 1 : 0;
      return;
    }
    let notice: string | undefined;
    if (argv.charts) {
      const { runCharts } = await import('../../tui/charts.ts');
      const r = await runCharts({ trackers, intervalSec: argv.interval, poller });
      if (r.ran) return exitSoon();
      notice = r.hint;
      process.stderr.write(`fdfs: ${r.hint}\n`);
    }
    const { runTui } = await import('../../tui/run.tsx');
    await runTui({ trackers, intervalSec: argv.interval, poller, notice });
    exitSoon();
  },
};

/**
 * The screen is restored and the poller stopped; if some handle still holds the event loop
 * (a socket in its close handshake), do not let it keep a quitting user waiting.
 */
function exitSoon(): void {
  setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
}
