import { CMD } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { encodeSyncRange } from '../codec.ts';
import { SKIP, lacksNumbers, rangeNumbers, type LocalView, type Plan, type RuleState } from '../sender-plan.ts';

/**
 * PROTOCOL.md §5.4 TRUNCATE (record T). 6.16 retries an ENOENT forever; we re-send the whole file
 * instead (or count it done when the file is gone here too), so one missing file cannot stall the peer.
 */
export async function truncateRule(rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView): Promise<Plan> {
  const nums = rangeNumbers(rec);
  const f = local.file(rec.name);
  if (!nums) return lacksNumbers(rec);
  if (!f || !await local.isFile(f)) return SKIP;
  return {
    kind: 'send', cmd: CMD.SYNC_TRUNCATE_FILE, fixed: encodeSyncRange(state.group, rec.name, nums[0], nums[1], rec.timestamp), name: rec.name,
    replies: { 0: { done: 0 }, [ERRNO.EEXIST]: { done: 0 }, [ERRNO.ENOENT]: { resend: 'update' } },
  };
}
