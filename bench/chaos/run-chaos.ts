import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../../test/helpers/cluster.ts';
import { FaultController, type FaultKind } from './faults.ts';
import { ChaosLoad } from './load.ts';
import { Rng } from './rng.ts';
import { ChaosCluster } from './topology.ts';
import { mapOf, verify, type Verdict } from './verify.ts';

// One chaos run: the cluster of topology.ts, the load of load.ts and the faults of faults.ts for
// a fixed time, then the checks of verify.ts. Bounded: every wait has a deadline, every process is
// stopped at the end. The seed is printed first so a failing run can be replayed.

export interface ChaosOptions {
  seed: number;
  durationSec: number;
  workers: number;
  maxSize: number;
  bytesPerSec: number;
  gapSec: [number, number];
  weights: Partial<Record<FaultKind, number>>;
  /** Heartbeat timeout of the trackers (check_active_interval, s). */
  checkActive: number;
  convergeTimeoutSec: number;
  /** 2 as the issue asks; 1 while the trackers elect no leader (every tracker then acts as one). */
  trackers: number;
  out: (line: string) => void;
  /** Leftover temp files matching this are reported but do not fail the run (a known open defect). */
  knownLeftovers?: RegExp;
  /** Daemon log lines to the console too. */
  verbose?: boolean;
}

export const FULL_WEIGHTS: Record<FaultKind, number> = {
  'kill9-storage': 4, 'kill9-tracker': 2, 'sigstop-storage': 2, 'sigstop-tracker': 1,
  'disk-full': 2, 'proxy-drop': 2, 'proxy-stall': 2, 'wipe-store-path': 1,
};

export interface ChaosResult {
  ok: boolean;
  verdict: Verdict | null;
  faults: Map<FaultKind, number>;
  logDir: string | null;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const rng = new Rng(o.seed);
  const dir = tempDir('fdfs-chaos-');
  const logFile = path.join(dir, 'daemons.log');
  const logStream = fs.createWriteStream(logFile);
  const started = Date.now();
  const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
  const say = (s: string) => o.out(`[${stamp()}] ${s}`);
  o.out(`chaos seed ${o.seed}: ${o.durationSec} s of load and faults; replay with: npm run chaos -- --seed ${o.seed}${o.durationSec !== 300 ? ` --duration ${o.durationSec}` : ''}`);
  let cluster: ChaosCluster | null = null;
  let load: ChaosLoad | null = null;
  let faults: FaultController | null = null;
  let verdict: Verdict | null = null;
  let ok = false;
  const onSignal = () => { void cluster?.stop().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  try {
    cluster = await ChaosCluster.start({
      dir,
      checkActive: o.checkActive,
      trackers: o.trackers,
      wantDiskFull: (o.weights['disk-full'] ?? 0) > 0,
      log: (label, line) => {
        logStream.write(`[${label}] ${line}\n`);
        if (o.verbose) process.stderr.write(`[${label}] ${line}\n`);
      },
    });
    const c = cluster;
    say(`cluster up: ${c.trackers.length} tracker(s) ${c.trackerAddrs.join(', ')}; storages group1 ${c.group('group1').map((s) => s.host).join(', ')} (${c.proxied.host} also via proxy ${c.proxy.listen.host}); group2 ${c.group('group2').map((s) => s.host).join(', ')}${c.fullDiskNode ? `; ${c.fullDiskNode.label} store path on a tmpfs` : ''}`);
    await waitAllActive(c, 120_000);
    load = new ChaosLoad({
      trackers: c.trackerAddrs, workers: o.workers, maxSize: o.maxSize, bytesPerSec: o.bytesPerSec, rng: rng.fork(1000), networkTimeout: 15,
    });
    faults = new FaultController({
      cluster: c, load, rng: rng.fork(2000), checkActive: o.checkActive, gapSec: o.gapSec, weights: o.weights, log: say,
    });
    const end = Date.now() + o.durationSec * 1000;
    load.start();
    faults.start(end);
    while (Date.now() < end) {
      await sleep(Math.min(10_000, Math.max(0, end - Date.now())));
      const L = load.ledger;
      say(`load: ${[...L.ops.values()].reduce((s, x) => s + x.ok, 0)} ops acknowledged, ${L.liveCount} live files, ${(L.uploadedBytes / 1e6).toFixed(0)} MB uploaded`);
    }
    await faults.stop();
    await load.stop();
    say('load and faults stopped; waiting for convergence');
    verdict = await verify(c, load.ledger, o.convergeTimeoutSec * 1000, say);
    ok = verdict.convergedMs !== null && verdict.trackersAgree && verdict.lost.length === 0 && verdict.corrupted.length === 0
      && verdict.resurrected.length === 0 && verdict.inconsistent.length === 0 && verdict.metadataWrong.length === 0
      && verdict.tempFiles.every((f) => o.knownLeftovers?.test(f)) && load.ledger.corruptReads.length === 0;
    report(o, load, faults, verdict, ok);
  } catch (err) {
    o.out(`chaos run failed: ${(err as Error).stack ?? err}`);
    ok = false;
  } finally {
    process.off('SIGINT', onSignal);
    await faults?.stop().catch(() => {});
    await load?.stop().catch(() => {});
    await cluster?.stop().catch(() => {});
    await new Promise<void>((r) => logStream.end(() => r()));
  }
  if (ok) fs.rmSync(dir, { recursive: true, force: true });
  else o.out(`daemon logs and data kept in ${dir}`);
  return { ok, verdict, faults: faults?.counts ?? new Map(), logDir: ok ? null : dir };
}

async function waitAllActive(c: ChaosCluster, timeoutMs: number): Promise<void> {
  const groups = ['group1', 'group2'];
  const want = groups.map((g) => `${g}: ${c.group(g).map((s) => `${s.id} ACTIVE`).sort().join(', ')}`).join('; ');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const maps = await Promise.all(c.trackers.map((t) => mapOf(t, groups).catch((e: Error) => e.message)));
    if (maps.every((m) => m === want)) return;
    last = maps.join(' | ');
    await sleep(200);
  }
  throw new Error(`the cluster did not come up: ${last}`);
}

