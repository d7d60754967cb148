import process from 'node:process';
import { LogLimiter } from './log-limiter.ts';

// One small logger for every daemon: stderr, one line per event, level filtered.
// (stdout is reserved for the ready line and command output.)

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  (level: LogLevel, msg: string): void;
  /** A logger for one module: its lines say `<daemon> <module>:`. */
  child(prefix: string): Logger;
  /** Whether lines of this level are written (skip building debug-only work otherwise). */
  enabled?(level: LogLevel): boolean;
}

/**
 * `limiter` (shared with child loggers) rate-limits repeated lines; pass null to write every
 * line.
 */
export function createLogger(prefix: string, minLevel: LogLevel = (process.env.FDFS_LOG_LEVEL as LogLevel) || 'info',
  sink: (line: string) => void = (l) => process.stderr.write(l), limiter: LogLimiter | null = new LogLimiter()): Logger {
  const min = ORDER[minLevel] ?? ORDER.info;
  const log = ((level: LogLevel, msg: string) => {
    if (ORDER[level] < min) return;
    const line = `${prefix}: ${msg}`;
    if (limiter && !limiter.admit(level, line)) return;
    sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${line}\n`);
  }) as Logger;
  // Summaries name the prefix inside the suppressed line they quote.
  limiter?.attach((level, msg) => sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}\n`));
  log.child = (p: string) => createLogger(`${prefix} ${p}`, minLevel, sink, limiter);
  log.enabled = (level: LogLevel) => ORDER[level] >= min;
  return log;
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = Object.assign(() => {}, { child: () => silentLogger, enabled: () => false });

/** Map FastDFS's log_level names (emerg…debug) onto ours. */
export function levelFromConf(name: string | undefined): LogLevel {
  switch ((name ?? '').toLowerCase()) {
    case 'debug': return 'debug';
    case 'warn': case 'warning': case 'notice': return 'warn';
    case 'err': case 'error': case 'crit': case 'alert': case 'emerg': return 'error';
    default: return 'info';
  }
}
