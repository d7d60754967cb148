import { CMD, HEADER_LEN } from '../protocol/codes.ts';
import type { StatCounter } from '../protocol/records.ts';
import {
  ioChannel, requestChannel, requestStartChannel, subscribe, syncChannel,
  type IoEvent, type RequestEvent, type RequestStartEvent, type SyncEvent,
} from '../util/events.ts';
import type { StorageCounters } from './context.ts';

// The StorageStat request counters (§1.3, reported by 83 and kept in storage_stat.dat) as a
// consumer of the request events (lib/util/events.ts): total_* when a request starts,
// success_* when it ends with status 0, with the content bytes the handler reported (or, for
// downloads, what was sent). The file I/O, body-byte and sync-byte counters come from the io and
// sync events of the storage's StorageContext (handlers, lib/storage/sync).

const BY_COMMAND = new Map<number, { total: StatCounter; success: StatCounter; bytes?: StatCounter }>([
  [CMD.UPLOAD_FILE, { total: 'total_upload_count', success: 'success_upload_count', bytes: 'success_upload_bytes' }],
  [CMD.UPLOAD_APPENDER_FILE, { total: 'total_upload_count', success: 'success_upload_count', bytes: 'success_upload_bytes' }],
  [CMD.UPLOAD_SLAVE_FILE, { total: 'total_upload_count', success: 'success_upload_count', bytes: 'success_upload_bytes' }],
  [CMD.DOWNLOAD_FILE, { total: 'total_download_count', success: 'success_download_count' }],
  [CMD.DELETE_FILE, { total: 'total_delete_count', success: 'success_delete_count' }],
  [CMD.SET_METADATA, { total: 'total_set_meta_count', success: 'success_set_meta_count' }],
  [CMD.GET_METADATA, { total: 'total_get_meta_count', success: 'success_get_meta_count' }],
  [CMD.APPEND_FILE, { total: 'total_append_count', success: 'success_append_count', bytes: 'success_append_bytes' }],
  [CMD.MODIFY_FILE, { total: 'total_modify_count', success: 'success_modify_count', bytes: 'success_modify_bytes' }],
  [CMD.TRUNCATE_FILE, { total: 'total_truncate_count', success: 'success_truncate_count' }],
]);

/** Body bytes received per command (IoEvent `body`): total_*_bytes, counted as they arrive. */
const BODY_BYTES = new Map<number, StatCounter>([
  [CMD.UPLOAD_FILE, 'total_upload_bytes'],
  [CMD.UPLOAD_APPENDER_FILE, 'total_upload_bytes'],
  [CMD.UPLOAD_SLAVE_FILE, 'total_upload_bytes'],
  [CMD.APPEND_FILE, 'total_append_bytes'],
  [CMD.MODIFY_FILE, 'total_modify_bytes'],
]);

const IO_COUNTS: Record<'open' | 'read' | 'write' | 'link', Record<IoEvent['phase'], StatCounter>> = {
  open: { start: 'total_file_open_count', ok: 'success_file_open_count' },
  read: { start: 'total_file_read_count', ok: 'success_file_read_count' },
  write: { start: 'total_file_write_count', ok: 'success_file_write_count' },
  link: { start: 'total_create_link_count', ok: 'success_create_link_count' },
};

export class StatConsumer {
  private readonly off: Array<() => void>;

  /** `source`: the protocol server (request events); `ioSource`: its StorageContext (io and sync events). */
  constructor(source: object, ioSource: object, counters: StorageCounters) {
    this.off = [
      subscribe<IoEvent>(ioChannel, ioSource, (e) => {
        if (e.op === 'body') {
          const name = e.command === undefined ? undefined : BODY_BYTES.get(e.command);
          if (name && e.bytes) counters.count(name, e.bytes);
        } else if (e.op === 'sync-in') {
          if (e.bytes) counters.count(e.phase === 'start' ? 'total_sync_in_bytes' : 'success_sync_in_bytes', e.bytes);
        } else {
          counters.count(IO_COUNTS[e.op][e.phase]);
        }
      }),
      subscribe<SyncEvent>(syncChannel, ioSource, (e) => {
        if (!e.bytes) return;
        if (e.kind === 'sent') counters.count('total_sync_out_bytes', e.bytes);
        else if (e.kind === 'pushed' && e.status === 0) counters.count('success_sync_out_bytes', e.bytes);
      }),
      subscribe<RequestStartEvent>(requestStartChannel, source, (e) => {
        const c = BY_COMMAND.get(e.command);
        if (c) counters.count(c.total);
      }),
      subscribe<RequestEvent>(requestChannel, source, (e) => {
        if (e.command === CMD.DOWNLOAD_FILE) {
          // Bytes sent count even when the transfer broke off (§3.4: the storage just closes).
          const sent = Math.max(0, e.bytesOut - HEADER_LEN);
          if (sent > 0) { counters.count('total_download_bytes', sent); counters.count('success_download_bytes', sent); }
        }
        const c = BY_COMMAND.get(e.command);
        if (!c || e.status !== 0) return;
        counters.count(c.success);
        if (c.bytes && e.contentBytes) counters.count(c.bytes, e.contentBytes);
      }),
    ];
  }

  close(): void {
    for (const f of this.off.splice(0)) f();
  }
}
