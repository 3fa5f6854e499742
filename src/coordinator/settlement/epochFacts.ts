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
import type { ReputationState } from '../verification/reputation.ts';
import type { CapabilityProofFact } from './capabilityEvidence.ts';

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
  /**
   * A render region audit's share of its task (pixels rendered, the task's pixels): billing sized
   * its units to the whole task (priceExecution.ts `medianBilling`); a validator checks both
   * numbers against the output's crop and the task's descriptor (checkRenderRegions.ts).
   */
  region?: { pixels: number; taskPixels: number };
  /**
   * How long the execution's lease ran by the coordinator's clock (assignment created → result
   * received), ms: billing capped the provider's reported usage at it (priceExecution.ts
   * `billedUnitsMilli`) and a validator applies the same cap. Absent on charges billed before the cap.
   */
  leaseMs?: number;
  /**
   * The most the execution could bill, milli-units (decimal), fixed when it was leased from the
   * job's verified task size (work/taskEconomics.ts `leaseSizeCap`): billing capped the units at it
   * and a validator applies the same cap. Absent where no cap bound (no verified size yet).
   */
  sizeCapMilli?: string;
  /**
   * The epoch whose base price the charge was priced at, when not the bundle's own (evidence
   * version 9): the next epoch's price is set when the epoch before it closes, so a charge posted
   * before that close is priced at the first unclosed epoch's (createMarket.ts `epochAndPriceEpoch`).
   * A validator re-derives the exact unit price from that epoch's bundle (checkUnitPrice.ts).
   */
  priceEpoch?: number;
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
  /** A dataset sale: the client's signed request and whose readings were sold (0020). */
  sale?: DatasetSaleFact;
  /**
   * A storage entry's memo (its receipt, or the proven pieces it pays), or a compensation's
   * ({@link CompensationMemo}): what a validator re-checks.
   */
  memo?: unknown;
};

/** A provider's signed result (EIP-712 TaskResult), as a validator re-checks it. */
export type SignedResult = {
  assignmentId: string;
  taskId: string;
  outputCid: string;
  usage: unknown;
  issuedAt: number;
  signature: string;
};

/**
 * The evidence every `compensation` entry (work/reviewCompensations.ts) carries in its memo: the trusted check (its signed
 * result), the known answer it overturned, the wronged provider's signed result, the wrong
 * answer's providers with their signed results, and the task's charges the amounts come from.
 */
export type CompensationMemo = {
  part: 'slash' | 'reward' | 'refund' | 'reopened' | 'check';
  taskId: string;
  review: string;
  /** The wronged provider (slash, reward). */
  provider?: string;
  /** The refunded client (refund). */
  client?: string;
  /** The overturned known answer's output. */
  expectedCid: string;
  /** `basis` (evidence version 10): what the checker was drawn on ({@link ReviewCheckBasis}). */
  check: { provider: string; result: SignedResult; basis?: ReviewCheckBasis };
  /** The first of the two independent checks an overturn needs (it agrees with `check`). */
  firstCheck?: { provider: string; result: SignedResult; basis?: ReviewCheckBasis };
  wronged?: SignedResult;
  wrong: { provider: string; result: SignedResult }[];
  charges: { ref: string; provider: string; charge: string; providerAmount: string }[];
  slashId?: number;
  /**
   * `reopened` (work/reopenedPayback.ts): the wronged provider's signed result on the fault the
   * review reversed (`wronged` is then its result on the reopened task `taskId`)…
   */
  reversal?: SignedResult;
  /** …the task the wrong answer's results (`wrong`) are about… */
  sourceTaskId?: string;
  /** …and the re-run's signed result that agrees with `wronged` (its charge is `charges`). */
  rerun?: { provider: string; result: SignedResult };
  /** `check` (work/checkerPay.ts): which of the at most two paid checks of the cited charges. */
  slot?: number;
};

/**
 * A dataset sale as its client signed it (`DatasetRequest`, src/sensors/dataset/createDatasetSeller.ts):
 * the query, nonce, cap and signature, the readings sold at the price per reading, and how many
 * readings of each device owner were sold (the owners' shares split by these counts).
 *
 * @example
 * const s: DatasetSaleFact = { purchaseId, client, nonce: '1', maxCost: '100', issuedAt, signature, query, readings: 10, pricePerReading: '5', owners: { '0xab…': '10' } };
 */
