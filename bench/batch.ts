import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fdfsCommand } from '../lib/util/daemon-process.ts';
import { readManifest } from '../lib/batch/manifest.ts';
import { FdfsClient } from '../lib/client/client.ts';
import { runLoad } from './load.ts';

// The batch tools under load (issue: batch tooling, "Performance"): `fdfs put` of many small and
// a few large files, then `fdfs get` of the manifest, run as the CLI a user runs (a child process,
// whose peak RSS is read from /proc/<pid>/status VmHWM), beside the single-file load generator
// (bench/load.ts) at the same concurrency. bench/run.ts calls runBatchBench against its cluster.

export interface BatchBenchOptions {
  /** "host:port" of the cluster's tracker. */
  trackerAddr: string;
  /** Scratch directory for the generated files, manifests and downloads (emptied at the end). */
  workDir: string;
  /** Files of 4 KiB (issue: 10,000). */
  files4k: number;
  /** Files of 10 MiB (issue: 100). */
  files10m: number;
  concurrency: number;
}

export interface BatchBenchRow {
  op: 'put' | 'get';
  size: number;
  files: number;
  bytes: number;
  seconds: number;
  filesPerSec: number;
  mbPerSec: number;
  /** Peak RSS of the `fdfs` process (null where /proc is not available). */
  peakRssBytes: number | null;
  /** bench/load.ts, same size, count and concurrency. */
  baselineFilesPerSec: number;
  baselineMbPerSec: number;
  /** filesPerSec / baselineFilesPerSec (the issue aims for ≥ 0.9). */
  ratio: number;
  /**
   * get only: FdfsClient.downloadToFile per file at the same concurrency — the single-file
   * download that also writes files (load.ts discards what it downloads, so disk writes and
   * file creation are not in its figure).
   */
  baselineToDiskFilesPerSec?: number;
  exitCode: number | null;
}

export interface BatchBenchResult {
  concurrency: number;
  rows: BatchBenchRow[];
  /** Peak RSS of `fdfs put` for a tenth of the small files vs all of them: flat means no growth. */
  rss: { tenthFiles: number; tenthPeakBytes: number | null; fullFiles: number; fullPeakBytes: number | null; growthBytes: number | null };
  table: string;
}

const MB = 1024 * 1024;

function vmHwm(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Run `fdfs ARGS`, timing it and sampling its peak RSS until it exits. */
async function runMeasured(args: string[]): Promise<{ seconds: number; peak: number | null; code: number | null; stderr: string }> {
  const cmd = fdfsCommand();
  const started = performance.now();
  const child = spawn(cmd.command, [...cmd.args, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let peak: number | null = null;
  // VmHWM only grows, so the last sample before exit is the peak (to within one period).
  const timer = setInterval(() => {
    const v = vmHwm(child.pid!);
    if (v !== null) peak = Math.max(peak ?? 0, v);
  }, 20);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  clearInterval(timer);
  return { seconds: (performance.now() - started) / 1000, peak, code, stderr };
}

/** `count` files of `size` random bytes under dir, 100 per sub-directory (sub-directory k/…). */
function generate(dir: string, size: number, count: number): void {
  const block = crypto.randomBytes(Math.min(size, 4 * MB));
  for (let i = 0; i < count; i++) {
    const sub = path.join(dir, String(Math.floor(i / 100)).padStart(4, '0'));
    if (i % 100 === 0) fs.mkdirSync(sub, { recursive: true });
    const fd = fs.openSync(path.join(sub, `f${i}.bin`), 'w');
    // Unique content per file (the first 8 bytes), without generating size random bytes each time.
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(i));
    let left = size;
    let first = true;
    while (left > 0) {
      const n = Math.min(left, block.length);
      const chunk = first ? Buffer.concat([head, block.subarray(8, n)]).subarray(0, n) : block.subarray(0, n);
      fs.writeSync(fd, chunk);
      left -= n;
      first = false;
    }
    fs.closeSync(fd);
  }
}

/** N workers over `ids`, each file downloaded to its own file: the single-file to-disk figure. */
async function downloadToDiskRate(trackerAddr: string, ids: string[], concurrency: number, dir: string): Promise<number> {
  fs.mkdirSync(dir, { recursive: true });
  const client = new FdfsClient({ trackers: [trackerAddr] });
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: concurrency }, async () => {
      for (let k = next++; k < ids.length; k = next++) await client.downloadToFile(ids[k]!, path.join(dir, `f${k}`));
    }));
  } finally {
    await client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return ids.length / ((performance.now() - started) / 1000);
}