function report(o: ChaosOptions, load: ChaosLoad, faults: FaultController, v: Verdict, ok: boolean): void {
  const L = load.ledger;
  const out = o.out;
  out('');
  out(`=== chaos seed ${o.seed} ${ok ? 'PASSED' : 'FAILED'} ===`);
  const ops = [...L.ops].map(([k, x]) => `${k} ${x.ok}${x.failed ? ` (+${x.failed} failed: ${[...x.errors].map(([e, n]) => `${e} ${n}`).join(', ')})` : ''}`);
  out(`operations: ${ops.join('; ')}`);
  out(`uploaded: ${(L.uploadedBytes / 1e6).toFixed(1)} MB in ${L.files.size} acknowledged files; downloads that missed (ENOENT): ${L.readMisses}`);
  const fk = [...faults.counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  out(`faults: ${fk}${faults.skipped.size ? `; not injected: ${[...faults.skipped].map(([k, why]) => `${k} (${why})`).join('; ')}` : ''}`);
  out(`files verified: ${v.filesVerified} live on every member of their group (${v.checks} member checks), ${[...L.files.values()].filter((r) => r.state === 'deleted').length} deletes checked, ${[...L.files.values()].filter((r) => r.state === 'uncertain').length} unacknowledged outcomes consistent: ${v.inconsistent.length === 0 ? 'yes' : 'NO'}`);
  out(`lost = ${v.lost.length}, corrupted = ${v.corrupted.length + L.corruptReads.length}, resurrected = ${v.resurrected.length}, metadata wrong = ${v.metadataWrong.length}, temp files left = ${v.tempFiles.length}`);
  out(`time to converge: ${v.convergedMs === null ? 'DID NOT CONVERGE' : `${(v.convergedMs / 1000).toFixed(1)} s`}; trackers agree: ${v.trackersAgree ? 'yes' : 'NO'} (${v.clusterMap})`);
  const detail = (what: string, list: string[]) => { for (const l of list.slice(0, 10)) out(`  ${what}: ${l}`); };
  detail('lost', v.lost);
  detail('corrupted', v.corrupted);
  detail('corrupt read', L.corruptReads);
  detail('resurrected', v.resurrected);
  detail('inconsistent', v.inconsistent);
  detail('metadata', v.metadataWrong);
  detail('temp file', v.tempFiles);
}
