import { ioChannel, type IoEvent } from '../util/events.ts';
import type { StorageContext } from './context.ts';

// Handlers say what file I/O they did as events (STYLE.md rule 6); the StorageStat I/O counters
// (stat-consumer.ts) and anything else that cares subscribe.

/** One file-level I/O event of the storage owning `ctx` (lib/util/events.ts IoEvent). */
export function ioEvent(ctx: StorageContext, op: IoEvent['op'], phase: IoEvent['phase'], bytes?: number, command?: number): void {
  if (ioChannel.hasSubscribers) ioChannel.publish({ source: ctx, op, phase, bytes, command } satisfies IoEvent);
}
