import fs from 'node:fs';
import process from 'node:process';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { runLoad, type LoadResult } from './load.ts';
import { startCluster, waitFor, type Cluster } from '../test/helpers/cluster.ts';
import { ClientConnection } from '../lib/net/client-connection.ts';
import { CMD } from '../lib/protocol/codes.ts';
import { runReplicationBench, formatReplicationResults } from './replication.ts';
import { runBatchBench } from './batch.ts';
import { runHttpBench } from './http.ts';
import { tempDir } from '../test/helpers/cluster.ts';
import { runPerfBench } from './perf.ts';
import { runTrunkBench } from './trunk.ts';

// `npm run bench [-- core|replication|batch|http|perf|compare|trunk|all] [--quick] [--rounds N] [--storages 1|2] [--only '1 MiB c16,4 KiB'] [--storage-cpus 0]`:
// real daemons, a table for people and JSON for machines. `perf` / `compare` are bench/perf.ts (the
// neutral load tool, server CPU per op, C FastDFS side by side); `trunk` is bench/trunk.ts (trunk group vs
// plain group, [--count N] [--concurrency C]); the others use bench/load.ts.
// Figures are only meaningful on an otherwise idle machine; this is never a unit test.

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const valueOf = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const suite = args.find((a, i) => !a.startsWith('--') && !['--rounds', '--storages', '--count', '--concurrency', '--only', '--storage-cpus'].includes(args[i - 1] ?? '')) ?? 'core';
if (!['core', 'replication', 'batch', 'http', 'perf', 'compare', 'trunk', 'all'].includes(suite)) {
  process.stderr.write(`unknown suite ${suite}: use core, replication, batch, http, perf, compare, trunk or all\n`);
  process.exit(2);
}
const rounds = Number(valueOf('--rounds') ?? (quick ? 1 : 3));
const storageCount = Number(valueOf('--storages') ?? 1);
if (!(Number.isInteger(rounds) && rounds >= 1) || (storageCount !== 1 && storageCount !== 2)) {
  process.stderr.write('--rounds takes a positive integer, --storages 1 or 2\n');
  process.exit(2);
}

function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const m = /^(Vm\w+):\s+(\d+) kB/.exec(line);
      if (m) out[m[1]!] = Number(m[2]) * 1024;
    }
  } catch { /* not Linux */ }
  return out;
}

function resetPeak(pid: number): void {
  // Linux ≥ 4.0: writing 5 resets VmHWM to the current RSS.
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* not permitted */ }
}

