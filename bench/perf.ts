import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { freePort, haveC, StorageNode, TrackerNode, type Kind } from './interop/daemons.ts';

// `npm run bench -- perf` and `npm run bench -- compare`: uploads and downloads of 4 KiB, 64 KiB,
// 1 MiB and 64 MiB at 1 and 16 connections against real daemons, measured from outside by the
// neutral load tool (../shared/tools/fdfs-load.mjs, a separate process, so its CPU is not counted),
// with the server CPU per operation (utime + stime of the tracker and storage processes ÷ ops) and
// the RSS of each daemon. `compare` runs C FastDFS (fdfs_trackerd / fdfs_storaged from PATH) in the
// same run, alternating with fdfs round by round, and prints fdfs ÷ C for throughput and C ÷ fdfs
// for CPU per op (above 1 = fdfs better on both). Medians over the rounds. Never a unit test.

const MB = 1024 * 1024;
const CLK_TCK = 100;

export interface PerfOptions {
  quick: boolean;
  compare: boolean;
  rounds: number;
  /** 1: one tracker + one storage; 2: two storages of group1, replication running. */
  storages: 1 | 2;
  /** Keep only the workloads whose "SIZE cN" (e.g. "1 MiB c16") contains one of these; both directions stay. */
  only?: string[];
  /** Pin every storage daemon (all its threads) to these CPUs with taskset, e.g. "0" or "0,1". */
  storageCpus?: string;
}

interface Workload {
  op: 'upload' | 'download';
  size: number;
  concurrency: number;
  count: number;
}

export interface PerfRow {
  kind: Kind;
  workload: string;
  op: string;
  size: number;
  concurrency: number;
  ops: number;
  errors: number;
  opsPerSec: number;
  mbPerSec: number;
  p50ms: number;
  p99ms: number;
  /** utime + stime of every daemon ÷ ops, µs. */
  cpuUsPerOp: number;
  /** Per daemon: name ⇒ CPU µs per op. */
  cpuByDaemon: Record<string, number>;
  /** Per daemon: name ⇒ peak RSS during the workload, MiB. */
  rssMiB: Record<string, number>;
}

function workloads(quick: boolean): Workload[] {
  const plan: Array<[number, number, number]> = quick
    ? [[4096, 1, 300], [4096, 16, 2000], [64 * 1024, 1, 200], [64 * 1024, 16, 800], [MB, 1, 40], [MB, 16, 160], [64 * MB, 1, 2], [64 * MB, 16, 16]]
    : [[4096, 1, 1000], [4096, 16, 6000], [64 * 1024, 1, 600], [64 * 1024, 16, 2400], [MB, 1, 120], [MB, 16, 480], [64 * MB, 1, 4], [64 * MB, 16, 32]];
  const out: Workload[] = [];
  for (const [size, concurrency, count] of plan) {
    out.push({ op: 'upload', size, concurrency, count }, { op: 'download', size, concurrency, count });
  }
  return out;
}

export function sizeLabel(n: number): string {
  return n >= MB ? `${n / MB} MiB` : `${n / 1024} KiB`;
}

function workloadName(w: { op: string; size: number; concurrency: number }): string {
  return `${w.op} ${sizeLabel(w.size)} c${w.concurrency}`;
}

/** utime + stime of a process, in seconds (Linux /proc). */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

function rssPeakMiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function resetPeak(pid: number | undefined): void {
  // Linux ≥ 4.0: writing 5 resets VmHWM to the current RSS.
  if (pid) try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* not permitted */ }
}

/** The neutral load tool: FDFS_LOAD_TOOL, or ../shared/tools/fdfs-load.mjs beside the checkout. */
export function loadTool(): string {
  const candidates = [
    process.env.FDFS_LOAD_TOOL,
    path.resolve(process.cwd(), '../shared/tools/fdfs-load.mjs'),
    fileURLToPath(new URL('../../../shared/tools/fdfs-load.mjs', import.meta.url)),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`the neutral load tool was not found (looked at ${candidates.join(', ')}); set FDFS_LOAD_TOOL`);
  return found;
}