function table(rows: BatchBenchRow[]): string {
  const head = ['op', 'size', 'files', 'seconds', 'files/s', 'MB/s', 'single-file files/s', 'ratio', 'single-file to disk', 'peak RSS'];
  const lines = rows.map((r) => [r.op, r.size >= MB ? `${r.size / MB} MiB` : `${r.size / 1024} KiB`, String(r.files),
    r.seconds.toFixed(2), r.filesPerSec.toFixed(0), r.mbPerSec.toFixed(1), r.baselineFilesPerSec.toFixed(0),
    `${(r.ratio * 100).toFixed(0)}%`,
    r.baselineToDiskFilesPerSec === undefined ? '' : `${r.baselineToDiskFilesPerSec.toFixed(0)} (${((r.filesPerSec / r.baselineToDiskFilesPerSec) * 100).toFixed(0)}%)`,
    r.peakRssBytes === null ? '-' : `${(r.peakRssBytes / MB).toFixed(0)} MiB`]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

export async function runBatchBench(opts: BatchBenchOptions): Promise<BatchBenchResult> {
  const [host, portText] = [opts.trackerAddr.slice(0, opts.trackerAddr.lastIndexOf(':')), opts.trackerAddr.slice(opts.trackerAddr.lastIndexOf(':') + 1)];
  const tracker = { host, port: Number(portText) };
  const c = opts.concurrency;
  const base = ['--tracker', opts.trackerAddr];
  const rows: BatchBenchRow[] = [];
  fs.mkdirSync(opts.workDir, { recursive: true });
  const rss: BatchBenchResult['rss'] = { tenthFiles: 0, tenthPeakBytes: null, fullFiles: 0, fullPeakBytes: null, growthBytes: null };

  const sets: Array<{ name: string; size: number; count: number }> = [
    { name: 'small', size: 4096, count: opts.files4k },
    { name: 'large', size: 10 * MB, count: opts.files10m },
  ];
  try {
    for (const set of sets) {
      if (set.count <= 0) continue;
      const src = path.join(opts.workDir, set.name);
      const manifest = path.join(opts.workDir, `${set.name}.jsonl`);
      const out = path.join(opts.workDir, `${set.name}-out`);
      fs.rmSync(src, { recursive: true, force: true });
      fs.rmSync(manifest, { force: true });
      fs.rmSync(out, { recursive: true, force: true });
      generate(src, set.size, set.count);

      // The single-file baseline at the same concurrency and count.
      const upBase = await runLoad({ tracker, op: 'upload', size: set.size, concurrency: c, count: set.count });
      const downBase = await runLoad({ tracker, op: 'download', size: set.size, concurrency: c, count: set.count, fileIds: upBase.fileIds });

      if (set.name === 'small' && set.count >= 1000) {
        // Memory must not grow with the number of files: compare a tenth of the run with all of it.
        const tenthDirs = fs.readdirSync(src).sort().slice(0, Math.max(1, Math.floor(fs.readdirSync(src).length / 10)));
        const tenthManifest = path.join(opts.workDir, 'tenth.jsonl');
        fs.rmSync(tenthManifest, { force: true });
        const tenth = await runMeasured([...base, 'put', ...tenthDirs.map((d) => path.join(src, d)), '-m', tenthManifest, '-j', String(c), '--quiet']);
        rss.tenthFiles = tenthDirs.length * 100;
        rss.tenthPeakBytes = tenth.peak;
      }

      const put = await runMeasured([...base, 'put', src, '-m', manifest, '-j', String(c), '--quiet']);
      if (put.code !== 0) throw new Error(`fdfs put failed (${put.code}): ${put.stderr}`);
      let stored = 0;
      for await (const r of readManifest(manifest)) { void r; stored++; }
      const bytes = stored * set.size;
      rows.push({
        op: 'put', size: set.size, files: stored, bytes, seconds: put.seconds,
        filesPerSec: stored / put.seconds, mbPerSec: bytes / 1e6 / put.seconds, peakRssBytes: put.peak,
        baselineFilesPerSec: upBase.opsPerSec, baselineMbPerSec: upBase.mbPerSec, ratio: stored / put.seconds / upBase.opsPerSec, exitCode: put.code,
      });
      if (set.name === 'small') { rss.fullFiles = stored; rss.fullPeakBytes = put.peak; }

      const toDisk = await downloadToDiskRate(opts.trackerAddr, upBase.fileIds, c, path.join(opts.workDir, `${set.name}-single`));
      const get = await runMeasured([...base, 'get', manifest, '--out', out, '-j', String(c), '--quiet']);
      if (get.code !== 0) throw new Error(`fdfs get failed (${get.code}): ${get.stderr}`);
      rows.push({
        op: 'get', size: set.size, files: stored, bytes, seconds: get.seconds,
        filesPerSec: stored / get.seconds, mbPerSec: bytes / 1e6 / get.seconds, peakRssBytes: get.peak,
        baselineFilesPerSec: downBase.opsPerSec, baselineMbPerSec: downBase.mbPerSec, ratio: stored / get.seconds / downBase.opsPerSec, exitCode: get.code,
        baselineToDiskFilesPerSec: toDisk,
      });
      fs.rmSync(src, { recursive: true, force: true });
      fs.rmSync(out, { recursive: true, force: true });
    }
  } finally {
    if (rss.tenthPeakBytes !== null && rss.fullPeakBytes !== null) rss.growthBytes = rss.fullPeakBytes - rss.tenthPeakBytes;
  }
  return { concurrency: c, rows, rss, table: table(rows) };
}
