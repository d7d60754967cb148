import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, runCli, waitFor, type Cluster } from './helpers/cluster.ts';
import { fdfsCommand } from '../lib/util/daemon-process.ts';

// The user's story: a tracker and two storages as real processes; `fdfs monitor` runs in a real
// pseudo-terminal (python3's pty module: node-pty is not a dependency), the operator reads the
// screen until group1 and both storages are ACTIVE, narrows the window, presses q, and gets the
// shell back. And the scripts' side: `--once --json` against the same live cluster.

const PTY_HELPER = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios
argv = json.loads(sys.argv[1]); cols = int(sys.argv[2]); rows = int(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(argv[0], argv)
inp = sys.stdin.fileno(); out = sys.stdout.buffer; open_in = True; pending = b''
while True:
    r, _, _ = select.select([fd] + ([inp] if open_in else []), [], [], 0.1)
    if fd in r:
        try: data = os.read(fd, 65536)
        except OSError: data = b''
        if not data: break
        out.write(data); out.flush()
    if open_in and inp in r:
        data = os.read(inp, 1024)
        if not data: open_in = False; continue
        pending += data
        while pending:
            # "\0resize COLS ROWS\n" resizes the terminal (SIGWINCH); anything else is typed.
            if pending.startswith(b'\0'):
                nl = pending.find(b'\n')
                if nl < 0: break
                _, c, r2 = pending[1:nl].split()
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', int(r2), int(c), 0, 0))
                pending = pending[nl + 1:]
            else:
                z = pending.find(b'\0'); z = len(pending) if z < 0 else z
                os.write(fd, pending[:z]); pending = pending[z:]
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
`;

const havePython = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
const denoBin = path.join(repoRoot(), 'node_modules', '.bin', 'deno');
/** The same sources under Deno (the `deno` npm package is a devDependency). */
const deno = { command: denoBin, args: ['run', '-A', path.join(repoRoot(), 'cli', 'main.ts')] };
const haveDeno = fs.existsSync(denoBin);

let cluster: Cluster;

before(async () => {
  cluster = await startCluster({ storages: 2 });
  // The monitor's own words go into the failure message if the cluster never settles.
  let last = '';
  await waitFor('two ACTIVE storages', async () => {
    const r = await runCli(['monitor', '--once', '--json', '--tracker', cluster.trackerAddr]);
    last = r.stderr || r.stdout.slice(0, 500);
    if (r.code !== 0) return false;
    const j = JSON.parse(r.stdout);
    const storages: Array<{ id: string; status: string; why: string | null }> = j.groups[0]?.storages ?? [];
    last = storages.map((s) => `${s.id} ${s.status}${s.why ? ` (${s.why})` : ''}`).join('; ');
    return storages.filter((s) => s.status === 'ACTIVE').length === 2;
  }, 30000, 250).catch((err) => { throw new Error(`${(err as Error).message}; last seen: ${last}`); });
});

after(async () => {
  await cluster?.stop();
});

const ANSI = /\u001B(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007]*\u0007|[@-Z\\-_])/g;

class PtySession {
  readonly child: ChildProcess;
  raw = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], cols: number, rows: number, cmd = fdfsCommand()) {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', CI: '0', FORCE_COLOR: '1' };
    // Ink renders nothing but the last frame when it believes it runs in CI.
    delete env.CONTINUOUS_INTEGRATION;
    this.child = spawn('python3', ['-c', PTY_HELPER, JSON.stringify([cmd.command, ...cmd.args, ...args]), String(cols), String(rows)],
      { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (c: Buffer) => { this.raw += c.toString('utf8'); });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** The text written so far, escape sequences removed, from `from` (a raw offset) on. */
  text(from = 0): string {
    return this.raw.slice(from).replace(ANSI, '');
  }

  async waitForText(what: string, pred: (t: string) => boolean, from = 0, timeoutMs = 20000): Promise<void> {
    await waitFor(what, () => pred(this.text(from)), timeoutMs, 50).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen text ---\n${this.text(from).slice(-3000)}`);
    });
  }

  type(s: string): void { this.child.stdin!.write(s); }
  resize(cols: number, rows: number): void { this.child.stdin!.write(`\0resize ${cols} ${rows}\n`); }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