export interface ToolStats { ok: number; errors: number; ops_per_s: number; mb_per_s: number; p50_ms: number; p99_ms: number; error_samples?: string[] }
export interface ToolResult extends Record<string, unknown> { seconds: number; stats: Record<string, ToolStats> }

/**
 * Runs the load tool with --json. It exits non-zero when some operations failed, yet still prints
 * its figures: with `allowErrors` that is a result; without, an error. No figures at all: an error.
 */
export async function runTool(args: string[], opts: { allowErrors?: boolean } = {}): Promise<ToolResult> {
  const child = spawn(process.execPath, [loadTool(), ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const line = out.trim().split('\n').pop() ?? '';
  if ((code !== 0 && !opts.allowErrors) || !line.startsWith('{')) throw new Error(`load tool exited ${code}: ${err.trim().split('\n').pop() ?? ''}`);
  return JSON.parse(line) as ToolResult;
}

interface Env {
  dir: string;
  tracker: TrackerNode;
  storages: StorageNode[];
}

const TRACKER_IP = '127.0.0.60';
const STORAGE_IPS = ['127.0.0.61', '127.0.0.62'];

async function startEnv(kind: Kind, storages: number): Promise<Env> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fdfs-perf-${kind}-`));
  const tport = await freePort([TRACKER_IP]);
  const sport = await freePort(STORAGE_IPS);
  const tracker = new TrackerNode({ dir, ip: TRACKER_IP, port: tport, kind });
  await tracker.start();
  const nodes: StorageNode[] = [];
  for (let i = 0; i < storages; i++) {
    const s = new StorageNode({ dir, ip: STORAGE_IPS[i]!, port: sport, kind, group: 'group1', name: `storage${i + 1}`, trackers: [tracker.address] });
    await s.start();
    nodes.push(s);
  }
  const env = { dir, tracker, storages: nodes };
  // Writable = the tracker hands out a storage for an upload.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await runTool(['--tracker', tracker.address, '--op', 'upload', '--size', '16', '--count', '1']);
      break;
    } catch (e) {
      if (Date.now() > deadline) { await stopEnv(env); throw new Error(`${kind} cluster not writable after 60 s: ${(e as Error).message}`); }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return env;
}

async function stopEnv(env: Env): Promise<void> {
  for (const s of env.storages) await s.stop().catch(() => {});
  await env.tracker.stop().catch(() => {});
  fs.rmSync(env.dir, { recursive: true, force: true });
}

async function runWorkloads(kind: Kind, opts: PerfOptions): Promise<{ rows: PerfRow[]; replication?: Record<string, unknown> }> {
  const env = await startEnv(kind, opts.storages);
  if (opts.storageCpus) {
    for (const s of env.storages) {
      const r = spawnSync('taskset', ['-a', '-pc', opts.storageCpus, String(s.pid)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`taskset ${opts.storageCpus} ${s.pid}: ${(r.stderr || r.error?.message || '').trim()}`);
    }
  }
  const daemons: Array<[string, TrackerNode | StorageNode]> = [['tracker', env.tracker], ...env.storages.map((s, i) => [`storage${i + 1}`, s] as [string, StorageNode])];
  const rows: PerfRow[] = [];
  let replication: Record<string, unknown> | undefined;
  // Untimed warm-up, the same for both implementations: a daemon that has run for a while (JIT
  // compiled, buffers pooled, page cache warm) is what production serves with, not a fresh one.
  // Small files before the replication run (their sync backlog is gone in a moment), 1 MiB after.
  const warmIds = path.join(env.dir, 'warm-ids.txt');
  const warm = async (size: number, concurrency: number, count: number) => {
    const common = ['--tracker', env.tracker.address, '--concurrency', String(concurrency), '--count', String(count), '--ids', warmIds];
    await runTool([...common, '--op', 'upload', '--size', String(size)]);
    await runTool([...common, '--op', 'download']);
  };
  try {
    await warm(4096, 16, opts.quick ? 1000 : 3000);
    if (opts.storages === 2) {
      // Replication keeps up with 4 KiB uploads at 16 connections (lag p99). Measured first, on an
      // idle pair: after the other workloads the sync queue still holds gigabytes of large files.
      const peers = env.storages.map((s) => `${s.ip}:${s.port}`).join(',');
      const raw = await runTool(['--tracker', env.tracker.address, '--op', 'replag', '--size', '4096', '--concurrency', '16',
        '--count', String(opts.quick ? 1000 : 4000), '--peers', peers, '--lag-max-ms', '60000']);
      const stats = raw.stats;
      const r = stats.replication;
      replication = { kind, uploads: stats.replag?.ok ?? stats.upload?.ok, lagP50ms: r?.p50_ms, lagP99ms: r?.p99_ms, notReplicated: r?.errors,
        allReplicatedAfterMs: raw.all_replicated_after_upload_end_ms };
      process.stderr.write(`perf: ${kind} replication lag p50 ${r?.p50_ms} ms, p99 ${r?.p99_ms} ms\n`);
    }
    await warm(MB, 4, opts.quick ? 40 : 100);
    const idsFile = path.join(env.dir, 'ids.txt');
    const only = opts.only;
    const plan = workloads(opts.quick).filter((w) => !only?.length || only.some((o) => `${sizeLabel(w.size)} c${w.concurrency}`.includes(o)));
    for (const w of plan) {
      const toolArgs = (count: number, ids: string) => ['--tracker', env.tracker.address, '--op', w.op, '--concurrency', String(w.concurrency),
        '--count', String(count), '--timeout', '120000', '--ids', ids, ...(w.op === 'upload' ? ['--size', String(w.size)] : [])];
      // A quarter of the same workload first, untimed (uploads to a file of their own): what is
      // measured is the steady state, not the first requests of a new size or concurrency.
      await runTool(toolArgs(Math.max(1, Math.floor(w.count / 4)), w.op === 'upload' ? warmIds : idsFile));
      for (const [, d] of daemons) resetPeak(d.pid);
      const before = daemons.map(([, d]) => cpuSeconds(d.pid));
      const { stats } = await runTool(toolArgs(w.count, idsFile));
      // With two storages, replication of the uploads may still run after the tool returns (C's
      // falls seconds behind): its CPU belongs to this workload, so wait until the daemons idle.
      if (opts.storages === 2) await settle(daemons.map(([, d]) => d.pid));
      const after = daemons.map(([, d]) => cpuSeconds(d.pid));
      const s = stats[w.op]!;
      const ops = Math.max(1, s.ok);
      const cpuByDaemon: Record<string, number> = {};
      const rssMiB: Record<string, number> = {};
      let total = 0;
      daemons.forEach(([name, d], i) => {
        const us = ((after[i]! - before[i]!) * 1e6) / ops;
        cpuByDaemon[name] = Math.round(us);
        total += us;
        rssMiB[name] = Math.round(rssPeakMiB(d.pid) * 10) / 10;
      });
      rows.push({
        kind, workload: workloadName(w), op: w.op, size: w.size, concurrency: w.concurrency, ops: s.ok, errors: s.errors,
        opsPerSec: s.ops_per_s, mbPerSec: s.mb_per_s, p50ms: s.p50_ms, p99ms: s.p99_ms, cpuUsPerOp: Math.round(total), cpuByDaemon, rssMiB,
      });
      process.stderr.write(`perf: ${kind} ${workloadName(w)}: ${s.ops_per_s.toFixed(0)} ops/s, ${Math.round(total)} µs CPU/op\n`);
    }
  } finally {
    await stopEnv(env);
  }
  return { rows, replication };
}

/**
 * Waits until the processes used less than one clock tick in each of two consecutive 300 ms
 * windows (replication done), at most 60 s.
 */
async function settle(pids: Array<number | undefined>): Promise<void> {
  const total = (): number => pids.reduce<number>((a, p) => a + cpuSeconds(p), 0);
  const deadline = Date.now() + 60_000;
  let last = total();
  let quiet = 0;
  while (quiet < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    const now = total();
    quiet = now - last < 1 / CLK_TCK ? quiet + 1 : 0;
    last = now;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Medians of every number field over the rounds, per (kind, workload). */
function medianRows(all: PerfRow[]): PerfRow[] {
  const groups = new Map<string, PerfRow[]>();
  for (const r of all) {
    const k = `${r.kind}|${r.workload}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const first = rs[0]!;
    const med = (f: (r: PerfRow) => number) => median(rs.map(f));
    const perDaemon = (pick: (r: PerfRow) => Record<string, number>) => Object.fromEntries(Object.keys(pick(first)).map((n) => [n, med((r) => pick(r)[n] ?? 0)]));
    return {
      ...first, ops: med((r) => r.ops), errors: rs.reduce((a, r) => a + r.errors, 0), opsPerSec: med((r) => r.opsPerSec),
      mbPerSec: med((r) => r.mbPerSec), p50ms: med((r) => r.p50ms), p99ms: med((r) => r.p99ms), cpuUsPerOp: med((r) => r.cpuUsPerOp),
      cpuByDaemon: perDaemon((r) => r.cpuByDaemon), rssMiB: perDaemon((r) => r.rssMiB),
    };
  });
}