export type DatasetSaleFact = {
  purchaseId: Hex;
  client: Address;
  nonce: string;
  maxCost: string;
  issuedAt: number;
  signature: Hex;
  query: unknown;
  readings: number;
  pricePerReading: string;
  owners: Record<string, string>;
};

/**
 * A sensor batch as its device signed it (`ReadingBatch`: the digest of its readings), reported
 * by the bundle closed after it arrived.
 *
 * @example
 * const b: SensorBatchFact = { device, sequence: 12, payloadHash: '0x…', issuedAt, signature, readings: 60 };
 */
export type SensorBatchFact = {
  device: Address;
  sequence: number;
  payloadHash: Hex;
  issuedAt: number;
  signature: Hex;
  readings: number;
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
  /**
   * The task's economics the rate was bounded with (`rate ≥ C / (R + F)`, auditPolicy.ts), decimal
   * strings; absent only for draws recorded before migration 0020 (then the floor alone is checked).
   */
  economics?: { reward: string; honestCost: string; slashable: string };
  /**
   * The rest of what the rate was computed with (migration 0026; absent before): `at`, the time the
   * provider's reputation was read (validators replay the journal to then); `unitReward`, the
   * reference unit reward R the value floor `reward / (ALWAYS_AUDIT_UNITS · R)` is priced in; for a
   * render task `valueReward`, the reward its value floor was priced with (renderValueFloor.ts).
   */
  basis?: AuditBasis;
};

/**
 * What an audit draw's rate was computed with besides its economics (see {@link AuditDraw}).
 *
 * @example
 * const b: AuditBasis = { at: 1_700_000_000_000, unitReward: '1000000', valueReward: '2400000000' };
 */
export type AuditBasis = {
  at: number;
  unitReward: string;
  valueReward?: string;
  /** A render task's size (billed milli-units) its value reward was priced from (renderValueFloor.ts). */
  valueUnits?: string;
  /** The verified frame (task id) that size was measured on; absent: the job's worst case. */
  valueFrom?: Hex;
};

/**
 * One change of a provider's reputation, as the journal reports it (docs/validators.md "Audit rates
 * and reputation"): an outcome at `at` (`updateReputation`), a reinstatement (`reinstateReputation`
 * with the state before the fault and the fault's time), or where the journal starts for a provider
 * that had a reputation before it (`state`).
 *
 * @example
 * const e: ReputationEntry = { provider: '0xab…', kind: 'agreed', at: 1_700_000_000_000 };
 */
export type ReputationEntry = {
  provider: string;
  kind: 'valid' | 'agreed' | 'fault' | 'timeout' | 'reinstate' | 'state';
  at: number;
  /** `reinstate`: the reputation before the fault (null: none kept) and the fault's time. */
  before?: ReputationState | null;
  faultAt?: number;
  /** `state`: the provider's reputation when the journal started. */
  state?: ReputationState;
  /** `timeout` (migration 0031): what a validator checks it by (docs/validators.md "Timeouts"). */
  cause?: TimeoutCause;
  /** `reinstate` (evidence version 7): the review that overturned the fault, as its checkers signed it. */
  review?: ReinstateReview;
  /**
   * The task the change is about (migration 0057, evidence version 9): a verdict's outcome, a
   * canary's, a fault's, a timeout's (its cause's task). A validator cross-checks it with the
   * bundle's facts on that task (checkJournalTasks.ts).
   */
  taskId?: Hex;
};

/**
 * Why a fault was reversed (docs/validators.md "Reinstatements"): the known answer the review
 * overturned, its two independent trusted checks and the reinstated provider's own result on the
 * faulted task, each as its provider signed it. A validator verifies the signatures and re-derives
 * the overturn from the outputs (the check differs from the known answer, agrees with the first
 * check and with the reinstated provider's output).
 *
 * @example
 * const r: ReinstateReview = { expectedCid, check: { provider, result }, firstCheck: { provider, result }, wronged };
 */
export type ReinstateReview = {
  expectedCid: string;
  /** `basis` (evidence version 10): what each checker was drawn on ({@link ReviewCheckBasis}). */
  check: { provider: string; result: SignedResult; basis?: ReviewCheckBasis };
  firstCheck: { provider: string; result: SignedResult; basis?: ReviewCheckBasis };
  wronged: SignedResult;
};

