import type { BinlogOp } from '../../binlog.ts';
import { SKIP, type SenderRule } from '../sender-plan.ts';
import { createRule } from './create.ts';
import { deleteRule } from './delete.ts';
import { linkRule } from './link.ts';
import { rangeRule } from './range.ts';
import { renameRule } from './rename.ts';
import { truncateRule } from './truncate.ts';
import { updateRule } from './update.ts';

// The sender rules by binlog op (PROTOCOL.md §5.2–§5.6, §7.2). Lower-case ops are replicas of
// another member's records: they reach a peer only in an old-data copy (push-policy.ts).

const RULES: Readonly<Partial<Record<BinlogOp, SenderRule>>> = {
  C: createRule, c: createRule, r: createRule,
  U: updateRule, u: updateRule,
  D: deleteRule, d: deleteRule,
  A: rangeRule, M: rangeRule,
  T: truncateRule,
  L: linkRule, l: linkRule,
  R: renameRule,
};

/** What nothing else takes (a, m, t replicas: never pushed on; §5.7) is done without a request. */
const skipRule: SenderRule = () => SKIP;

export function senderRule(op: string): SenderRule {
  return RULES[op as BinlogOp] ?? skipRule;
}

/** The rules a reply action resends by. */
export const RESEND: Readonly<Record<'update' | 'create', SenderRule>> = { update: updateRule, create: createRule };
