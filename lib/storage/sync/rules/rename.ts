import { CMD } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { encodeSyncPair } from '../codec.ts';
import { SKIP, type Plan, type RuleState } from '../sender-plan.ts';

/**
 * PROTOCOL.md §5.6 (record R): EEXIST is done; ENOENT falls back to creating the new name. A body
 * on status 0 (6.16.1's echo) is fine.
 */
export function renameRule(rec: BinlogRecord, state: Readonly<RuleState>): Plan {
  if (!rec.extra) return SKIP;
  return {
    kind: 'send', cmd: CMD.SYNC_RENAME_FILE, fixed: encodeSyncPair(state.group, rec.name, rec.extra, rec.timestamp), name: rec.name,
    replies: { 0: { done: 0 }, [ERRNO.EEXIST]: { done: 0 }, [ERRNO.ENOENT]: { resend: 'create' } },
  };
}
