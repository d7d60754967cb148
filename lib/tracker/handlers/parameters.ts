import { CMD } from '../../protocol/codes.ts';
import { encodeParameters } from '../../protocol/storage-tracker.ts';
import { formatReservedSpace, formatTimeOfDay } from '../../config/values.ts';
import type { Request } from '../../net/packet-server.ts';
import type { TrackerContext } from '../context.ts';
import { bodyOfLength, type HandlerEntry } from './common.ts';

const flag = (b: boolean) => (b ? 1 : 0);

/** The settings a storage must adopt from its tracker, in the exact order of PROTOCOL.md §4.2. */
export function storageParameters(ctx: Pick<TrackerContext, 'config' | 'ips'>): Array<[string, string | number]> {
  const c = ctx.config;
  return [
    ['use_storage_id', flag(c.use_storage_id)],
    ['id_type_in_filename', c.id_type_in_filename],
    ['trust_storage_server_id', flag(c.trust_storage_server_id)],
    ['response_ip_addr_size', ctx.ips],
    ['storage_ip_changed_auto_adjust', flag(c.storage_ip_changed_auto_adjust)],
    ['storage_sync_file_max_delay', c.storage_sync_file_max_delay],
    ['store_path', c.store_path],
    ['reserved_storage_space', formatReservedSpace(c.reserved_storage_space)],
    ['use_trunk_file', flag(c.use_trunk_file)],
    ['slot_min_size', c.slot_min_size],
    ['slot_max_size', c.slot_max_size],
    ['trunk_alloc_alignment_size', c.trunk_alloc_alignment_size],
    ['trunk_file_size', c.trunk_file_size],
    ['trunk_create_file_advance', flag(c.trunk_create_file_advance)],
    ['trunk_create_file_time_base', formatTimeOfDay(c.trunk_create_file_time_base)],
    ['trunk_create_file_interval', c.trunk_create_file_interval],
    ['trunk_create_file_space_threshold', c.trunk_create_file_space_threshold],
    ['trunk_init_check_occupying', flag(c.trunk_init_check_occupying)],
    ['trunk_init_reload_from_binlog', flag(c.trunk_init_reload_from_binlog)],
    ['trunk_free_space_merge', flag(c.trunk_free_space_merge)],
    ['delete_unused_trunk_files', flag(c.delete_unused_trunk_files)],
    ['trunk_compress_binlog_min_interval', c.trunk_compress_binlog_min_interval],
    ['trunk_compress_binlog_interval', c.trunk_compress_binlog_interval],
    ['trunk_compress_binlog_time_base', formatTimeOfDay(c.trunk_compress_binlog_time_base)],
    ['trunk_binlog_max_backups', c.trunk_binlog_max_backups],
    ['store_slave_file_use_link', flag(c.store_slave_file_use_link)],
  ];
}

/** 75 STORAGE_PARAMETER_REQ (§4.2): `key=value\n` lines. */
async function parameterReq(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'PARAMETER_REQ');
  return encodeParameters(storageParameters(ctx));
}

export const parameterHandlers: HandlerEntry[] = [
  [CMD.STORAGE_PARAMETER_REQ, parameterReq],
];
