import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { startCluster, type Cluster } from '../test/helpers/cluster.ts';
import { cpuSeconds, runTool as runPerfTool, type ToolResult } from './perf.ts';

/** A run with failed operations is still a result here: the errors are counted in the table. */
const runTool = (args: string[]): Promise<ToolResult> => runPerfTool(args, { allowErrors: true });

// `npm run bench -- trunk [--quick] [--count N] [--rounds N] [--concurrency C]`: the issue-12
// benchmark. Uploads of 1–16 KiB into a trunk group (use_trunk_file, PROTOCOL.md §11) and into a
// plain group, alternating, a fresh 1 tracker + 1 storage cluster each (subdir_count_per_path 256,
// trunk_file_size default 64M). Load comes from the neutral tool ../shared/tools/fdfs-load.mjs in
// a child process (its CPU is not the server's); it takes one --size, so the uploads run in
// batches, each of a random size, the same sequence for both modes. Measured: uploads/s,
// downloads/s of every uploaded id, storage CPU µs per op (utime+stime ÷ ops), regular files,
// directories and bytes on disk (st.blocks × 512) under the storage's data dir, and the storage's
// start-up time with those files present. Never a unit test.

const KiB = 1024;
const MB = 1024 * 1024;

export interface TrunkBenchOptions {
  count: number;
  rounds: number;
  concurrency: number;
}

export interface TrunkRow {
  mode: 'plain' | 'trunk';
  round: number;
  uploads: number;
  uploadErrors: number;
  uploadsPerSec: number;
  uploadCpuUsPerOp: number;
  downloads: number;
  downloadErrors: number;
  downloadsPerSec: number;
  downloadCpuUsPerOp: number;
  /** Regular files under <store_path>/data (trunk files, plain files, binlogs, marks). */
  files: number;
  /** Directories under <store_path>/data, itself included (the 256×256 tree is pre-created in both modes). */
  dirs: number;
  /** files + dirs: the inodes the data dir holds. */
  inodes: number;
  /** Sum of st.blocks × 512 under the data dir. */
  diskBytes: number;
  /** inodes and diskBytes minus those of the same data dir when it first accepted an upload. */
  inodesAdded: number;
  diskBytesAdded: number;
  /** Content bytes uploaded, for the overhead ratio. */
  contentBytes: number;
  /** SIGTERM ⇒ exit, then start ⇒ ready line. */
  stopMs: number;
  startMs: number;
  /** Start ⇒ the first upload through the tracker succeeds (trunk: a trunk server is known again). */
  writableMs: number;
}

/** The same random sizes for both modes (mulberry32), so neither gets the cheaper batches. */
function batchSizes(count: number): Array<{ size: number; count: number }> {
  let seed = 0x12f0cafe;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const per = Math.max(250, Math.ceil(count / 40));
  const out: Array<{ size: number; count: number }> = [];
  for (let left = count; left > 0; left -= per) out.push({ size: KiB + Math.floor(rand() * 15 * KiB + 1), count: Math.min(per, left) });
  return out;
}

function walk(dir: string): { files: number; dirs: number; bytes: number } {
  const r = { files: 0, dirs: 1, bytes: fs.lstatSync(dir).blocks * 512 };
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      r.bytes += st.blocks * 512;
      if (e.isDirectory()) { r.dirs++; stack.push(p); } else r.files++;
    }
  }
  return r;
}