/**
 * Why a provider online at the draw and drawn lower than the checker did not hold the check
 * (evidence version 12, `ReviewCheckBasis.lower`, work/checkerDraw.ts): not trusted; a party of the review (it cannot
 * check it: a source, leased the canary, outvoted, under review, the first checker); not a party
 * but it executed the review's source task (it has seen the answer); no GPU proof
 * for a GPU canary; it cannot run the review's kind (no Blender of the job's major version, no
 * training backend: reviewLeases.ts); an identity not known (or its funder lookup pending: fail closed); network or
 * funder kin of a party; leased work since the review opened (it let the check go).
 */
export type CheckerSkip = 'untrusted' | 'party' | 'seen' | 'gpu' | 'kind' | 'unknown' | 'kin' | 'leased';

/**
 * A provider drawn lower than the checker, with its draw and, unless it held priority, why not.
 *
 * @example
 * const c: LowerCandidate = { provider: '0xab…', draw: 0.02, skip: 'leased' };
 */
export type LowerCandidate = { provider: string; draw: number; skip?: CheckerSkip };

/**
 * What a review's checker was drawn on (work/reviewCheckers.ts, migration 0070, evidence version
 * 10), kept with its check lease and carried by every memo and reinstatement that cites the check:
 * when the lease was drawn (the coordinator's clock), the seed's epoch and the draw, the review's
 * parties the checker had to be independent of (`reviewParties`: the canary's sources, every
 * provider leased it, the source task's outvoted providers, the reviewed provider, a first
 * checker), and what the coordinator knew then of the checker's and each party's identity — the
 * network prefix of its session and its funding chain (kinship.ts) — with the funders it exempted
 * as hubs. A validator re-derives from it that the checker was trusted at `at` (its journal
 * replay) and clear of every party (work/checkerIndependence.ts).
 *
 * @example
 * const b: ReviewCheckBasis = { at, epoch: 7, draw: 0.12, parties: ['0xab…'], identities: { '0xab…': { prefix: null, funders: [] } }, hubs: [] };
 */
export type ReviewCheckBasis = {
  at: number;
  epoch: number | null;
  draw: number;
  parties: string[];
  identities: Record<string, { prefix: string | null; funders: string[] }>;
  hubs: string[];
  /**
   * Evidence version 12 (work/checkerDraw.ts): the review the draw was keyed by
   * (`hashUnit(seed, 'review-check', reviewId, provider)`), when it opened (the priority window
   * counts from it), and every other provider online at the draw drawn lower than the checker, by
   * draw, with why it did not hold the check (none: it held priority). A validator re-derives that
   * the checker is the one the rule picks among them, and every draw once the seed is revealed.
   */
  reviewId?: string;
  openedAt?: number;
  lower?: LowerCandidate[];
};

/**
 * Why a provider's reputation took a `timeout`: the task lease it held (the client-signed job's
 * `taskTimeoutSec` fixes its deadline) that ended without a result — with the provider's signed
 * `TaskFailure` when it reported the failure itself — or the canary lease that ran out. Timeouts
 * journaled before causes were kept are `{ legacy: true }`.
 *
 * @example
 * const c: TimeoutCause = { lease, task, job, leasedAt, endedAt, code: 'PLX_LEASE_EXPIRED', timeoutSec: 60 };
 */
export type TimeoutCause =
  | {
      lease: Hex;
      task: Hex;
      job: Hex;
      leasedAt: number;
      endedAt: number;
      /** `PLX_LEASE_EXPIRED`, `PLX_LEASE_LOST`, or the provider's own code when it reported a failure. */
      code: string;
      /** The job's `taskTimeoutSec` the deadline was computed with (null: none). */
      timeoutSec: number | null;
      /** The provider's signed `TaskFailure` over this lease (the reason as its hash). */
      failure?: { reasonHash: Hex; issuedAt: number; signature: Hex };
    }
  | {
      canary: Hex;
      task: Hex;
      leasedAt: number;
      expiresAt: number;
      endedAt: number;
      /** `PLX_LEASE_EXPIRED` (ran out), or `PLX_LEASE_LOST`: the provider reconnected without it. */
      code: 'PLX_LEASE_EXPIRED' | 'PLX_LEASE_LOST';
    }
  | { legacy: true };

