import type { Writable } from 'node:stream';

// Progress of a batch run. put/get report through events and a shared BatchStats; what the user
// sees — a bar on a terminal, one line per file, JSON lines, or just the summary — is a reporter
// reading the same events, so the CLI and a TUI view show the same numbers.

export type BatchOp = 'put' | 'get' | 'export';

export type BatchEvent =
  /** Totals known (or better known) for the progress bar; may come more than once. */
  | { type: 'total'; files: number; bytes: number }
  | { type: 'file'; status: 'ok'; path: string; fileId: string; size: number; crc32: number; mtime?: number; attempts: number }
  | { type: 'file'; status: 'skipped'; path: string; fileId?: string; size: number; reason: string }
  | { type: 'file'; status: 'failed'; path: string; fileId?: string; size?: number; error: string; code: string; attempts: number }
  | { type: 'retry'; path: string; attempt: number; error: string }
  | { type: 'warning'; path: string; message: string };

export type FileEvent = Extract<BatchEvent, { type: 'file' }>;

export interface BatchFailure {
  path: string;
  fileId?: string;
  code: string;
  error: string;
}

export interface BatchSummary {
  op: BatchOp;
  /** Files transferred and verified (stored by put, written by get). */
  ok: number;
  skipped: number;
  failed: number;
  /** Content bytes of the files transferred. */
  bytes: number;
  elapsedMs: number;
  warnings: number;
  /** The first failures (at most 100), for a report. */
  failures: BatchFailure[];
  /** True when the run was stopped (SIGINT) before every item was handled. */
  interrupted: boolean;
}

const MAX_FAILURES_KEPT = 100;

/** Counters of one run, updated as it goes; reporters sample them. */
export class BatchStats {
  readonly op: BatchOp;
  readonly startedAt = Date.now();
  ok = 0;
  skipped = 0;
  failed = 0;
  warnings = 0;
  /** Bytes of completed files. */
  bytes = 0;
  /** Bytes moved so far, partial files included (what the rate and the bar use). */
  bytesMoved = 0;
  totalFiles: number | null = null;
  totalBytes: number | null = null;
  interrupted = false;
  readonly failures: BatchFailure[] = [];
  #samples: Array<[number, number]> = [];

  constructor(op: BatchOp) {
    this.op = op;
  }

  /** Record an event's effect. */
  apply(e: BatchEvent): void {
    switch (e.type) {
      case 'total':
        this.totalFiles = e.files;
        this.totalBytes = e.bytes;
        break;
      case 'warning':
        this.warnings++;
        break;
      case 'file':
        if (e.status === 'ok') { this.ok++; this.bytes += e.size; }
        else if (e.status === 'skipped') this.skipped++;
        else {
          this.failed++;
          if (this.failures.length < MAX_FAILURES_KEPT) this.failures.push({ path: e.path, fileId: e.fileId, code: e.code, error: e.error });
        }
        break;
      default:
        break;
    }
  }

  get done(): number { return this.ok + this.skipped + this.failed; }

  get elapsedMs(): number { return Date.now() - this.startedAt; }

  /** Bytes per second over the last few seconds (the whole run until then). */
  rate(now = Date.now()): number {
    const s = this.#samples;
    const last = s[s.length - 1];
    if (!last || now - last[0] >= 200) s.push([now, this.bytesMoved]);
    while (s.length > 2 && now - s[0]![0] > 5000) s.shift();
    const first = s[0]!;
    const dt = (now - first[0]) / 1000;
    if (dt < 0.5) {
      const all = (now - this.startedAt) / 1000;
      return all > 0 ? this.bytesMoved / all : 0;
    }
    return (this.bytesMoved - first[1]) / dt;
  }

  /** Seconds left, or null when unknown. */
  eta(now = Date.now()): number | null {
    if (this.totalBytes !== null && this.totalBytes > 0) {
      const r = this.rate(now);
      const left = Math.max(0, this.totalBytes - this.bytesMoved);
      return r > 0 ? left / r : null;
    }
    if (this.totalFiles !== null && this.done > 0) {
      const perFile = (now - this.startedAt) / 1000 / this.done;
      return Math.max(0, this.totalFiles - this.done) * perFile;
    }
    return null;
  }

