import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers/cluster.ts';
import { capturesAvailable } from './tui-fixtures.ts';

// Issue 14, defect 4: the monitor's screen as a real terminal shows it (tmux is the terminal
// emulator; capture-pane reads what a user sees), not only Ink's frames. After the start, a
// resize from 100x30 to 70x22 and back, and a member deleted, the screen must be exactly what a
// fresh monitor draws in the same state: no line of an older frame left behind.

const haveTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
const skip = (!haveTmux && 'tmux not installed') || (!capturesAvailable && 'captures not available') || false;

const harness = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'monitor-harness.js');
const socket = `fdfs-test-${process.pid}`;

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function start(name: string, step: number, cols: number, rows: number): void {
  // exec: the pane's process is the monitor itself, so SIGUSR2 reaches it. CI unset: Ink draws
  // only the last frame when it believes it runs in CI.
  const env = `FDFS_SHARED=${JSON.stringify(process.env.FDFS_SHARED ?? '')}`;
  tmux('new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows),
    `exec env -u CI -u CONTINUOUS_INTEGRATION TERM=xterm-256color ${process.env.FDFS_SHARED ? env : ''} ${JSON.stringify(process.execPath)} ${JSON.stringify(harness)} ${step}`);
}

const screen = (name: string) => tmux('capture-pane', '-p', '-t', name);

/** What a monitor started fresh at this size and step shows, once its screen holds still. */
async function freshScreen(step: number, cols: number, rows: number, ready: RegExp): Promise<string> {
  const name = `fresh${step}x${cols}`;
  start(name, step, cols, rows);
  try {
    let last = '';
    let sameSince = 0;
    return await waitFor<string | undefined>(`a fresh ${cols}x${rows} monitor at step ${step}`, () => {
      const s = screen(name);
      if (s !== last || !ready.test(s)) { last = s; sameSince = Date.now(); return undefined; }
      return Date.now() - sameSince >= 500 ? s : undefined;
    }, 20000, 100) as string;
  } finally {
    tmux('kill-session', '-t', name);
  }
}

async function sameAs(name: string, expected: string, what: string): Promise<void> {
  let last = '';
  await waitFor(what, () => (last = screen(name)) === expected, 15000, 100).catch(() => {
    assert.equal(last, expected, `${what}: the terminal shows lines a fresh render does not`);
  });
}

before(() => {
  if (!skip) tmux('start-server', ';', 'set-option', '-g', 'exit-empty', 'off');
});

after(() => {
  if (!skip) spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
});

test('the monitor screen equals a fresh render: at start, after 100x30 → 70x22 → 100x30, after a member is deleted', { skip }, async () => {
  const wide = await freshScreen(0, 100, 30, /Events \(1 since start\)/);
  const narrow = await freshScreen(0, 70, 22, /Events \(1 since start\)/);
  const deleted = await freshScreen(1, 100, 30, /deleted/);
  assert.equal(wide.match(/fdfs monitor {2}leader/g)?.length, 1, wide);
  assert.notEqual(wide, narrow);

  start('live', 0, 100, 30);
  await sameAs('live', wide, 'at start');
  tmux('resize-window', '-t', 'live', '-x', '70', '-y', '22');
  await sameAs('live', narrow, 'after a resize to 70x22');
  tmux('resize-window', '-t', 'live', '-x', '100', '-y', '30');
  await sameAs('live', wide, 'after a resize back to 100x30');
  const pid = Number(tmux('display-message', '-p', '-t', 'live', '#{pane_pid}').trim());
  process.kill(pid, 'SIGUSR2');
  await sameAs('live', deleted, 'after a member is deleted');
  assert.equal(deleted.match(/ID +STATUS/g)?.length, 1, 'one column header');
  assert.equal(deleted.match(/127\.0\.0\.3 +DELETED/g)?.length, 1, deleted);
});