function formatTable(rows: PerfRow[], compare: boolean): string {
  const fdfs = rows.filter((r) => r.kind === 'fdfs');
  const c = new Map(rows.filter((r) => r.kind === 'c').map((r) => [r.workload, r]));
  const head = ['workload', 'ops/s', 'MB/s', 'p50 ms', 'p99 ms', 'CPU µs/op', 'RSS MiB (t/s)', 'err'];
  if (compare) head.push('C ops/s', 'C CPU µs/op', 'C RSS MiB', 'fdfs÷C ops', 'C÷fdfs CPU');
  const rssText = (r: PerfRow) => Object.values(r.rssMiB).map((v) => v.toFixed(0)).join('/');
  const lines = fdfs.map((r) => {
    const l = [r.workload, r.opsPerSec.toFixed(0), r.mbPerSec.toFixed(1), r.p50ms.toFixed(2), r.p99ms.toFixed(2), String(Math.round(r.cpuUsPerOp)), rssText(r), String(r.errors)];
    if (compare) {
      const k = c.get(r.workload);
      l.push(k ? k.opsPerSec.toFixed(0) : '-', k ? String(Math.round(k.cpuUsPerOp)) : '-', k ? rssText(k) : '-',
        k ? `${(r.opsPerSec / k.opsPerSec).toFixed(2)}×` : '-', k ? `${(k.cpuUsPerOp / r.cpuUsPerOp).toFixed(2)}×` : '-');
    }
    return l;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

export async function runPerfBench(opts: PerfOptions): Promise<{ table: string; rows: PerfRow[]; replication: Array<Record<string, unknown>>; skippedC?: string }> {
  let compare = opts.compare;
  let skippedC: string | undefined;
  if (compare && !haveC()) {
    compare = false;
    skippedC = 'fdfs_trackerd / fdfs_storaged are not on PATH: fdfs only';
    process.stderr.write(`perf: ${skippedC}\n`);
  }
  const all: PerfRow[] = [];
  const replication: Array<Record<string, unknown>> = [];
  for (let round = 0; round < opts.rounds; round++) {
    // Alternate which kind goes first, so neither always runs on the warmer (or busier) machine.
    const kinds: Kind[] = !compare ? ['fdfs'] : round % 2 === 0 ? ['fdfs', 'c'] : ['c', 'fdfs'];
    for (const kind of kinds) {
      process.stderr.write(`perf: round ${round + 1}/${opts.rounds}, ${kind}, 1 tracker + ${opts.storages} storage(s)\n`);
      const r = await runWorkloads(kind, opts);
      all.push(...r.rows);
      if (r.replication) replication.push({ round: round + 1, ...r.replication });
    }
  }
  const rows = medianRows(all);
  let table = formatTable(rows, compare);
  if (replication.length) {
    table += '\n' + replication.map((r) => `replication (4 KiB uploads, 16 connections), ${r.kind} round ${r.round}: lag p50 ${r.lagP50ms} ms, p99 ${r.lagP99ms} ms, not replicated ${r.notReplicated}`).join('\n');
  }
  return { table, rows, replication, skippedC };
}
