import process from 'node:process';
import { startPoller, type MonitorState, type PollerOptions } from './poller.ts';
import { storageKey, type TrackerEntry } from './snapshot.ts';
import { ratesFor, snapshotSeconds, syncLag } from './derive.ts';

// `fdfs monitor --charts`: a blessed-contrib dashboard — write/read ops/s and MB/s per storage
// over the last minutes, a gauge (donut) of each group's used space, sparklines of sync lag.
//
// blessed is unmaintained and reaches into Object.prototype.__proto__, which Deno removes unless
// started with --unsafe-proto. So it stays here: imported only when --charts is asked for (the
// rest of the CLI never loads it), and when it cannot run, the caller falls back to the Ink view
// with the one-line hint this module returns.

export interface ChartsOptions {
  trackers: readonly TrackerEntry[];
  intervalSec: number;
  poller?: Omit<PollerOptions, 'intervalMs'>;
  /** Minutes of history in the line charts. Default 5. */
  minutes?: number;
}

export type ChartsResult = { ran: true } | { ran: false; hint: string };

declare const Deno: { version?: { deno?: string } } | undefined;

/** Running under Deno? (Deno.version exists only there.) */
export function isDeno(): boolean {
  return typeof Deno !== 'undefined' && typeof Deno?.version?.deno === 'string';
}

/**
 * Whether assigning `x.__proto__` changes the prototype, as blessed relies on (`Screen.prototype.
 * __proto__ = Node.prototype`). Without --unsafe-proto Deno 2 keeps the accessor but makes the
 * setter a no-op (older versions deleted it); Deno.args does not show runtime flags, so test the
 * effect itself.
 */
export function hasProtoAccessor(): boolean {
  const proto = {};
  const probe = {} as { __proto__: object };
  try {
    probe.__proto__ = proto;
  } catch {
    return false;
  }
  return Object.getPrototypeOf(probe) === proto;
}

export const DENO_HINT = 'fdfs monitor --charts needs Deno started with --unsafe-proto (deno run -A --unsafe-proto …); showing the Ink view instead';

async function loadModule(name: string): Promise<any> {
  // A variable specifier: neither tsc nor a bundler follows it, so blessed is not a static dependency.
  const mod = await import(name);
  return mod.default ?? mod;
}

const PALETTE = ['green', 'yellow', 'cyan', 'magenta', 'red', 'blue', 'white'];

