/** The types of the per-task verification state machine (taskVerification.ts). */
import type { Hex } from 'viem';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { UpdateFault } from '../../protocol/trainUpdate.ts';
import type { Tolerances } from './compareTensors.ts';
import type { VerificationPolicy } from './policy.ts';
import type { Outcome } from './reputation.ts';
import type { FaultEvidence, SlashEntry } from './slashing.ts';

/**
 * Why an execution was asked for.
 *
 * @example
 * tv.assign(provider, 'auditor');
 */
export type ExecutionRole = 'primary' | 'replica' | 'auditor' | 'tiebreaker';

/**
 * Executions the coordinator should assign now.
 *
 * @example
 * for (const { role, count, exclude, trustedOnly } of tv.pending()) pick(count, exclude, trustedOnly).forEach((p) => tv.assign(p, role));
 */
export type ExecutionRequest = {
  role: ExecutionRole;
  count: number;
  /** Providers that must not get this task (already involved). */
  exclude: Hex[];
  /** Only trusted providers (see isTrusted) may audit or break ties. */
  trustedOnly: boolean;
  /**
   * Ground truth wanted: the executions so far are untrusted and disagree (or trusted ones are
   * split). Only a provider trusted now may take it, never the best-scored fallback; the task
   * waits for one.
   */
  groundTruth?: boolean;
};

/**
 * A reveal as the coordinator passes it in: the opened commitment plus the output it fetched.
 *
 * @example
 * tv.reveal(provider, { outputDigest, salt, tensors } satisfies RevealedOutput);
 */
export type RevealedOutput = {
  outputDigest: Hex;
  salt: Hex;
  /** The output tensors (required unless the task is deterministic, where digests decide). */
  tensors?: TensorSet;
  /**
   * A `train.diloco` update that fails the layout check against its round's weights
   * (`weights`: their blob; protocol/trainUpdate.ts): `malformed` is a fault, `nonfinite` is
   * dropped unpaid without one. Either way the slot is asked for again.
   */
  invalid?: InvalidUpdate;
};

/**
 * What the coordinator found wrong with a training update, and the weights it checked against.
 *
 * @example
 * const invalid: InvalidUpdate = { kind: 'malformed', tensor: 'dense/kernel', why: 'missing', weights: cid };
 */
export type InvalidUpdate = UpdateFault & { weights: string };

/**
 * The known answer of a canary task.
 *
 * @example
 * const answer: CanaryAnswer | undefined = canaries.answerFor(taskId);
 */
export type CanaryAnswer = { expectedDigest: Hex; expected?: TensorSet };

/**
 * How one provider's execution counts for its reputation.
 *
 * @example
 * for (const { provider, outcome } of verdict.outcomes) record(provider, outcome);
 */
export type ProviderOutcome = {
  provider: Hex;
  role: ExecutionRole;
  /** `unverified`: accepted without a second opinion (no reputation change). */
  outcome: Outcome | 'unverified' | 'undecided';
};

/**
 * Final state of a task's verification.
 *
 * @example
 * const v: Verdict | undefined = tv.verdict(); if (v?.status === 'accepted') useOutput(v.acceptedFrom);
 */
export type Verdict = {
  taskId: string;
  /**
   * `accepted`: `acceptedDigest` is the verified (or, without verification, the only) output;
   * `rejected`: no output can be accepted (a failed canary, a single execution that lied) and the
   * task must be re-run; `disputed`: no strict majority within the execution cap, nobody is blamed.
   */
  status: 'accepted' | 'rejected' | 'disputed';
  acceptedDigest: Hex | undefined;
  /** The provider whose uploaded output should be used (first member of the winning group). */
  acceptedFrom: Hex | undefined;
  /** True when at least two providers (or a known answer) vouch for the accepted output. */
  verified: boolean;
  outcomes: ProviderOutcome[];
  faults: Array<{ provider: Hex; evidence: FaultEvidence }>;
  slashes: SlashEntry[];
  /** Total executions assigned for this task (compute spent), the primary included. */
  executions: number;
};

/**
 * One step of a task's verification as the coordinator fed it in; the log of these is what a
 * restart replays.
 *
 * @example
 * store.saveVerificationLog(taskId, JSON.stringify(tv.log()));
 */
export type VerificationEvent =
  | { type: 'assign'; provider: Hex; role: ExecutionRole; trusted?: boolean }
  /** `ref`: the task reference the commitment is over (protocol v3: the assignment id); absent: the task id. */
  | { type: 'commit'; provider: Hex; commitment: Hex; ref?: Hex }
  | { type: 'reveal'; provider: Hex; outputDigest: Hex; salt: Hex; invalid?: InvalidUpdate }
  | { type: 'abandon'; provider: Hex }
  | { type: 'withdraw'; provider: Hex; commitment: Hex };

/**
 * Construction options of a {@link TaskVerification}.
 *
 * @example
 * new TaskVerification({ taskId, policy: { kind: 'audit' }, audit: true, reward: 100n, stakeOf: () => 5000n });
 */
export type TaskVerificationInit = {
  taskId: string;
  policy: VerificationPolicy;
  /** For `audit`: the AdaptiveAuditPolicy decision for the primary. Ignored otherwise. */
  audit?: boolean;
  /** Set only for canary tasks (the coordinator knows; the provider cannot tell). */
  canary?: CanaryAnswer;
  /** Outputs must match bit for bit (compare digests only). */
  deterministic?: boolean;
  tolerances?: Tolerances;
  maxExecutions?: number;
  /** Reward R of the task and each provider's slashable stake, for slash entries. */
  reward: bigint;
  stakeOf: (provider: Hex) => bigint;
};
