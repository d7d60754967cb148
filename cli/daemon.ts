import process from 'node:process';
import type { Logger } from '../lib/util/log.ts';

// What `fdfs tracker start` and `fdfs storage start` share: stop cleanly on SIGINT/SIGTERM
// (finish requests in flight, save state, exit 0; a second signal exits at once), start the
// server, and print the one ready line on stdout.

export interface Daemon<A> {
  start(): Promise<A>;
  stop(): Promise<void>;
}

export function failDaemon(name: string, message: string, code: number): never {
  process.stderr.write(`fdfs ${name}: ${message}\n`);
  process.exit(code);
}

export async function runDaemon<A>(name: string, server: Daemon<A>, log: Logger, opts: {
  stopping: string;
  ready: (addr: A) => string;
  startError: (err: unknown) => { message: string; code: number };
}): Promise<void> {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log('warn', `${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    log('info', `${signal}: ${opts.stopping}`);
    server.stop().then(() => process.exit(0), (err: Error) => {
      log('error', `stop failed: ${err.message}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  let addr: A;
  try {
    addr = await server.start();
  } catch (err) {
    if (stopping) return;
    const { message, code } = opts.startError(err);
    failDaemon(name, message, code);
  }
  process.stdout.write(`${opts.ready(addr)}\n`);
}
