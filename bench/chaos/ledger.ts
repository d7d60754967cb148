import { Buffer } from 'node:buffer';
import { crc32 } from '../../lib/protocol/crc32.ts';

// What the chaos client was told: every acknowledged write, with the content state it implies.
// An operation that failed without an answer may or may not have happened; its file becomes
// "uncertain" — then the members must only agree with each other.

export type FileState = 'live' | 'deleted' | 'uncertain';

export interface FileRecord {
  id: string;
  group: string;
  appender: boolean;
  size: number;
  crc: number;
  /** Whole content of appender files (appends and modifies change it). */
  content?: Buffer;
  state: FileState;
  /** Metadata last set with an acknowledged overwrite; 'uncertain' after an unanswered one. */
  meta: Record<string, string> | null | 'uncertain';
  /** An operation on it is in flight. */
  busy: boolean;
}

export type OpKind = 'upload' | 'upload-appender' | 'append' | 'modify' | 'set-metadata' | 'delete' | 'download';

export class Ledger {
  readonly files = new Map<string, FileRecord>();
  private readonly live: string[] = [];
  readonly ops = new Map<OpKind, { ok: number; failed: number; errors: Map<string, number> }>();
  /** Verified downloads during the run that returned other bytes than acknowledged. */
  readonly corruptReads: string[] = [];
  readMisses = 0;
  failures = 0;
  uploadedBytes = 0;

  count(kind: OpKind, err?: unknown): void {
    let c = this.ops.get(kind);
    if (!c) this.ops.set(kind, c = { ok: 0, failed: 0, errors: new Map() });
    if (err === undefined) {
      c.ok++;
      return;
    }
    c.failed++;
    this.failures++;
    const code = (err as { code?: string }).code ?? (err as Error).name ?? 'Error';
    c.errors.set(code, (c.errors.get(code) ?? 0) + 1);
  }

  added(id: string, data: Buffer, appender: boolean): FileRecord {
    const r: FileRecord = {
      id, group: id.slice(0, id.indexOf('/')), appender, size: data.length, crc: crc32(data),
      content: appender ? data : undefined, state: 'live', meta: null, busy: false,
    };
    this.files.set(id, r);
    this.live.push(id);
    this.uploadedBytes += data.length;
    return r;
  }

  /** A random idle live file matching `filter`, marked busy; null when there is none. */
  take(pick: (n: number) => number, filter: (r: FileRecord) => boolean = () => true): FileRecord | null {
    for (let tries = 0; tries < 8 && this.live.length > 0; tries++) {
      const i = pick(this.live.length);
      const r = this.files.get(this.live[i]!)!;
      if (r.state !== 'live') {
        // Swap-remove: deleted and uncertain files take no more operations.
        this.live[i] = this.live[this.live.length - 1]!;
        this.live.pop();
        continue;
      }
      if (r.busy || !filter(r)) continue;
      r.busy = true;
      return r;
    }
    return null;
  }

  get liveCount(): number { return this.live.length; }
}
