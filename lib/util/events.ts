import dc from 'node:diagnostics_channel';

// The event stream every daemon publishes (STYLE.md rule 6): one event per protocol request,
// one per HTTP request, and the sync, binlog and reporter events. The StorageStat counters,
// logs, Prometheus metrics and the monitor subscribe; publishers never know who listens, and a
// channel without subscribers costs one boolean test.
//
// Channels are process-wide; an event names its `source` (the server object that published it)
// so that several daemons in one process (tests) each count their own.

export interface RequestEvent {
  source: object;
  role: 'tracker' | 'storage';
  /** Command code (§1.2) and its name. */
  command: number;
  commandName: string;
  /** errno sent back (0 = success). */
  status: number;
  /** Header + body bytes received and sent for this request. */
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  /** `ip:port` of the client. */
  peer: string;
  /** The file id, storage or group the request was about, when the handler said so. */
  subject?: string;
  /** Content bytes the handler moved (file bytes stored or sent), for the stat counters. */
  contentBytes?: number;
}

export interface HttpEvent {
  source: object;
  role: 'tracker' | 'storage';
  method: string;
  /** Route kind: file, metrics, healthz, other. */
  route: string;
  status: number;
  bytesOut: number;
  durationMs: number;
  peer: string;
  subject?: string;
  /** How a file not stored here was answered. */
  via?: 'local' | 'redirect' | 'proxy';
}

export interface ConnectionEvent {
  source: object;
  role: 'tracker' | 'storage';
  kind: 'open' | 'close';
  peer: string;
  open: number;
}

/**
 * Replication (lib/storage/sync, handlers/sync-*.ts). Outgoing, per peer: `sent` for bytes written
 * to the peer's connection (total_sync_out_bytes), `pushed` once per binlog record the peer has
 * taken or refused (status 0 = done; its content bytes count as success_sync_out_bytes), `state`
 * for a session change, `error` for a failed session. Incoming: `state` when a source opens a
 * sync session. `source` is the storage's StorageContext.
 */
export interface SyncEvent {
  source: object;
  peer: string;
  kind: 'pushed' | 'sent' | 'error' | 'state';
  /** Binlog op of a pushed record (§7.2: C, U, D, A, M, T, L, R and their replica forms). */
  op?: string;
  /** errno of a pushed record (0 = done) or of an error. */
  status?: number;
  /** Time from reading a pushed record to the peer's answer. */
  durationMs?: number;
  records?: number;
  bytes?: number;
  /** On `state` from the sender: whether the peer has every record of our binlog (changes only). */
  caughtUp?: boolean;
  detail?: string;
}

/**
 * File-level I/O of the storage handlers: the StorageStat I/O counters (§1.3) count these.
 * `start` before an attempt, `ok` after it succeeded. `open`/`read`/`write`: one file operation;
 * `link`: a slave file's symlink (create_link); `body`: content bytes of client request `command`
 * received (upload, append, modify bytes); `sync-in`: replicated content bytes received
 * (`start`) and applied (`ok`). `source` is the storage's StorageContext.
 */
export interface IoEvent {
  source: object;
  op: 'open' | 'read' | 'write' | 'link' | 'body' | 'sync-in';
  phase: 'start' | 'ok';
  bytes?: number;
  command?: number;
}

export interface BinlogEvent {
  source: object;
  kind: 'append' | 'rotate' | 'flush';
  index?: number;
  offset?: number;
}

export interface ReporterEvent {
  source: object;
  tracker: string;
  kind: 'joined' | 'beat' | 'disk' | 'error' | 'status';
  status?: number;
  detail?: string;
}

/** Published when a request's header has arrived, before its handler runs. */
export interface RequestStartEvent {
  source: object;
  role: 'tracker' | 'storage';
  command: number;
  peer: string;
}

export const requestStartChannel = dc.channel('fdfs:request:start');
export const requestChannel = dc.channel('fdfs:request');
export const httpChannel = dc.channel('fdfs:http');
export const connectionChannel = dc.channel('fdfs:connection');
export const syncChannel = dc.channel('fdfs:sync');
export const ioChannel = dc.channel('fdfs:io');
export const binlogChannel = dc.channel('fdfs:binlog');
export const reporterChannel = dc.channel('fdfs:reporter');

/** Subscribe to one channel for events of one source; returns the unsubscribe function. */
export function subscribe<E extends { source: object }>(channel: dc.Channel, source: object | null, fn: (e: E) => void): () => void {
  const listener = (msg: unknown) => {
    const e = msg as E;
    if (source === null || e.source === source) fn(e);
  };
  channel.subscribe(listener);
  return () => { channel.unsubscribe(listener); };
}
