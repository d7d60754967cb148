import { CMD } from '../protocol/codes.ts';
import type { StatCounter } from '../protocol/records.ts';
import {
  requestChannel, requestStartChannel, subscribe, type RequestEvent, type RequestStartEvent,
} from '../util/events.ts';
import type { StorageCounters } from './context.ts';

// The StorageStat request counters (§1.3, reported by 83 and kept in storage_stat.dat) as a
// consumer of the request events (lib/util/events.ts): total_* when a request starts,
// success_* when it ends with status 0. File-level I/O and byte counters stay where the I/O is.

const BY_COMMAND = new Map<number, { total: StatCounter; success: StatCounter }>([
  [CMD.UPLOAD_FILE, { total: 'total_upload_count', success: 'success_upload_count' }],
  [CMD.UPLOAD_APPENDER_FILE, { total: 'total_upload_count', success: 'success_upload_count' }],
  [CMD.UPLOAD_SLAVE_FILE, { total: 'total_upload_count', success: 'success_upload_count' }],
  [CMD.DOWNLOAD_FILE, { total: 'total_download_count', success: 'success_download_count' }],
  [CMD.DELETE_FILE, { total: 'total_delete_count', success: 'success_delete_count' }],
  [CMD.SET_METADATA, { total: 'total_set_meta_count', success: 'success_set_meta_count' }],
  [CMD.GET_METADATA, { total: 'total_get_meta_count', success: 'success_get_meta_count' }],
  [CMD.APPEND_FILE, { total: 'total_append_count', success: 'success_append_count' }],
  [CMD.MODIFY_FILE, { total: 'total_modify_count', success: 'success_modify_count' }],
  [CMD.TRUNCATE_FILE, { total: 'total_truncate_count', success: 'success_truncate_count' }],
]);

export class StatConsumer {
  private readonly off: Array<() => void>;

  constructor(source: object, counters: StorageCounters) {
    this.off = [
      subscribe<RequestStartEvent>(requestStartChannel, source, (e) => {
        const c = BY_COMMAND.get(e.command);
        if (c) counters.count(c.total);
      }),
      subscribe<RequestEvent>(requestChannel, source, (e) => {
        const c = BY_COMMAND.get(e.command);
        if (c && e.status === 0) counters.count(c.success);
      }),
    ];
  }

  close(): void {
    for (const f of this.off.splice(0)) f();
  }
}
