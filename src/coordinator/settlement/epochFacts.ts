/**
 * The signed facts behind an epoch's money (docs/validators.md, "Facts"): every ledger entry the
 * epoch accrued before closing, each with what justifies it — a charged execution with the
 * client's signed job submission and the provider's signed result, a dataset sale with its
 * postings — and every pending slash with the slashed provider's own signed statements. A
 * validator checks the signatures, re-prices each execution and re-adds the postings: the sums
 * must equal the balances `computeEpoch` settles (`EpochInputs.epochBalances`), so a coordinator
 * cannot raise an earning, invent a result, charge twice or slash without evidence.
 *
 * Pure types: amounts are decimal strings so the bundle round-trips through JSON unchanged.
 */
import type { Address, Hex } from 'viem';
import type { Usage } from '../../protocol/schemas.ts';

/**
 * A job as its client signed it (EIP-712 JobSubmission over hashCanonical(spec)).
 *
 * @example
 * const j: JobFact = { jobId, client, spec, nonce: '7', maxPricePerUnit: '100', issuedAt, signature };
 */
export type JobFact = {
  jobId: Hex;
  client: Address;
  /** The spec exactly as signed; null for a job from before signed specs were kept (unverifiable). */
  spec: unknown;
  nonce: string;
  maxPricePerUnit: string;
  issuedAt: number;
  signature: Hex;
};

/**
 * One charged execution (ledger entry `exec:<assignmentId>`): the provider's signed result and
 * the price applied.
 *
 * @example
 * const c: ChargeFact = { ref: `exec:${aid}`, jobId, taskId, assignmentId: aid, provider, class: 'cpu', … };
 */
export type ChargeFact = {
  ref: string;
  jobId: Hex;
  taskId: Hex;
  assignmentId: Hex;
  provider: Address;
  class: string;
  unitsMilli: string;
  unitPrice: string;
  charge: string;
  fee: string;
  providerAmount: string;
  result: { outputCid: string; usage: Usage; issuedAt: number; signature: Hex };
};

/**
 * Any other entry of the epoch (a dataset sale): its postings, which must balance.
 *
 * @example
 * const e: EntryFact = { ref: 'dataset:0x…', kind: 'dataset-charge', postings: [{ account, amount: '5' }] };
 */
export type EntryFact = {
  ref: string;
  kind: string;
  postings: { account: string; amount: string }[];
  /** A storage entry's memo (its receipt, or the proven pieces it pays): what a validator re-checks. */
  memo?: unknown;
};

/**
 * A provider's own signed statement about a task: a result or a commitment.
 *
 * @example
 * const s: SignedStatement = { type: 'TaskCommitment', assignmentId, taskId, commitment, issuedAt, signature };
 */
export type SignedStatement =
  | {
      type: 'TaskResult';
      assignmentId: Hex;
      taskId: Hex;
      outputCid: string;
      usage: Usage;
      issuedAt: number;
      signature: Hex;
    }
  | {
      type: 'TaskCommitment';
      assignmentId: Hex;
      taskId: Hex;
      commitment: Hex;
      issuedAt: number;
      signature: Hex;
    };

/**
 * A pending slash request (`EpochInputs.slashRequests[i]`) with its fault evidence and the
 * slashed provider's signed statements about the task.
 *
 * @example
 * const s: SlashFact = { id: 4, provider, taskId, amount: '2000', kind: 'outvoted', evidence, signed };
 */
export type SlashFact = {
  id: number;
  provider: string;
  taskId: string;
  amount: string;
  kind: string;
  evidence: unknown;
  signed: SignedStatement[];
  /**
   * An `outvoted` fault: the signed results of the providers whose agreeing outputs outvoted it
   * (`evidence.agreeing`), so a validator can fetch both outputs and re-run the comparison.
   */
  accepted?: SignedStatement[];
};

/**
 * One audit draw as recorded and later published.
 *
 * @example
 * const d: AuditDraw = { taskId, provider, epoch: 12, rate: 0.04, draw: 0.51, audited: false, otherOnline: true };
 */
export type AuditDraw = {
  taskId: string;
  provider: string;
  epoch: number;
  /** The audit rate the draw was compared with (a float, exactly as used). */
  rate: number;
  draw: number;
  /** Whether the task was audited (draw < rate and another provider was online to run it). */
  audited: boolean;
  /** Whether another provider was online to run an audit when the draw was made. */
  otherOnline: boolean;
};

/**
 * The audit part of an epoch's facts.
 *
 * @example
 * const a: AuditFacts = { commitment: { epoch: 14, commitment: '0x…' }, reveals: [{ epoch: 11, seed, draws }] };
 */
export type AuditFacts = {
  commitment: { epoch: number; commitment: `0x${string}` };
  reveals: { epoch: number; seed: string; draws: AuditDraw[] }[];
};

/**
 * The facts of one epoch.
 *
 * @example
 * const facts: EpochFacts = { jobDomain: { chainId, verifyingContract }, jobs, charges, entries, slashes };
 */
export type EpochFacts = {
  /** The EIP-712 domain job submissions are signed in (verifyingContract null: chain id only). */
  jobDomain: { chainId: number; verifyingContract: Address | null };
  jobs: JobFact[];
  charges: ChargeFact[];
  entries: EntryFact[];
  slashes: SlashFact[];
  /** Audit draws: the seed commitment two epochs ahead, revealed seeds and their draws. */
  audits: AuditFacts;
};

/**
 * The postings a charge fact stands for, as the market wrote them (createMarket.ts `onVerdict`).
 *
 * @example
 * chargePostings(fact, client); // [{ account: 'client:0x…:unsettled', amount: 100n }, …]
 */
export function chargePostings(c: ChargeFact, client: string): { account: string; amount: bigint }[] {
  const fee = BigInt(c.fee);
  return [
    { account: `client:${client.toLowerCase()}:unsettled`, amount: BigInt(c.charge) },
    { account: `provider:${c.provider.toLowerCase()}:earnings`, amount: -BigInt(c.providerAmount) },
    ...(fee > 0n ? [{ account: 'protocol:fees', amount: -fee }] : []),
  ];
}
