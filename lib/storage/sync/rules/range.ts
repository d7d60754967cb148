import { CMD } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { encodeSyncRange } from '../codec.ts';
import { SKIP, lacksNumbers, rangeNumbers, type LocalView, type Plan, type RuleState } from '../sender-plan.ts';
import { updateRule } from './update.ts';

/**
 * PROTOCOL.md §5.4 APPEND/MODIFY (records A, M): the bytes are read from the current file. ENOENT
 * from the peer, or a local file already shorter than the range (deviation: C skips the record,
 * which can leave the peer behind), re-send the whole file.
 */
export function rangeRule(rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView): Plan {
  const nums = rangeNumbers(rec);
  const f = local.file(rec.name);
  if (!nums) return lacksNumbers(rec);
  if (!f) return SKIP;
  const [offset, length] = nums;
  const range = local.snapshot(f, offset, length);
  if (!range) return updateRule(rec, state, local);
  return {
    kind: 'send', cmd: rec.op === 'A' ? CMD.SYNC_APPEND_FILE : CMD.SYNC_MODIFY_FILE,
    fixed: encodeSyncRange(state.group, rec.name, offset, length, rec.timestamp), content: range.content, name: rec.name,
    replies: { 0: { done: length }, [ERRNO.EEXIST]: { done: 0 }, [ERRNO.ENOENT]: { resend: 'update' } },
  };
}
