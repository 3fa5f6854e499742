/**
 * Adaptive audits: the share of a provider's tasks re-run elsewhere falls as its verified record
 * grows, but never below the economic bound `p ≥ C / (R + F)` at which cheating stops paying.
 */
import type { Hex } from 'viem';
import { hashUnit } from '../../protocol/rng.ts';
import { type AuditParams, DEFAULT_AUDIT_PARAMS, VALUE_FLOOR_HALF_RECORD } from './constants.ts';
import { type ReputationState, reputationScore } from './reputation.ts';

const SCALE = 10n ** 15n;

/**
 * The smallest audit probability at which skipping the work does not pay: a cheater saves `C`
 * (cost of honest work) and, when caught with probability `p`, loses the reward `R` and the
 * slashable amount `F`; cheating is unprofitable when `p·(R + F) ≥ C`. Inputs are integer base
 * units; the result is rounded up (never below the exact bound) and capped at 1.
 *
 * @example
 * economicAuditBound({ cost: 80n, reward: 100n, slashable: 2000n }); // 0.0380952380952381 (≥ 80/2100)
 */
export function economicAuditBound(args: { cost: bigint; reward: bigint; slashable: bigint }): number {
  const { cost, reward, slashable } = args;
  if (cost <= 0n) return 0;
  const denom = reward + slashable;
  if (denom <= 0n || cost >= denom) return 1;
  const scaled = (cost * SCALE + denom - 1n) / denom; // ceil
  return Math.min(1, Number(scaled) / Number(SCALE));
}

/**
 * The audit rate for one provider and task:
 * `min(1, max(bound, floor, newRate · h / (h + consecutiveValid), doubtWeight · (1 − score)))`.
 * A newcomer (no record) is audited at `newRate`; a provider whose Beta score dropped (faults,
 * timeouts) is audited more; a long clean record reaches the floor, but never the economic bound.
 *
 * @example
 * auditRate({ reputation: newReputation(0), bound: 0.05 }); // 1
 */
export function auditRate(args: {
  reputation: ReputationState;
  bound: number;
  params?: AuditParams;
}): number {
  const p = args.params ?? DEFAULT_AUDIT_PARAMS;
  const rep = args.reputation;
  const record = (p.newRate * p.halfRecord) / (p.halfRecord + rep.consecutiveValid);
  const doubt = p.doubtWeight * (1 - reputationScore(rep));
  return Math.min(1, Math.max(args.bound, p.floor, record, doubt));
}

/**
 * The value floor of a task's audit rate: `min(1, reward / alwaysAuditAbove)` (0 without a
 * threshold). A task paying `alwaysAuditAbove` or more is always audited (ALWAYS_AUDIT_UNITS).
 *
 * @example
 * valueAuditFloor(30n, 60n); // 0.5
 */
export function valueAuditFloor(reward: bigint, alwaysAuditAbove: bigint | undefined): number {
  if (alwaysAuditAbove === undefined || alwaysAuditAbove <= 0n) return 0;
  if (reward >= alwaysAuditAbove) return 1;
  return Number((reward * SCALE) / alwaysAuditAbove) / Number(SCALE);
}

/**
 * The economics of one task, in integer base units.
 *
 * @example
 * const task: AuditTask = { taskId: 't-1', reward: 100n, honestCost: 70n, slashable: 2000n };
 */
export type AuditTask = {
  taskId: string;
  /** Reward `R` the provider earns for the task. */
  reward: bigint;
  /** Estimated cost `C` of doing the work honestly (energy, hardware time). */
  honestCost: bigint;
  /** Slashable amount `F` if the provider is proven faulty on this task (see slashAmount). */
  slashable: bigint;
};

/**
 * An audit decision with the numbers behind it (for logs and the API).
 *
 * @example
 * const { audit, rate, bound } = policy.shouldAudit(provider, task);
 */
export type AuditDecision = { audit: boolean; rate: number; bound: number; draw: number };

/**
 * Decides which tasks are audited. The draw is `sha256(seed ‖ provider ‖ taskId)` mapped to [0, 1),
 * so decisions are reproducible from the seed, independent of call order, and unpredictable to
 * providers who do not know the coordinator's secret seed.
 *
 * @example
 * const audits = new AdaptiveAuditPolicy({ seed: secret, reputationOf: (p) => store.reputation(p) });
 * const { audit } = audits.shouldAudit(provider, { taskId, reward, honestCost, slashable });
 */
export class AdaptiveAuditPolicy {
  private readonly seed: string;
  private readonly reputationOf: (provider: Hex) => ReputationState;
  private readonly params: AuditParams;
  private readonly alwaysAuditAbove: bigint | undefined;

  constructor(opts: {
    seed: string;
    reputationOf: (provider: Hex) => ReputationState;
    params?: Partial<AuditParams>;
    /** Pay (base units) from which a task is always audited (valueAuditFloor); none by default. */
    alwaysAuditAbove?: bigint;
  }) {
    this.seed = opts.seed;
    this.reputationOf = opts.reputationOf;
    this.alwaysAuditAbove = opts.alwaysAuditAbove;
    this.params = { ...DEFAULT_AUDIT_PARAMS, ...opts.params };
    for (const [k, v] of Object.entries(this.params)) {
      if (!(Number.isFinite(v) && v >= 0))
        throw new RangeError(`audit param ${k} must be a finite number ≥ 0`);
    }
  }

  /**
   * The provider's current audit rate for a task with these economics (what the API shows): the
   * adaptive rate (auditRate), or the task's value floor scaled by the provider's record if higher.
   */
  rateFor(provider: Hex, task: Omit<AuditTask, 'taskId'>): { rate: number; bound: number } {
    const bound = economicAuditBound({
      cost: task.honestCost,
      reward: task.reward,
      slashable: task.slashable,
    });
    const reputation = this.reputationOf(provider);
    const rate = auditRate({ reputation, bound, params: this.params });
    // The value floor, earned down by the provider's trusted-checked record (VALUE_FLOOR_HALF_RECORD).
    const record = VALUE_FLOOR_HALF_RECORD / (VALUE_FLOOR_HALF_RECORD + reputation.consecutiveValid);
    return { rate: Math.max(rate, valueAuditFloor(task.reward, this.alwaysAuditAbove) * record), bound };
  }

  /**
   * Whether this provider's result for this task gets re-run on another provider; `seed`, when
   * given, replaces the policy's own (an epoch's committed seed, verification/auditSeeds.ts).
   */
  shouldAudit(provider: Hex, task: AuditTask, seed: string = this.seed): AuditDecision {
    const { rate, bound } = this.rateFor(provider, task);
    const draw = hashUnit(seed, 'audit', provider.toLowerCase(), task.taskId);
    return { audit: draw < rate, rate, bound, draw };
  }
}
