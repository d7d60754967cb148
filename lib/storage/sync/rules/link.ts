import { CMD } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { encodeSyncPair } from '../codec.ts';
import { SKIP, skip, type LocalView, type Plan, type RuleState } from '../sender-plan.ts';
import { createRule } from './create.ts';

/**
 * PROTOCOL.md §5.5 (records L, l): target from the record, or from the local link when the record
 * has none. Deviation for a C peer (no capabilities announced): 6.16.1 answers 19 by logging a
 * nameless `l` line that stops every outbound sync of that storage (§5.5) unless it runs with
 * file_sync_skip_invalid_record, so it gets the link as a copy of its target (a create under the
 * link's name: the same bytes for every reader, at the cost of the space of one more file).
 */
export async function linkRule(rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView): Promise<Plan> {
  const f = local.file(rec.name);
  if (!f) return SKIP;
  if (state.peerCaps === 0) return createRule(rec, state, local);
  const here = await local.linkTarget(f);
  // The link is gone here (deleted later): nothing to create.
  if (here === null) return SKIP;
  const target = rec.extra || here;
  if (!target) return skip(`cannot tell the target of link ${rec.name}; not synced`);
  return {
    kind: 'send', cmd: CMD.SYNC_CREATE_LINK, fixed: encodeSyncPair(state.group, rec.name, target, rec.timestamp), name: rec.name,
    replies: { 0: { done: 0 }, [ERRNO.ENOENT]: { done: 0 }, [ERRNO.EEXIST]: { done: 0 } },
  };
}
