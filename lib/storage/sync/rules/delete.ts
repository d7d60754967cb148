import { CMD } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { encodeSyncDelete } from '../codec.ts';
import { SKIP, type LocalView, type Plan, type RuleState } from '../sender-plan.ts';

/** PROTOCOL.md §5.3 (records D, d): skipped when the name exists here again; ENOENT is success. */
export async function deleteRule(rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView): Promise<Plan> {
  const f = local.file(rec.name);
  if (!f || await local.exists(f)) return SKIP;
  return {
    kind: 'send', cmd: CMD.SYNC_DELETE_FILE, fixed: encodeSyncDelete(state.group, rec.name, rec.timestamp), name: rec.name,
    replies: { 0: { done: 0 }, [ERRNO.ENOENT]: { done: 0 } },
  };
}