async function untilWritable(trackerAddr: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await runTool(['--tracker', trackerAddr, '--op', 'upload', '--size', '100', '--count', '1', '--timeout', '5000']).catch(() => null);
    if (r?.stats.upload?.ok === 1) return;
    if (Date.now() > deadline) throw new Error(`${trackerAddr}: no upload accepted within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function runMode(mode: 'plain' | 'trunk', round: number, o: TrunkBenchOptions): Promise<TrunkRow> {
  const cluster: Cluster = await startCluster({
    storages: 1,
    tracker: mode === 'trunk' ? { use_trunk_file: true } : {},
    storage: { subdir_count_per_path: 256 },
  });
  try {
    // Trunk mode answers EAGAIN until the tracker has named a trunk server (§11.5).
    await untilWritable(cluster.trackerAddr, 60_000);
    const dataDir = path.join(cluster.dir, 'storage1', 'data');
    const empty = walk(dataDir);
    const storagePid = cluster.storages[0]!.child.pid;
    const idsAll = path.join(cluster.dir, 'ids.txt');
    const idsBatch = path.join(cluster.dir, 'ids-batch.txt');
    fs.writeFileSync(idsAll, '');
    let ok = 0;
    let errors = 0;
    let seconds = 0;
    let cpu = 0;
    let contentBytes = 0;
    const firstErrors: string[] = [];
    for (const b of batchSizes(o.count)) {
      const before = cpuSeconds(storagePid);
      const r = await runTool(['--tracker', cluster.trackerAddr, '--op', 'upload', '--size', String(b.size), '--count', String(b.count),
        '--concurrency', String(o.concurrency), '--ids', idsBatch, '--timeout', '60000']);
      cpu += cpuSeconds(storagePid) - before;
      const s = r.stats.upload ?? { ok: 0, errors: b.count, ops_per_s: 0 };
      ok += s.ok;
      errors += s.errors;
      seconds += r.seconds;
      contentBytes += s.ok * b.size;
      if (s.error_samples?.length && firstErrors.length < 3) firstErrors.push(...s.error_samples.slice(0, 1));
      if (s.ok) fs.appendFileSync(idsAll, fs.readFileSync(idsBatch));
    }
    process.stderr.write(`trunk bench: ${mode} round ${round}: ${ok} uploads in ${seconds.toFixed(1)} s, ${errors} errors${firstErrors.length ? ` (${firstErrors.join(' | ')})` : ''}\n`);
    const dBefore = cpuSeconds(storagePid);
    const d = await runTool(['--tracker', cluster.trackerAddr, '--op', 'download', '--ids', idsAll, '--count', String(ok),
      '--concurrency', String(o.concurrency), '--timeout', '60000']);
    const dCpu = cpuSeconds(storagePid) - dBefore;
    const ds = d.stats.download ?? { ok: 0, errors: ok, ops_per_s: 0 };
    process.stderr.write(`trunk bench: ${mode} round ${round}: ${ds.ok} downloads, ${ds.ops_per_s.toFixed(0)}/s, ${ds.errors} errors\n`);

    // Stop first, then count: a stopped storage has flushed its binlogs and trunk state.
    let t = performance.now();
    await cluster.storages[0]!.stop();
    const stopMs = performance.now() - t;
    const disk = walk(dataDir);
    t = performance.now();
    await cluster.startStorage(0);
    const startMs = performance.now() - t;
    await untilWritable(cluster.trackerAddr, 60_000);
    const writableMs = performance.now() - t;
    return {
      mode, round, uploads: ok, uploadErrors: errors, uploadsPerSec: ok / seconds, uploadCpuUsPerOp: (cpu * 1e6) / Math.max(1, ok),
      downloads: ds.ok, downloadErrors: ds.errors, downloadsPerSec: ds.ops_per_s, downloadCpuUsPerOp: (dCpu * 1e6) / Math.max(1, ds.ok),
      files: disk.files, dirs: disk.dirs, inodes: disk.files + disk.dirs, diskBytes: disk.bytes, contentBytes,
      inodesAdded: disk.files + disk.dirs - empty.files - empty.dirs, diskBytesAdded: disk.bytes - empty.bytes,
      stopMs, startMs, writableMs,
    };
  } finally {
    await cluster.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function formatTrunkTable(rows: TrunkRow[]): { table: string; summary: Record<string, number | boolean> } {
  const med = (mode: string, f: (r: TrunkRow) => number) => median(rows.filter((r) => r.mode === mode).map(f));
  const lines: Array<[string, (r: TrunkRow) => number, (n: number) => string]> = [
    ['uploads', (r) => r.uploads, (n) => n.toFixed(0)],
    ['upload errors', (r) => r.uploadErrors, (n) => n.toFixed(0)],
    ['uploads/s', (r) => r.uploadsPerSec, (n) => n.toFixed(0)],
    ['storage CPU µs/upload', (r) => r.uploadCpuUsPerOp, (n) => n.toFixed(0)],
    ['downloads/s', (r) => r.downloadsPerSec, (n) => n.toFixed(0)],
    ['download errors', (r) => r.downloadErrors, (n) => n.toFixed(0)],
    ['storage CPU µs/download', (r) => r.downloadCpuUsPerOp, (n) => n.toFixed(0)],
    ['regular files in data/', (r) => r.files, (n) => n.toFixed(0)],
    ['directories in data/', (r) => r.dirs, (n) => n.toFixed(0)],
    ['inodes (files + dirs)', (r) => r.inodes, (n) => n.toFixed(0)],
    ['inodes added by the uploads', (r) => r.inodesAdded, (n) => n.toFixed(0)],
    ['disk used, MiB', (r) => r.diskBytes / MB, (n) => n.toFixed(1)],
    ['disk added by the uploads, MiB', (r) => r.diskBytesAdded / MB, (n) => n.toFixed(1)],
    ['disk added ÷ content', (r) => r.diskBytesAdded / Math.max(1, r.contentBytes), (n) => n.toFixed(2)],
    ['stop, ms', (r) => r.stopMs, (n) => n.toFixed(0)],
    ['start to ready line, ms', (r) => r.startMs, (n) => n.toFixed(0)],
    ['start to first upload, ms', (r) => r.writableMs, (n) => n.toFixed(0)],
  ];
  const cells = lines.map(([name, f, fmt]) => {
    const p = med('plain', f);
    const t = med('trunk', f);
    return [name, fmt(p), fmt(t), p > 0 && t > 0 ? `${(t / p).toFixed(3)}` : '-'];
  });
  const head = ['', 'plain', 'trunk', 'trunk÷plain'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const summary = {
    inodeRatio: med('plain', (r) => r.inodes) / med('trunk', (r) => r.inodes),
    fileRatio: med('plain', (r) => r.files) / med('trunk', (r) => r.files),
    addedInodeRatio: med('plain', (r) => r.inodesAdded) / Math.max(1, med('trunk', (r) => r.inodesAdded)),
    uploadRateRatio: med('trunk', (r) => r.uploadsPerSec) / med('plain', (r) => r.uploadsPerSec),
  };
  const verdict = `aims: ≥100× fewer inodes: ${summary.inodeRatio.toFixed(1)}× (the pre-created 256×256 directory tree is in both; regular files ${summary.fileRatio.toFixed(0)}×, inodes added by the uploads ${summary.addedInodeRatio.toFixed(0)}×) ⇒ ${summary.inodeRatio >= 100 ? 'met' : 'NOT met'}; ` +
    `upload rate ≥ 90% of plain: ${(summary.uploadRateRatio * 100).toFixed(1)}% ⇒ ${summary.uploadRateRatio >= 0.9 ? 'met' : 'NOT met'}`;
  return {
    table: [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt), verdict].join('\n'),
    summary: { ...summary, inodesMet: summary.inodeRatio >= 100, uploadRateMet: summary.uploadRateRatio >= 0.9 },
  };
}

export async function runTrunkBench(o: TrunkBenchOptions): Promise<{ rows: TrunkRow[]; table: string; summary: Record<string, number | boolean> }> {
  const rows: TrunkRow[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    // Alternate which mode goes first, so neither always runs on the warmer (or busier) machine.
    const order: Array<'plain' | 'trunk'> = round % 2 ? ['plain', 'trunk'] : ['trunk', 'plain'];
    for (const mode of order) {
      process.stderr.write(`trunk bench: round ${round}/${o.rounds}, ${mode}, ${o.count} uploads of 1–16 KiB, ${o.concurrency} connections\n`);
      rows.push(await runMode(mode, round, o));
    }
  }
  return { rows, ...formatTrunkTable(rows) };
}
