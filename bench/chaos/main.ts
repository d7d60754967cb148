import crypto from 'node:crypto';
import process from 'node:process';
import { runFuzz } from './fuzz.ts';
import type { FaultKind } from './faults.ts';
import { FULL_WEIGHTS, runChaos } from './run-chaos.ts';

// `npm run chaos [-- fuzz] [--seed N] [--duration S] [--trackers 1|2] [--faults k1,k2] [--packets N] [--verbose]`
// The seeded chaos run (run-chaos.ts) or the packet fuzzer (fuzz.ts); exit 0 only when every
// check passed.

const args = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
function num(name: string, fallback: number): number {
  const v = opt(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`fdfs chaos: --${name} needs a whole number, not ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}

const seed = num('seed', crypto.randomInt(1, 2 ** 31));
const out = (line: string) => process.stdout.write(`${line}\n`);

if (args[0] === 'fuzz') {
  const r = await runFuzz({ seed, packets: num('packets', 100_000), concurrency: num('concurrency', 8), out });
  process.exit(r.ok ? 0 : 1);
} else if (args[0] !== undefined && !args[0].startsWith('--')) {
  process.stderr.write(`fdfs chaos: unknown mode ${args[0]} (use fuzz, or options only)\n`);
  process.exit(2);
} else {
  // --faults a,b: only these kinds (e.g. to replay one kind of fault).
  const only = opt('faults')?.split(',').filter(Boolean) as FaultKind[] | undefined;
  for (const k of only ?? []) {
    if (!(k in FULL_WEIGHTS)) {
      process.stderr.write(`fdfs chaos: unknown fault ${k} (known: ${Object.keys(FULL_WEIGHTS).join(', ')})\n`);
      process.exit(2);
    }
  }
  const weights = only ? Object.fromEntries(only.map((k) => [k, FULL_WEIGHTS[k]])) : FULL_WEIGHTS;
  const r = await runChaos({
    seed,
    durationSec: num('duration', 300),
    workers: 3,
    maxSize: 8 << 20,
    bytesPerSec: 3_000_000,
    gapSec: [3, 10],
    weights,
    checkActive: 6,
    convergeTimeoutSec: 300,
    trackers: num('trackers', 2),
    out,
    verbose: args.includes('--verbose'),
  });
  process.exit(r.ok ? 0 : 1);
}
