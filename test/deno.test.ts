import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startCluster, runCli, tempDir, waitFor } from './helpers/cluster.ts';

// The same TypeScript sources run on Deno 2 (the `deno` npm package is a devDependency):
// tracker and storage start under Deno, a file goes up and comes back intact.

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const root = repoRoot();
const denoBin = path.join(root, 'node_modules', '.bin', 'deno');
const deno = { command: denoBin, args: ['run', '-A', path.join(root, 'cli', 'main.ts')] };

test('tracker and storage run under Deno; upload and download are intact', { skip: !fs.existsSync(denoBin) && 'deno not installed' }, async () => {
  const cluster = await startCluster({ storages: 1, command: deno });
  const work = tempDir('fdfs-deno-');
  try {
    const cli = (...args: string[]) => runCli(['--tracker', cluster.trackerAddr, ...args], { command: deno });
    await waitFor('storage ACTIVE', async () => {
      const r = await cli('list', '--json');
      return r.code === 0 && r.stdout.includes('"ACTIVE"');
    }, 30000, 250);
    const src = path.join(work, 'blob.bin');
    const content = crypto.randomBytes(1024 * 1024 + 17);
    fs.writeFileSync(src, content);
    const up = await cli('upload', src);
    assert.equal(up.code, 0, up.stderr);
    const dest = path.join(work, 'back.bin');
    const down = await cli('download', up.stdout.trim(), dest);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(fs.readFileSync(dest).equals(content));
  } finally {
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
