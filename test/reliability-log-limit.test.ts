import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { encodeHeader } from '../lib/protocol/header.ts';
import { LogLimiter } from '../lib/util/log-limiter.ts';
import { createLogger } from '../lib/util/log.ts';
import { startDaemon } from '../lib/util/daemon-process.ts';
import { tempDir, waitFor, writeConf } from './helpers/cluster.ts';

// Issue 15 defect 9: repeated warnings are rate-limited, with a count of what was suppressed.

test('lines differing only in numbers share a budget per window; the rest is counted and reported', () => {
  let now = 1_000_000;
  const lines: string[] = [];
  const limiter = new LogLimiter({ burst: 3, windowMs: 10_000, now: () => now });
  const log = createLogger('storage', 'debug', (l) => lines.push(l.replace(/^\S+ /, '')), limiter);
  for (let i = 0; i < 50; i++) log('warn', `127.0.0.${i}:${40000 + i}: unknown command ${200 + i}`);
  log('warn', 'a different warning');
  log('error', '127.0.0.1:1: unknown command 1'); // another level is another kind
  assert.equal(lines.length, 5, lines.join(''));
  now += 10_000;
  limiter.flush();
  assert.equal(lines.length, 6);
  assert.match(lines[5]!, /^WARN  47 more similar line\(s\) suppressed in 10 s; the last: storage: 127\.0\.0\.49:40049: unknown command 249\n$/);
  // A new window starts with a full budget.
  log('warn', '127.0.0.1:5: unknown command 7');
  assert.equal(lines.length, 7);
});

test('a tracker sprayed with 600 unknown commands writes a bounded log', async () => {
  const dir = tempDir('fdfs-loglimit-');
  const lines: string[] = [];
  const conf = writeConf(path.join(dir, 'tracker.conf'), { bind_addr: '127.0.0.1', port: 0, base_path: dir });
  const tracker = await startDaemon({ label: 'tracker', args: ['tracker', 'start', '-c', conf], stderr: (l) => lines.push(l) });
  try {
    const before = lines.length;
    const s = net.connect(tracker.port, '127.0.0.1');
    let answers = 0;
    s.on('data', (c: Buffer) => { answers += c.length / 10; });
    await new Promise<void>((r) => s.once('connect', () => r()));
    const bad = Buffer.concat(Array.from({ length: 600 }, (_, i) => encodeHeader(0, 200 + (i % 50), 0)));
    s.write(bad);
    await waitFor('600 answers', () => answers >= 600, 20000);
    s.destroy();
    const unknown = lines.slice(before).filter((l) => l.includes('unknown command'));
    assert.ok(unknown.length >= 1 && unknown.length <= 25, `${unknown.length} unknown-command lines logged for 600 bad packets`);
  } finally {
    await tracker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
