import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, runCli, tempDir, waitFor } from './helpers/cluster.ts';
import { fdfsCommand } from '../lib/util/daemon-process.ts';

// Issue 14, defects 5 and 10: `npm start` (fdfs dev) as a user meets it in a terminal. Quiet:
// one ready line per daemon and a hint that names the tracker; on busy ports one line pointing to
// --tracker-port; Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it)
// stops every daemon gracefully, each once.

test('fdfs dev: quiet ready lines, a hint with --tracker, a busy port explained, Ctrl-C stops each daemon gracefully', async () => {
  const data = tempDir('fdfs-dev-');
  const trackerPort = await freePort(['127.0.0.1']);
  const storagePort = await freePort(['127.0.0.2', '127.0.0.3']);
  const cmd = fdfsCommand();
  // Its own process group, like a shell's foreground job: the group gets the terminal's SIGINT.
  const dev = spawn(cmd.command, [...cmd.args, 'dev', '--tracker-port', String(trackerPort), '--storage-port', String(storagePort), '--data', data, '--subdirs', '4'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  dev.stdout.on('data', (c) => { stdout += c; });
  dev.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise<number | null>((resolve) => dev.once('exit', (code) => resolve(code)));
  try {
    await waitFor('cluster ready', () => stdout.includes('Ctrl-C stops it.'), 60000, 100);
    const lines = stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3).sort(), [
      `storage listening on 127.0.0.2:${storagePort} (group1)`,
      `storage listening on 127.0.0.3:${storagePort} (group1)`,
      `tracker listening on 127.0.0.1:${trackerPort}`,
    ].sort());
    assert.match(stdout, new RegExp(`npx fdfs upload README\\.md --tracker 127\\.0\\.0\\.1:${trackerPort}\\n`));
    assert.match(stdout, new RegExp(`npx fdfs list --tracker 127\\.0\\.0\\.1:${trackerPort}\\n`));
    assert.equal(lines.length, 7, stdout);
    assert.equal(stderr, '', 'no daemon log lines without --verbose');

    const busy = await runCli(['dev', '--tracker-port', String(trackerPort), '--storage-port', String(storagePort), '--data', path.join(data, 'second')]);
    assert.equal(busy.code, 1);
    const line = busy.stderr.trim();
    assert.equal(line.split('\n').length, 1, busy.stderr);
    assert.match(line, /^fdfs: EADDRINUSE: tracker cannot start: address already in use 127\.0\.0\.1:\d+; .*--tracker-port/);

    process.kill(-dev.pid!, 'SIGINT');
    assert.equal(await exited, 0);
    for (const d of ['tracker', 'storage1', 'storage2']) assert.match(stdout, new RegExp(`^${d} stopped$`, 'm'), stdout);
    assert.doesNotMatch(stdout + stderr, /SIGTERM again|exit code|WARN|ERROR/);
    assert.ok(stdout.indexOf('tracker stopped') > stdout.indexOf('storage1 stopped'), 'the tracker stops last');
  } finally {
    if (dev.exitCode === null) { try { process.kill(-dev.pid!, 'SIGKILL'); } catch { /* gone */ } }
    fs.rmSync(data, { recursive: true, force: true });
  }
});