test('fdfs monitor in a real terminal: group1 and both storages ACTIVE, resize, q quits cleanly', { skip: !havePython && 'python3 with pty not available' }, async () => {
  const s = new PtySession(['monitor', '--tracker', cluster.trackerAddr, '--interval', '0.5'], 120, 30);
  try {
    await s.waitForText('the monitor screen', (t) => /fdfs monitor {2}leader/.test(t));
    assert.ok(s.raw.includes('\u001B[?1049h'), 'full screen: the alternate screen is used');
    await s.waitForText('group1 and two ACTIVE storages', (t) => /group1 {2}2 writable of 2/.test(t)
      && /127\.0\.0\.2 +127\.0\.0\.2:\d+ +ACTIVE/.test(t) && /127\.0\.0\.3 +127\.0\.0\.3:\d+ +ACTIVE/.test(t));
    const t = s.text();
    assert.match(t, new RegExp(`● ${cluster.trackerAddr.replace(/\./g, '\\.')} leader`));
    assert.match(t, /ID +ADDRESS +STATUS +BEAT +FREE +WRITE +READ +LAG/);
    // Narrower window: the layout follows (the address column goes first).
    const mark = s.raw.length;
    s.resize(70, 20);
    await s.waitForText('the narrow layout', (x) => /ID +STATUS +BEAT +FREE +LAG/.test(x) || /ID +STATUS +BEAT +LAG/.test(x), mark);
    s.type('q');
    const code = await Promise.race([s.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10000))]);
    assert.equal(code, 0, 'q exits with status 0');
    const tail = s.raw.slice(-200);
    assert.ok(tail.includes('\u001B[?1049l'), 'the normal screen is restored');
    assert.ok(tail.includes('\u001B[?25h'), 'the cursor is shown again');
  } finally {
    await s.kill();
  }
});

test('Ctrl-C quits cleanly too', { skip: !havePython && 'python3 with pty not available' }, async () => {
  const s = new PtySession(['monitor', '--tracker', cluster.trackerAddr], 100, 24);
  try {
    await s.waitForText('group1', (t) => /group1 {2}2 writable/.test(t));
    s.type('\u0003');
    const code = await Promise.race([s.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10000))]);
    assert.equal(code, 0);
    assert.ok(s.raw.slice(-200).includes('\u001B[?1049l'));
  } finally {
    await s.kill();
  }
});

test('--once --json against the live cluster: the documented shape with live values', async () => {
  const r = await runCli(['monitor', '--once', '--json', '--tracker', cluster.trackerAddr]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.version, 1);
  assert.equal(j.error, null);
  assert.equal(j.leader, cluster.trackerAddr);
  assert.equal(j.source, cluster.trackerAddr);
  assert.deepEqual(j.trackers.map((t: any) => [t.address, t.reachable, t.isLeader]), [[cluster.trackerAddr, true, true]]);
  assert.equal(j.trackers[0].version, '6.16.1');
  assert.equal(j.groups.length, 1);
  const g = j.groups[0];
  assert.equal(g.name, 'group1');
  assert.equal(g.storageCount, 2);
  assert.equal(g.writableCount, 2);
  assert.equal(g.storagePort, cluster.storagePort);
  assert.ok(g.totalMb > 0 && g.freeMb > 0);
  assert.deepEqual(g.storages.map((s: any) => [s.id, s.address, s.status, s.why]), [
    ['127.0.0.2', `127.0.0.2:${cluster.storagePort}`, 'ACTIVE', null],
    ['127.0.0.3', `127.0.0.3:${cluster.storagePort}`, 'ACTIVE', null],
  ]);
  for (const s of g.storages) {
    assert.ok(s.heartbeatAgeSec !== null && s.heartbeatAgeSec < 30, `recent heartbeat: ${s.heartbeatAgeSec}`);
    assert.equal(Object.keys(s.counters).length, 38);
    assert.equal(s.syncLag.length, 1);
  }
});

test('not a terminal: `fdfs monitor` prints one text snapshot and exits', async () => {
  const r = await runCli(['monitor', '--tracker', cluster.trackerAddr]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^fdfs monitor snapshot, /);
  assert.match(r.stdout, /Group 1: group1/);
  assert.match(r.stdout, /Storage 2: 127\.0\.0\.3 .* ACTIVE/);
});

test('--once with one tracker down reports it; with none reachable exits 1', async () => {
  const both = await runCli(['monitor', '--once', '--tracker', cluster.trackerAddr, '--tracker', '127.0.0.1:1']);
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /127\.0\.0\.1:1 +UNREACHABLE .*ECONNREFUSED/);
  assert.match(both.stdout, /Group 1: group1/);
  const none = await runCli(['monitor', '--once', '--json', '--tracker', '127.0.0.1:1']);
  assert.equal(none.code, 1);
  const j = JSON.parse(none.stdout);
  assert.equal(j.error, 'no tracker reachable');
  assert.equal(j.trackers[0].reachable, false);
});

test('on Deno: --once --json and the TUI in a terminal', { skip: (!haveDeno && 'deno not installed') || (!havePython && 'python3 with pty not available') }, async () => {
  const r = await runCli(['monitor', '--once', '--json', '--tracker', cluster.trackerAddr], { command: deno });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.groups[0].name, 'group1');
  assert.equal(j.trackers[0].isLeader, true);
  const s = new PtySession(['monitor', '--tracker', cluster.trackerAddr], 100, 24, deno);
  try {
    await s.waitForText('group1 under Deno', (t) => /group1 {2}2 writable/.test(t) && /127\.0\.0\.2 +ACTIVE/.test(t), 0, 40000);
    s.type('q');
    const code = await Promise.race([s.exited, new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 10000))]);
    assert.equal(code, 0);
    assert.ok(s.raw.slice(-200).includes('\u001B[?1049l'), 'the normal screen is restored');
  } finally {
    await s.kill();
  }
});
