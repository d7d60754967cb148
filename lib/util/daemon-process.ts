import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

// Start `fdfs` daemons as child processes and wait for their ready line. Used by `fdfs dev`
// (npm start), the integration tests and the benchmarks, so all three run what a user runs.

/** The command that runs this same `fdfs` (compiled JS on Node, the TypeScript sources on Deno). */
export function fdfsCommand(): { command: string; args: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const main = fileURLToPath(new URL('../../cli/main.ts', here));
    return { command: process.execPath, args: ['run', '-A', main] };
  }
  return { command: process.execPath, args: [fileURLToPath(new URL('../../cli/main.js', here))] };
}

export interface DaemonOptions {
  args: string[];
  label: string;
  /** Ready line pattern; group 1 host, group 2 port. */
  ready?: RegExp;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where the daemon's stderr goes: a callback per line, or 'inherit'/'ignore'. */
  stderr?: 'inherit' | 'ignore' | ((line: string) => void);
  /** Called with each stdout line (the ready line included). */
  stdout?: (line: string) => void;
  command?: { command: string; args: string[] };
  /**
   * Own process group: Ctrl-C in a terminal then reaches only the parent, which stops the daemon
   * with one SIGTERM (a shared group would get SIGINT and SIGTERM: "again: exiting without waiting").
   */
  detached?: boolean;
}

export interface Daemon {
  child: ChildProcess;
  label: string;
  readyLine: string;
  host: string;
  port: number;
  /** SIGTERM, then SIGKILL after timeoutMs; resolves with the exit code (null if killed). */
  stop(timeoutMs?: number): Promise<number | null>;
  kill9(): Promise<void>;
  exited: Promise<number | null>;
}

// The port must end the address: a lazy host would stop at the first ':' of `[::1]:23000`.
const READY = /listening on \[?([0-9a-fA-F.:]+?)\]?:(\d+)(?=\s|$)/;

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const cmd = opts.command ?? fdfsCommand();
  const child = spawn(cmd.command, [...cmd.args, ...opts.args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', typeof opts.stderr === 'function' ? 'pipe' : (opts.stderr ?? 'pipe')],
    detached: opts.detached ?? false,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderrTail = '';
  if (child.stderr) {
    const rl = createInterface({ input: child.stderr });
    rl.on('line', (line) => {
      stderrTail = (stderrTail + line + '\n').slice(-2000);
      if (typeof opts.stderr === 'function') opts.stderr(line);
    });
  }
  const pattern = opts.ready ?? READY;
  const readyLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.label}: no ready line within ${opts.timeoutMs ?? 30000} ms\n${stderrTail}`));
    }, opts.timeoutMs ?? 30000);
    const rl = createInterface({ input: child.stdout! });
    let found = false;
    rl.on('line', (line) => {
      opts.stdout?.(line);
      if (!found && pattern.test(line)) {
        found = true;
        clearTimeout(timer);
        resolve(line);
      }
    });
    exited.then((code) => {
      if (found) return;
      clearTimeout(timer);
      reject(new Error(`${opts.label} exited with code ${code} before it was ready\n${stderrTail}`));
    });
  });
  const m = pattern.exec(readyLine)!;
  const stop = async (timeoutMs = 10000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const kill9 = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  return { child, label: opts.label, readyLine, host: m[1] ?? '', port: Number(m[2] ?? 0), stop, kill9, exited };
}
