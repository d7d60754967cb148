import { CMD } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { encodeSyncFile } from '../codec.ts';
import { SKIP, type LocalView, type Plan, type RuleState } from '../sender-plan.ts';

/** PROTOCOL.md §5.2 UPDATE (records U, u, and the resend of §5.4): the whole file as it is now. */
export function updateRule(rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView): Plan {
  const f = local.file(rec.name);
  const st = f ? local.snapshot(f) : null;
  if (!st) return SKIP;
  return {
    kind: 'send', cmd: CMD.SYNC_UPDATE_FILE, fixed: encodeSyncFile(state.group, rec.name, st.size, rec.timestamp),
    content: st.content, name: rec.name,
    replies: { 0: { done: st.size }, [ERRNO.EEXIST]: { done: st.size } },
  };
}