function bigStream(total: number): () => Readable {
  const chunk = crypto.randomBytes(1024 * 1024);
  return () => Readable.from((function* () {
    for (let left = total; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
  })());
}

async function waitWritable(c: Cluster): Promise<void> {
  await waitFor('storage accepting uploads', async () => {
    const conn = await ClientConnection.connect('127.0.0.1', c.tracker.port);
    try { await conn.request(CMD.SERVICE_QUERY_STORE_WITHOUT_GROUP_ONE); return true; } finally { conn.close(); }
  }, 30000, 200);
}

const MB = 1024 * 1024;

async function core(): Promise<Record<string, unknown>> {
  const cluster = await startCluster({ storages: 1, storage: { subdir_count_per_path: 256 } });
  const storagePid = cluster.storages[0]!.child.pid!;
  const tracker = { host: '127.0.0.1', port: cluster.tracker.port };
  const rows: LoadResult[] = [];
  try {
    await waitWritable(cluster);
    const plan: Array<[number, number, number]> = [
      [4096, 1, quick ? 500 : 3000], [4096, 16, quick ? 2000 : 20000],
      [MB, 1, quick ? 50 : 300], [MB, 16, quick ? 200 : 1500],
    ];
    for (const [size, c, count] of plan) {
      const up = await runLoad({ tracker, op: 'upload', size, concurrency: c, count });
      rows.push(up);
      rows.push(await runLoad({ tracker, op: 'download', size, concurrency: c, count, fileIds: up.fileIds }));
    }
    const big = 256 * MB;
    const base = procStatus(storagePid).VmRSS ?? 0;
    resetPeak(storagePid);
    const bigUp = await runLoad({ tracker, op: 'upload', size: big, concurrency: 1, count: 1, stream: bigStream(big) });
    const bigDown = await runLoad({ tracker, op: 'download', size: big, concurrency: 1, count: 1, fileIds: bigUp.fileIds });
    const peak = procStatus(storagePid).VmHWM ?? 0;
    rows.push(bigUp, bigDown);
    return {
      rows: rows.map(({ fileIds, ...r }) => r),
      storageRss: { baselineBytes: base, peakBytes: peak, growthBytes: Math.max(0, peak - base) },
    };
  } finally {
    await cluster.stop();
  }
}

function table(rows: Array<Omit<LoadResult, 'fileIds'>>): string {
  const head = ['op', 'size', 'c', 'ops', 'errors', 'ops/s', 'MB/s', 'p50 ms', 'p99 ms'];
  const fmtSize = (n: number) => (n >= MB ? `${n / MB} MiB` : `${n / 1024} KiB`);
  const lines = rows.map((r) => [r.op, fmtSize(r.size), String(r.concurrency), String(r.count), String(r.errors),
    r.opsPerSec.toFixed(0), r.mbPerSec.toFixed(1), r.p50ms.toFixed(2), r.p99ms.toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

const results: Record<string, unknown> = { suite, quick, node: process.version, date: new Date().toISOString() };
if (suite === 'core' || suite === 'all') {
  const r = await core();
  results.core = r;
  process.stdout.write(`\n== core: one tracker, one storage ==\n${table(r.rows as Array<Omit<LoadResult, 'fileIds'>>)}\n`);
  const rss = r.storageRss as { baselineBytes: number; peakBytes: number; growthBytes: number };
  process.stdout.write(`storage RSS: baseline ${(rss.baselineBytes / MB).toFixed(1)} MiB, peak during 256 MiB transfers ${(rss.peakBytes / MB).toFixed(1)} MiB, growth ${(rss.growthBytes / MB).toFixed(1)} MiB\n`);
}
if (suite === 'replication' || suite === 'all') {
  const r = await runReplicationBench({ quick });
  results.replication = r;
  process.stdout.write(`\n== replication: one tracker, two storages of group1 ==\n${formatReplicationResults(r)}\n`);
}
if (suite === 'batch' || suite === 'all') {
  const cluster = await startCluster({ storages: 1, storage: { subdir_count_per_path: 256 } });
  const work = tempDir('fdfs-bench-batch-');
  try {
    await waitWritable(cluster);
    const r = await runBatchBench({ trackerAddr: cluster.trackerAddr, workDir: work, files4k: quick ? 1000 : 10000,
      files10m: quick ? 10 : 100, concurrency: 16 });
    results.batch = r;
    process.stdout.write(`\n== batch: fdfs put / fdfs get against one tracker and one storage ==\n${r.table}\n`);
  } finally {
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
if (suite === 'http' || suite === 'all') {
  const r = await runHttpBench({ quick });
  results.http = r.rows;
  process.stdout.write(`\n== http: GET from the storage's HTTP server and from nginx, same files ==\n${r.table}\n${r.ratios}\n`);
}
if (suite === 'perf' || suite === 'compare') {
  const r = await runPerfBench({ quick, compare: suite === 'compare', rounds, storages: storageCount as 1 | 2,
    only: valueOf('--only')?.split(',').map((o) => o.trim()).filter(Boolean), storageCpus: valueOf('--storage-cpus') });
  results.perf = { rounds, storages: storageCount, storageCpus: valueOf('--storage-cpus'), rows: r.rows, replication: r.replication, skippedC: r.skippedC };
  const pinned = valueOf('--storage-cpus') ? `, storage pinned to CPU ${valueOf('--storage-cpus')}` : '';
  process.stdout.write(`\n== ${suite}: 1 tracker + ${storageCount} storage(s)${pinned}, medians of ${rounds} round(s); CPU = utime+stime of the daemons ÷ ops ==\n${r.table}\n`);
}
if (suite === 'trunk') {
  // The 100,000 uploads; one round unless --rounds says otherwise (a round is two fresh clusters).
  const count = Number(valueOf('--count') ?? (quick ? 10_000 : 100_000));
  const concurrency = Number(valueOf('--concurrency') ?? 16);
  if (!(Number.isInteger(count) && count >= 1) || !(Number.isInteger(concurrency) && concurrency >= 1)) {
    process.stderr.write('--count and --concurrency take positive integers\n');
    process.exit(2);
  }
  const r = await runTrunkBench({ count, rounds: valueOf('--rounds') ? rounds : 1, concurrency });
  results.trunk = { count, concurrency, rows: r.rows, summary: r.summary };
  process.stdout.write(`\n== trunk: ${count} uploads of 1–16 KiB, trunk group vs plain group (1 tracker + 1 storage each, fresh), ${concurrency} connections; CPU = storage utime+stime ÷ ops ==\n${r.table}\n`);
}
process.stdout.write(`\nJSON ${JSON.stringify(results)}\n`);