  summary(): BatchSummary {
    return {
      op: this.op, ok: this.ok, skipped: this.skipped, failed: this.failed, bytes: this.bytes,
      elapsedMs: this.elapsedMs, warnings: this.warnings, failures: [...this.failures], interrupted: this.interrupted,
    };
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const VERB: Record<BatchOp, string> = { put: 'stored', get: 'written', export: 'exported' };

/** `put: 10000 stored, 0 skipped, 0 failed, 39.1 MiB in 3.2 s (12.2 MiB/s, 3125 files/s)` */
export function formatSummary(s: BatchSummary): string {
  const sec = s.elapsedMs / 1000;
  const rate = sec > 0 ? `${formatBytes(Math.round(s.bytes / sec))}/s, ${Math.round(s.ok / sec)} files/s` : '';
  return `${s.op}: ${s.ok} ${VERB[s.op]}, ${s.skipped} skipped, ${s.failed} failed, ${formatBytes(s.bytes)} in ${sec.toFixed(1)} s`
    + (rate ? ` (${rate})` : '') + (s.interrupted ? ' — interrupted' : '');
}

export type ReporterMode = 'bar' | 'lines' | 'json' | 'quiet';

export interface ReporterOptions {
  mode: ReporterMode;
  stats: BatchStats;
  /** Per-file lines and JSON go here (stdout, or stderr when stdout carries a tar). */
  out: Writable;
  /** The bar, warnings, failures and the summary go here. */
  err: Writable;
  /** Terminal width for the bar. */
  columns?: number;
  /** Bar refresh period (default 100 ms). */
  intervalMs?: number;
}

export interface Reporter {
  onEvent(e: BatchEvent): void;
  /** Stop the bar and print the summary (unless `print` is false). */
  finish(summary: BatchSummary, print?: boolean): void;
}

function renderBar(stats: BatchStats, columns: number): string {
  const now = Date.now();
  const rate = stats.rate(now);
  const eta = stats.eta(now);
  const tf = stats.totalFiles;
  const tb = stats.totalBytes;
  const files = tf !== null ? `${stats.done}/${tf} files` : `${stats.done} files`;
  const bytes = tb !== null ? `${formatBytes(stats.bytesMoved)}/${formatBytes(tb)}` : formatBytes(stats.bytesMoved);
  const tail = [files, bytes, `${formatBytes(Math.round(rate))}/s`, eta !== null ? `ETA ${formatDuration(eta)}` : '',
    stats.failed ? `${stats.failed} failed` : ''].filter(Boolean).join('  ');
  let frac: number | null = null;
  if (tb !== null && tb > 0) frac = Math.min(1, stats.bytesMoved / tb);
  else if (tf !== null && tf > 0) frac = Math.min(1, stats.done / tf);
  const barWidth = Math.max(10, Math.min(40, columns - tail.length - 8));
  let bar: string;
  if (frac === null) {
    // Unknown total (tar on stdin): a moving block.
    const pos = Math.floor(now / 100) % barWidth;
    bar = '░'.repeat(pos) + '█' + '░'.repeat(Math.max(0, barWidth - pos - 1));
    return `${bar}  ${tail}`.slice(0, columns - 1);
  }
  const full = Math.round(frac * barWidth);
  bar = '█'.repeat(full) + '░'.repeat(barWidth - full);
  return `${bar} ${String(Math.floor(frac * 100)).padStart(3)}%  ${tail}`.slice(0, columns - 1);
}

export function createReporter(opts: ReporterOptions): Reporter {
  const { mode, stats, out, err } = opts;
  const columns = opts.columns ?? 100;
  let timer: NodeJS.Timeout | null = null;
  let barShown = false;
  const clearBar = () => { if (barShown) { err.write('\r\x1b[2K'); barShown = false; } };
  const drawBar = () => { err.write(`\r\x1b[2K${renderBar(stats, columns)}`); barShown = true; };
  if (mode === 'bar') {
    timer = setInterval(drawBar, opts.intervalMs ?? 100);
    timer.unref();
  }
  const above = (line: string) => {
    clearBar();
    err.write(`${line}\n`);
    if (mode === 'bar') drawBar();
  };
  const verb = VERB[stats.op];
  return {
    onEvent(e) {
      if (mode === 'json') {
        if (e.type !== 'total') out.write(`${JSON.stringify(e)}\n`);
        return;
      }
      if (e.type === 'warning') { if (mode !== 'quiet') above(`warning: ${e.path}: ${e.message}`); return; }
      if (e.type === 'retry') { if (mode === 'lines') above(`retry ${e.attempt}: ${e.path}: ${e.error}`); return; }
      if (e.type !== 'file') return;
      if (e.status === 'failed') { above(`failed: ${e.path}${e.fileId && e.fileId !== e.path ? ` (${e.fileId})` : ''}: ${e.error}`); return; }
      if (mode !== 'lines') return;
      if (e.status === 'ok') out.write(`${verb}\t${e.path}\t${e.fileId}\n`);
      else out.write(`skipped\t${e.path}\t${e.reason}\n`);
    },
    finish(summary, print = true) {
      if (timer) clearInterval(timer);
      timer = null;
      if (mode === 'bar' && print) drawBar();
      if (barShown) { err.write(print ? '\n' : '\r\x1b[2K'); barShown = false; }
      if (!print) return;
      if (mode === 'json') out.write(`${JSON.stringify({ type: 'summary', ...summary })}\n`);
      else err.write(`${formatSummary(summary)}\n`);
    },
  };
}
