import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from '../bench/chaos/fuzz.ts';
import { runChaos } from '../bench/chaos/run-chaos.ts';

// The short versions of `npm run chaos` (bench/chaos): a minute of load with a few faults on the
// full five-storage cluster, and a few thousand fuzzed packets per daemon. Seeds are fixed so a
// failure here replays with `npm run chaos -- --seed …` (same faults, same decisions).

test('chaos, short: kill -9, SIGSTOP and a dropped/stalled storage link lose no acknowledged write', async () => {
  const lines: string[] = [];
  const r = await runChaos({
    seed: 15015,
    durationSec: 45,
    workers: 2,
    maxSize: 1 << 20,
    bytesPerSec: 1_500_000,
    gapSec: [3, 6],
    weights: { 'kill9-storage': 3, 'sigstop-storage': 1, 'proxy-drop': 1, 'proxy-stall': 1 },
    checkActive: 4,
    convergeTimeoutSec: 120,
    // One tracker until the trackers elect a leader (issue "trackers"): two trackers that both act
    // as leader push contradicting statuses and a new member can stay WAIT_SYNC.
    trackers: 1,
    out: (l) => lines.push(l),
  });
  const text = lines.join('\n');
  assert.ok(r.verdict, text);
  assert.equal(r.verdict.lost.length, 0, text);
  assert.equal(r.verdict.corrupted.length, 0, text);
  assert.ok(r.verdict.filesVerified > 20, text);
  assert.ok([...r.faults.values()].reduce((a, b) => a + b, 0) >= 2, `at least two faults injected\n${text}`);
  assert.ok(r.ok, text);
});

test('fuzz, short: 3000 mutated and random packets per daemon; both still answer valid clients', async () => {
  const lines: string[] = [];
  const r = await runFuzz({ seed: 15016, packets: 3000, concurrency: 4, out: (l) => lines.push(l) });
  assert.equal(r.results.length, 2, lines.join('\n'));
  for (const d of r.results) {
    assert.equal(d.packets, 3000);
    assert.ok(d.healthChecks >= 9, lines.join('\n'));
  }
  assert.ok(r.ok, lines.join('\n'));
});