/**
 * A task lease that ended since the previous bundle (evidence version 6, migration 0037), reported
 * once: with a result (`code` null) or without one (the code it ended with: `PLX_LEASE_EXPIRED`,
 * `PLX_LEASE_LOST`, the provider's own failure code, `PLX_JOB_CANCELLED`). Every timeout's lease
 * must be one of these, cited once, and a lease that ended without a result after a result on its
 * task was in must be cited by the time the task is paid (docs/validators.md "Ended leases").
 *
 * @example
 * const l: EndedLease = { lease, provider, task, job, leasedAt, endedAt, code: 'PLX_LEASE_EXPIRED' };
 */
export type EndedLease = {
  lease: Hex;
  provider: string;
  task: Hex;
  job: Hex;
  leasedAt: number;
  endedAt: number;
  code: string | null;
  /**
   * The provider's signed result, as a validator joins it from `EpochFacts.unpaidResults` (never
   * written in the listing itself).
   */
  result?: { outputCid: string; usage: Usage; issuedAt: number; signature: Hex };
};

/**
 * Version 7: a result on a task the bundle pays whose lease the bundle does not pay, of a provider
 * neither paid nor slashed on the task, as the provider signed it (docs/validators.md "Results
 * neither paid nor faulted"): a validator compares its output with the paid one.
 *
 * @example
 * const u: UnpaidResult = { lease, provider, task, result: { outputCid, usage, issuedAt, signature } };
 */
export type UnpaidResult = {
  lease: Hex;
  provider: string;
  task: Hex;
  result: { outputCid: string; usage: Usage; issuedAt: number; signature: Hex };
};

/**
 * A canary lease the epoch reports (finished since the previous bundle): the injection draw, the
 * known answer it was judged against and the provider's signed result (verification/canaryPool.ts).
 *
 * @example
 * const c: CanaryFact = { leaseId, taskId, provider, status: 'passed', expectedCid, expectedDigest, result, draw };
 */
export type CanaryFact = {
  leaseId: Hex;
  taskId: Hex;
  provider: Address;
  /** `passed`: the output matched the known answer; `failed` / `review`: it did not. */
  status: 'passed' | 'failed' | 'review';
  expectedCid: string;
  expectedDigest: Hex;
  result: { outputCid: string; usage: Usage; issuedAt: number; signature: Hex };
  /**
   * The injection draw `hashUnit(seed_epoch, 'canary', provider, slot)` compared with `rate`;
   * null for a review's independent check (issued to a trusted provider, not drawn).
   */
  draw: { epoch: number; slot: Hex; rate: number; draw: number } | null;
  /**
   * A miss (migration 0058, evidence version 9): when, the provider's `consecutiveValid` as the
   * coordinator read it, the canary's review state then, and whether the miss was held for review
   * (the long-record rule, work/canaries.ts); a validator re-derives it (checkCanaryHolds.ts).
   */
  hold?: { at: number; record: number; review: string | null; held: boolean };
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
  /**
   * The audit draw of every audit-policy task this epoch charges (its verdict is in, so its draw
   * leaks nothing), checked against the executions charged now and against the seed when revealed.
   * Absent (as `canaries`) in bundles closed before migration 0020.
   */
  draws?: AuditDraw[];
  /** Canary leases finished since the previous bundle, with their draws and signed results. */
  canaries?: CanaryFact[];
  /** Sensor batches received since the previous bundle, as their devices signed them (0020). */
  sensorBatches?: SensorBatchFact[];
  /** Reputation changes since the previous bundle, in time order, each reported once (0026). */
  reputation?: ReputationEntry[];
  /** Task leases ended since the previous bundle, each once (version 6, 0037). */
  endedLeases?: EndedLease[];
  /** Results on tasks this bundle pays, neither paid nor slashed, signed (version 7). */
  unpaidResults?: UnpaidResult[];
  /**
   * Version 11: the salt of every lease the bundle cites that has one (lowercase id → salt; a lease
   * id is keccak256(abi.encode(taskId, provider, salt)), protocol/taskRef.ts `boundLeaseId`).
   * Always present (maybe empty) in a version-11 bundle; absent before.
   */
  leaseSalts?: Record<string, Hex>;
  /**
   * Version 12: the capability proof of every provider whose proven capacity can weigh in the
   * epoch's emission (capabilityEvidence.ts). Always present (maybe empty) in a version-12 bundle.
   */
  capabilityProofs?: CapabilityProofFact[];
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