function hhmmss(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

interface Series {
  x: string[];
  writeOps: Map<string, number[]>;
  writeMb: Map<string, number[]>;
  readOps: Map<string, number[]>;
  readMb: Map<string, number[]>;
  lag: Map<string, number[]>;
}

/** Append one poll to the chart series, keeping `points` values (pure apart from mutating `s`). */
export function appendSeries(s: Series, state: MonitorState, points: number): void {
  const snap = state.snapshot;
  if (!snap) return;
  s.x.push(hhmmss(snap.at));
  const seen = new Set<string>();
  for (const g of snap.groups) {
    for (const st of g.storages) {
      const key = storageKey(g.stat.group_name, st.id);
      seen.add(key);
      const r = ratesFor(state.history, key);
      const lag = syncLag(g, st);
      const push = (m: Map<string, number[]>, v: number) => {
        let arr = m.get(key);
        // A storage first seen now gets zeros for the earlier points, so x and y stay aligned.
        if (!arr) { arr = new Array<number>(s.x.length - 1).fill(0); m.set(key, arr); }
        arr.push(Number.isFinite(v) ? v : 0);
      };
      push(s.writeOps, r?.writeOps ?? 0);
      push(s.writeMb, (r?.writeBytes ?? 0) / 1024 / 1024);
      push(s.readOps, r?.readOps ?? 0);
      push(s.readMb, (r?.readBytes ?? 0) / 1024 / 1024);
      push(s.lag, typeof lag === 'number' ? lag : 0);
    }
  }
  for (const m of [s.writeOps, s.writeMb, s.readOps, s.readMb, s.lag]) {
    for (const [key, arr] of m) {
      if (!seen.has(key)) arr.push(0);
      if (arr.length > points) arr.splice(0, arr.length - points);
    }
  }
  if (s.x.length > points) s.x.splice(0, s.x.length - points);
}

export function emptySeries(): Series {
  return { x: [], writeOps: new Map(), writeMb: new Map(), readOps: new Map(), readMb: new Map(), lag: new Map() };
}

/**
 * Run the dashboard until q / Esc / Ctrl-C. Resolves { ran: false, hint } without touching the
 * terminal when blessed cannot be used (not installed, or Deno without --unsafe-proto).
 */
export async function runCharts(opts: ChartsOptions): Promise<ChartsResult> {
  if (isDeno() && !hasProtoAccessor()) return { ran: false, hint: DENO_HINT };
  let blessed: any;
  let contrib: any;
  try {
    blessed = await loadModule('blessed');
    contrib = await loadModule('blessed-contrib');
  } catch {
    return { ran: false, hint: 'fdfs monitor --charts needs the blessed-contrib package (npm install blessed-contrib); showing the Ink view instead' };
  }

  const points = Math.max(10, Math.round(((opts.minutes ?? 5) * 60) / opts.intervalSec));
  const screen = blessed.screen({ smartCSR: true, title: 'fdfs monitor --charts', fullUnicode: true });
  const grid = new contrib.grid({ rows: 12, cols: 12, screen });
  const line = (r: number, c: number, label: string) => grid.set(r, c, 4, 6, contrib.line, {
    label, showLegend: true, legend: { width: 22 }, minY: 0, wholeNumbersOnly: false,
    style: { line: 'yellow', text: 'white', baseline: 'black' },
  });
  const wOps = line(0, 0, ' write ops/s ');
  const wMb = line(0, 6, ' write MB/s ');
  const rOps = line(4, 0, ' read ops/s ');
  const rMb = line(4, 6, ' read MB/s ');
  const donut = grid.set(8, 0, 4, 4, contrib.donut, { label: ' group space used ', radius: 8, arcWidth: 3, remainColor: 'black', yPadding: 2 });
  const spark = grid.set(8, 4, 4, 4, contrib.sparkline, { label: ' sync lag (s) ', tags: true, style: { fg: 'blue', titleFg: 'white' } });
  const log = grid.set(8, 8, 4, 4, contrib.log, { label: ' trackers & events ', fg: 'green', selectedFg: 'green' });

  const series = emptySeries();
  let last: MonitorState | undefined;
  let logged = 0;

  const draw = () => {
    const state = last;
    if (!state?.snapshot) { screen.render(); return; }
    const keys = [...series.writeOps.keys()];
    const data = (m: Map<string, number[]>) => keys.map((k, i) => ({
      title: k, x: series.x, y: m.get(k) ?? [], style: { line: PALETTE[i % PALETTE.length] },
    }));
    try {
      wOps.setData(data(series.writeOps));
      wMb.setData(data(series.writeMb));
      rOps.setData(data(series.readOps));
      rMb.setData(data(series.readMb));
      donut.setData(state.snapshot.groups.map((g, i) => {
        const st = g.stat;
        const used = st.total_mb > 0 ? (st.total_mb - st.free_mb) / st.total_mb : 0;
        return { percent: Math.round(used * 100) / 100, label: st.group_name, color: used > 0.8 ? 'red' : PALETTE[i % PALETTE.length] };
      }));
      spark.setData(keys, keys.map((k) => series.lag.get(k) ?? []));
    } catch {
      // A widget not laid out yet (tiny terminal) refuses data; the next poll draws again.
    }
    const nowS = snapshotSeconds(state.snapshot);
    for (const e of state.events.slice(logged)) log.log(`${hhmmss(e.at)} ${e.text}`);
    logged = state.events.length;
    const trackers = state.snapshot.trackers.map((t) => `${t.reachable ? '●' : '✗'} ${t.address}${t.isLeader ? ' leader' : ''}`).join('  ');
    screen.title = `fdfs monitor --charts  ${trackers}  ${nowS ? hhmmss(nowS * 1000) : ''}`;
    screen.render();
  };

  let poller: ReturnType<typeof startPoller> | undefined;
  const done = new Promise<void>((resolve) => {
    const quit = () => {
      void poller?.stop().finally(() => {
        screen.destroy();
        resolve();
      });
    };
    screen.key(['q', 'escape', 'C-c'], quit);
    process.once('SIGTERM', quit);
    process.once('SIGHUP', quit);
  });
  // blessed-contrib charts do not redraw themselves on resize.
  screen.on('resize', () => draw());
  poller = startPoller(opts.trackers, { ...opts.poller, intervalMs: opts.intervalSec * 1000 }, (state) => {
    last = state;
    appendSeries(series, state, points);
    draw();
  });
  screen.render();
  await done;
  return { ran: true };
}
