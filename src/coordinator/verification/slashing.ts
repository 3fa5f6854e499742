/**
 * How much a proven fault costs, and the slash entry settlement applies.
 */
import type { Hex } from 'viem';
import { SLASH_REWARD_MULTIPLE } from './constants.ts';

/**
 * The slashable amount `F` for one task: `min(stake, reward × multiple)`. Used both for the slash
 * entry of a proven fault and as `F` in the economic audit bound, so the two always agree.
 *
 * @example
 * slashAmount({ reward: 100n, stake: 10_000n }); // 2000n
 * slashAmount({ reward: 100n, stake: 500n }); // 500n (cannot slash more than is staked)
 */
export function slashAmount(args: { reward: bigint; stake: bigint; multiple?: bigint }): bigint {
  const f = args.reward * (args.multiple ?? SLASH_REWARD_MULTIPLE);
  return args.stake < f ? (args.stake < 0n ? 0n : args.stake) : f;
}

/**
 * Why a provider is faulty.
 *
 * @example
 * if (fault.evidence.kind === 'bad-reveal') log.warn('commitment not opened');
 */
export type FaultKind =
  | 'outvoted' // its output lost a majority vote against agreeing providers
  | 'canary' // its output differs from a known answer
  | 'bad-reveal' // its reveal does not open its commitment
  | 'capability' // its capability-proof answer is not the product (Freivalds)
  | 'malformed'; // its training update lacks a weight tensor or has another dtype or shape

/**
 * The kind a fault is shown with in public (events, a provider's fault history, `/v1/stats`): a
 * canary's miss as what a real audit's miss is, `outvoted` by the accepted output (issue 15: a
 * fault of kind `canary` told which task, and so which shadow job, was a canary). The stored
 * kind, in the evidence validators check, stays `canary`.
 *
 * @example publicFaultKind('canary') // 'outvoted'
 */
export function publicFaultKind(kind: FaultKind | string): string {
  return kind === 'canary' ? 'outvoted' : kind;
}

/**
 * Evidence kept with a fault: enough for anyone to re-check the decision.
 *
 * @example
 * const { taskId, agreeing, digests, reasons }: FaultEvidence = verdict.faults[0]!.evidence;
 */
export type FaultEvidence = {
  taskId: string;
  kind: FaultKind;
  /** The faulty provider's output digest (undefined when it never revealed a valid one). */
  faultyDigest: Hex | undefined;
  /** Digest of the accepted output (or the canary's expected digest). */
  acceptedDigest: Hex | undefined;
  /** Providers whose outputs agreed with the accepted output. */
  agreeing: Hex[];
  /** Every provider's revealed digest, for the record. */
  digests: Record<string, Hex>;
  /** Human-readable explanation from the comparison. */
  reasons: string[];
  /** `malformed`: the tensor at fault, why, and the round's weights blob it was checked against. */
  update?: { tensor: string; why: string; weights: string };
};

/**
 * A slash entry for settlement: who, how much (base units), and why.
 *
 * @example
 * for (const s of verdict.slashes) ledger.slash(s.provider, s.amount, s.evidence);
 */
export type SlashEntry = { provider: Hex; amount: bigint; evidence: FaultEvidence };

/**
 * Builds the slash entry for a proven fault.
 *
 * @example
 * const entry = makeSlashEntry({ provider, reward: 100n, stake: 5000n, evidence });
 */
export function makeSlashEntry(args: {
  provider: Hex;
  reward: bigint;
  stake: bigint;
  evidence: FaultEvidence;
  multiple?: bigint;
}): SlashEntry {
  return {
    provider: args.provider,
    amount: slashAmount({
      reward: args.reward,
      stake: args.stake,
      ...(args.multiple === undefined ? {} : { multiple: args.multiple }),
    }),
    evidence: args.evidence,
  };
}
