import { Buffer } from 'node:buffer';
import { CMD, GROUP_NAME_LEN } from '../../../protocol/codes.ts';
import { ERRNO } from '../../../protocol/errno.ts';
import { fixed, readI64 } from '../../../protocol/fields.ts';
import { decodeFileName } from '../../../protocol/filename.ts';
import type { BinlogRecord } from '../../binlog.ts';
import { SYNC_NO_CONTENT_STATUS, encodeSyncFile } from '../codec.ts';
import type { Snapshot } from '../content-snapshot.ts';
import { SKIP, type LocalView, type Plan, type RuleState, type SendPlan } from '../sender-plan.ts';

/**
 * PROTOCOL.md §5.2 CREATE (records C, c, and r: §5.6 replica renames travel as a create of the new
 * name). Skipped when the file is gone here. After an EEXIST the peer is asked first: the same
 * size ⇒ a create without content, another size ⇒ an update with it.
 */
export function createRule(rec: BinlogRecord, state: Readonly<RuleState>, local: LocalView): Plan {
  const f = local.file(rec.name);
  const st = f ? local.snapshot(f) : null;
  if (!st) return SKIP;
  // Only for names our QUERY_FILE_INFO decodes: others would get EINVAL, which closes the connection.
  if (!state.peerHasFiles || !decodeFileName(rec.name)) return createPlan(rec, state.group, st, 'content');
  return {
    kind: 'ask',
    cmd: CMD.QUERY_FILE_INFO,
    fixed: Buffer.concat([fixed(state.group, GROUP_NAME_LEN), Buffer.from(rec.name, 'latin1')]),
    status: 1,
    next: (info) => {
      if (info.status !== 0 || info.body.length < 8) return createPlan(rec, state.group, st, 'content');
      return createPlan(rec, state.group, st, readI64(info.body, 0) === st.size ? 'no-content' : 'update');
    },
  };
}

function createPlan(rec: BinlogRecord, group: string, st: Snapshot, how: 'content' | 'no-content' | 'update'): SendPlan {
  const fixedPart = encodeSyncFile(group, rec.name, st.size, rec.timestamp);
  if (how === 'update') {
    return {
      kind: 'send', cmd: CMD.SYNC_UPDATE_FILE, fixed: fixedPart, content: st.content, name: rec.name,
      replies: { 0: { done: st.size }, [ERRNO.EEXIST]: { done: 0, peerHasFiles: true } },
    };
  }
  const plan: SendPlan = {
    kind: 'send', cmd: CMD.SYNC_CREATE_FILE, fixed: fixedPart, name: rec.name,
    replies: { 0: { done: how === 'content' ? st.size : 0, peerHasFiles: false }, [ERRNO.EEXIST]: { done: 0, peerHasFiles: true } },
  };
  if (how === 'content') plan.content = st.content;
  else plan.status = SYNC_NO_CONTENT_STATUS;
  return plan;
}
