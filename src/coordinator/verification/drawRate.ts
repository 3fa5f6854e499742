/**
 * An audit draw's rate as one pure function of what the draw records (docs/validators.md, "Audit
 * rates and reputation"): the provider's reputation at the draw, the task's economics, the unit
 * reward the value floor is priced in and, for a render task, the reward its value floor was priced
 * with and the job's task count. The coordinator computes the same number through its policy
 * (`AdaptiveAuditPolicy.rateFor`, then `sampledRenderDecision` for render jobs); validators
 * recompute it with this function after replaying the reputation journal, and
 * `drawRate.test.ts` holds the two equal.
 */
import { auditRate, economicAuditBound, valueAuditFloor } from './auditPolicy.ts';
import { ALWAYS_AUDIT_UNITS, DEFAULT_AUDIT_PARAMS, VALUE_FLOOR_HALF_RECORD } from './constants.ts';
import { renderAuditRate } from './renderAuditRate.ts';
import type { ReputationState } from './reputation.ts';

/**
 * The audit rate a draw with these inputs must have been compared with.
 *
 * @example
 * drawRate({ reputation, economics: { reward: 10n, honestCost: 8n, slashable: 200n }, unitReward: 1n }); // 1 for a newcomer
 */
export function drawRate(args: {
  reputation: ReputationState;
  economics: { reward: bigint; honestCost: bigint; slashable: bigint };
  /** R: the value floor is `reward / (ALWAYS_AUDIT_UNITS · R)`. */
  unitReward: bigint;
  /** A render job's task: the reward its value floor is priced with, and the job's task count. */
  render?: { valueReward: bigint; tasks: number };
}): number {
  const { reputation, economics: e, unitReward } = args;
  const bound = economicAuditBound({ cost: e.honestCost, reward: e.reward, slashable: e.slashable });
  const threshold = unitReward * ALWAYS_AUDIT_UNITS;
  // AdaptiveAuditPolicy.rateFor: the adaptive rate, or the value floor earned down by the record.
  const record = VALUE_FLOOR_HALF_RECORD / (VALUE_FLOOR_HALF_RECORD + reputation.consecutiveValid);
  const rate = Math.max(auditRate({ reputation, bound }), valueAuditFloor(e.reward, threshold) * record);
  if (!args.render) return rate;
  // sampledRenderDecision (work/renderAudits.ts): the job's sample for a clean record, never under
  // the bound, the floor or the value floor priced from the task's honest estimate.
  const lower = Math.max(
    bound,
    DEFAULT_AUDIT_PARAMS.floor,
    valueAuditFloor(args.render.valueReward, threshold),
  );
  return renderAuditRate({ rate, lower, tasks: args.render.tasks, reputation });
}
