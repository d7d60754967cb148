import type { EventEmitter } from 'node:events';
import { binlogChannel, reporterChannel, syncChannel, type BinlogEvent, type ReporterEvent, type SyncEvent } from '../util/events.ts';

// The binlog writer, the tracker reporter and the sync receiver already tell their owner what
// happens through their own emitters; this bridge republishes that on the process-wide channels
// (lib/util/events.ts), so logs, metrics and the monitor read one stream.

export function bridgeBinlog(source: object, binlog: EventEmitter): void {
  const pub = (kind: BinlogEvent['kind']) => (p: { index: number; offset: number }) => {
    if (binlogChannel.hasSubscribers) binlogChannel.publish({ source, kind, index: p.index, offset: p.offset } satisfies BinlogEvent);
  };
  binlog.on('append', pub('append'));
  binlog.on('rotate', pub('rotate'));
}

export function bridgeReporter(source: object, reporter: { on(event: string, fn: (...args: any[]) => void): unknown }): void {
  const pub = (e: Omit<ReporterEvent, 'source'>) => {
    if (reporterChannel.hasSubscribers) reporterChannel.publish({ source, ...e } satisfies ReporterEvent);
  };
  reporter.on('joined', (tracker: string, status: number) => pub({ tracker, kind: 'joined', status }));
  reporter.on('active', (tracker: string) => pub({ tracker: tracker ?? '', kind: 'status', detail: 'ACTIVE' }));
  reporter.on('disconnected', (tracker: string, err?: Error) => pub({ tracker, kind: 'error', detail: err?.message }));
}

export function bridgeSyncReceiver(source: object, receiver: EventEmitter): void {
  receiver.on('hello', (peer: string) => {
    if (syncChannel.hasSubscribers) syncChannel.publish({ source, peer, kind: 'state', detail: 'incoming sync session' } satisfies SyncEvent);
  });
}
