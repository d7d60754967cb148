import { commandName } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { BinlogRecord } from '../binlog.ts';
import { RESEND, senderRule } from './rules/index.ts';
import type { LocalView, Plan, RuleState } from './sender-plan.ts';
import type { SyncChannel } from './sync-channel.ts';

// Carries out the sender rule's plan for one binlog record on a sync connection (PROTOCOL.md §5):
// the request is queued in binlog order, then its reply status picks what happens next.

export interface PlanContext {
  readonly state: RuleState;
  readonly local: LocalView;
  warn(text: string): void;
}

/**
 * Push one record. `queued` is called once its request is queued (or once it is known that none
 * is sent), so the caller can queue the next record behind it; resolves to the content bytes the
 * peer took (success_sync_out_bytes), rejects when the peer refused the record.
 */
export async function pushRecord(ch: SyncChannel, rec: BinlogRecord, run: PlanContext, queued: () => void): Promise<number> {
  let plan: Plan = await senderRule(rec.op)(rec, run.state, run.local);
  for (;;) {
    if (plan.kind === 'skip') {
      if (plan.warn) run.warn(plan.warn);
      queued();
      return 0;
    }
    if (plan.kind === 'ask') {
      plan = plan.next(await ch.call(plan.cmd, plan.fixed, { status: plan.status }));
      continue;
    }
    const q = ch.request(plan.cmd, plan.fixed, { status: plan.status, content: plan.content });
    queued();
    const reply = await q.reply;
    const action = Object.hasOwn(plan.replies, reply.status) ? plan.replies[reply.status]! : null;
    if (!action) throw new FdfsError(reply.status, `${commandName(plan.cmd)} refused by ${ch.address}`, { subject: plan.name });
    if ('resend' in action) {
      plan = await RESEND[action.resend](rec, run.state, run.local);
      continue;
    }
    if (action.peerHasFiles !== undefined) run.state.peerHasFiles = action.peerHasFiles;
    return action.done;
  }
}
