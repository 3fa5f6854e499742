/**
 * Default parameters of the verification subsystem, in one place so the coordinator, the
 * simulation and the docs (docs/verification.md) agree. Every value is overridable where it is used.
 */

/**
 * Float comparison tolerances for one dtype (see {@link compareTensors}).
 *
 * @example
 * const loose: FloatTolerance = { atol: 1e-3, rtol: 5e-2, minCosine: 0.999, maxMismatchFraction: 1e-3 };
 */
export type FloatTolerance = {
  /** Absolute slack per element: `|a - b| ≤ atol + rtol·|b|` (numpy `allclose` rule). */
  atol: number;
  /** Relative slack per element, scaled by the reference magnitude. */
  rtol: number;
  /** Minimum cosine similarity of the two tensors seen as flat vectors. */
  minCosine: number;
  /**
   * Share of elements allowed to miss the element-wise rule (rounded down), so one near-cancellation
   * in a million-element tensor does not read as fraud. Zero elements are allowed below 1/fraction.
   */
  maxMismatchFraction: number;
};

/**
 * Default tolerances by float dtype. Chosen so CPU vs GPU (including TF32 tensor-core GEMMs, ~1e-3
 * relative) and AVX2 vs AVX-512 summation orders agree, while lazy (zeros, random, stale) outputs
 * fail by orders of magnitude (cosine ≈ 0).
 *
 * @example
 * const tol = DEFAULT_TOLERANCES.float32; // { atol: 1e-4, rtol: 1e-2, minCosine: 0.9999, ... }
 */
export const DEFAULT_TOLERANCES = {
  float16: { atol: 1e-2, rtol: 2e-2, minCosine: 0.999, maxMismatchFraction: 1e-3 },
  float32: { atol: 1e-4, rtol: 1e-2, minCosine: 0.9999, maxMismatchFraction: 1e-3 },
  float64: { atol: 1e-8, rtol: 1e-6, minCosine: 0.999999, maxMismatchFraction: 1e-3 },
} as const satisfies Record<string, FloatTolerance>;

/**
 * Parameters of the decaying Beta reputation (see {@link updateReputation}).
 *
 * @example
 * updateReputation(rep, 'fault', now, { ...DEFAULT_REPUTATION_PARAMS, faultWeight: 16 });
 */
export type ReputationParams = {
  /** Evidence loses half its weight after this many milliseconds. */
  halfLifeMs: number;
  /** Weight added to beta for a proven fault (one fault outweighs several valid results). */
  faultWeight: number;
  /** Weight added to beta for a missed deadline / disconnect (not a fault, but not reliable either). */
  timeoutWeight: number;
};

/**
 * Default reputation parameters: 7-day half-life, a fault weighs as much as 8 valid results,
 * a timeout a quarter of one.
 *
 * @example
 * updateReputation(state, 'valid', Date.now(), DEFAULT_REPUTATION_PARAMS);
 */
export const DEFAULT_REPUTATION_PARAMS: ReputationParams = {
  halfLifeMs: 7 * 24 * 3600 * 1000,
  faultWeight: 8,
  timeoutWeight: 0.25,
};

/**
 * Parameters of the adaptive audit rate (see {@link auditRate}).
 *
 * @example
 * new AdaptiveAuditPolicy({ seed, reputationOf, params: { floor: 0.05 } });
 */
export type AuditParams = {
  /** Audit rate of a provider with no verified record. */
  newRate: number;
  /** Verified-valid results after which the record-based rate has halved. */
  halfRecord: number;
  /** Policy floor under the record-based rate (the economic bound applies on top). */
  floor: number;
  /** Weight of `1 - score` (Beta mean) in the rate: doubtful providers are audited more. */
  doubtWeight: number;
};

/**
 * Default audit parameters: a newcomer is always audited, the rate halves after 2 verified-valid
 * results and keeps falling as `halfRecord / (halfRecord + consecutiveValid)` down to a 4% floor;
 * the economic bound `C / (R + F)` can raise it further per task.
 *
 * @example
 * auditRate({ reputation, bound: 0.03, params: DEFAULT_AUDIT_PARAMS });
 */
export const DEFAULT_AUDIT_PARAMS: AuditParams = {
  newRate: 1,
  halfRecord: 2,
  floor: 0.04,
  doubtWeight: 1,
};

/**
 * Who counts as trusted for auditing others and breaking ties.
 *
 * @example
 * isTrusted(rep, { minScore: 0.95, minConsecutiveValid: 50 });
 */
export type TrustParams = { minScore: number; minConsecutiveValid: number };

/**
 * Default trust bar for auditors and tie-breakers: Beta mean ≥ 0.9 and ≥ 10 verified-valid in a row.
 *
 * @example
 * isTrusted(reputation, DEFAULT_TRUST_PARAMS);
 */
export const DEFAULT_TRUST_PARAMS: TrustParams = { minScore: 0.9, minConsecutiveValid: 10 };

/**
 * Slash rule: a proven fault slashes `min(stake, reward × SLASH_REWARD_MULTIPLE)` and the task's
 * reward is withheld. The same amount is the `F` of the economic audit bound.
 *
 * @example
 * slashAmount({ reward: 100n, stake: 10_000n }); // 2000n
 */
export const SLASH_REWARD_MULTIPLE = 20n;

/**
 * Value floor of the audit rate, in reference units (R, one cpu-core-second at the base price): a
 * task whose pay R_task is at least this many R is always audited, a smaller one at least
 * `R_task / (ALWAYS_AUDIT_UNITS · R)`. The economic bound `C / (R + F)` makes cheating unprofitable
 * in expectation but accepts a cheat with probability 1 − p; with F locked per lease (k × pay) it no
 * longer grows with the task, so without this floor a 60-unit task was as rarely audited as a
 * 1-unit one while a wrong answer on it costs its client 60 times as much (issue 15,
 * cheat-on-large-tasks).
 *
 * @example
 * valueAuditFloor(60n * R, ALWAYS_AUDIT_UNITS * R); // 1
 */
export const ALWAYS_AUDIT_UNITS = 50n;

/**
 * The value floor earned down by a verified record: a provider's value floor is
 * `valueAuditFloor · h / (h + consecutiveValid)` with this `h` (issue 15, overhead). The record is
 * its trusted-checked valid results in a row (audits, canaries, trusted co-executors; never
 * agreement among untrusted providers) and a proven fault resets it, so a newcomer, a Sybil and a
 * caught cheater still have every large task audited, while an operator with 90 checked results
 * in a row is audited at a tenth of the floor, never below the economic bound `C / (R + F)` and the
 * 4% policy floor. The price: a cheater that first builds such a record honestly then cheats on
 * large tasks is caught per cheat with the lower rate (still unprofitable by the bound, and it
 * loses the record, its lock and the suspension that follows).
 *
 * @example
 * valueAuditFloor(60n * R, ALWAYS_AUDIT_UNITS * R) * (VALUE_FLOOR_HALF_RECORD / (VALUE_FLOOR_HALF_RECORD + 90)); // 0.1
 */
export const VALUE_FLOOR_HALF_RECORD = 10;

/**
 * Most executions (primary included) one task may consume before it is declared disputed.
 *
 * @example
 * new TaskVerification({ ...init, maxExecutions: MAX_EXECUTIONS_PER_TASK });
 */
export const MAX_EXECUTIONS_PER_TASK = 7;

/**
 * A canary miss by a provider with at least this many trusted-checked valid results in a row
 * (`consecutiveValid`, never reset by agreement among untrusted providers) opens a re-verification
 * by a trusted provider instead of an automatic fault: a long honest record is stronger evidence
 * than one canary, whose answer may be poisoned (docs/verification.md "Canary reviews").
 *
 * @example
 * if (rep.consecutiveValid >= CANARY_REVIEW_MIN_RECORD) await openCanaryReview(...);
 */
export const CANARY_REVIEW_MIN_RECORD = 20;

/**
 * How long a canary review may stay open (docs/verification.md "Canary reviews"): one with no
 * resolved check by then (no eligible independent checker drawn, or checks that kept disagreeing)
 * expires — its held misses are voided (no fault on a doubtful answer) and the canary stays
 * retired — so no review, and nothing it holds, stays open for good.
 *
 * @example
 * if (now - review.created_at >= CANARY_REVIEW_DEADLINE_MS) await expireReview(...);
 */
export const CANARY_REVIEW_DEADLINE_MS = 48 * 3_600_000;

/**
 * How long an owed compensation (a reward or refund funded from the wrong answer's seized stake)
 * waits for its funders' slashes (docs/verification.md "Made whole"): at the deadline what they
 * cover is paid and the rest lapses, recorded, so nothing stays owed for good.
 *
 * @example
 * if (now - row.created_at >= COMPENSATION_DEADLINE_MS) lapse(row);
 */
export const COMPENSATION_DEADLINE_MS = 14 * 24 * 3_600_000;

/**
 * How long validators remember an execution charge they checked (src/validator/checkCompensations.ts,
 * docs/validators.md "Compensations"): a reward or refund citing an older charge is disputed. 45
 * days: charges up to {@link CHARGE_REFUND_WINDOW_MS} old get compensations, which may wait
 * {@link COMPENSATION_DEADLINE_MS} for their funders' slashes, with a day to spare.
 *
 * @example
 * if (chargeEndsAt < bundleEndsAt - CHARGE_MEMORY_MS) forgotten();
 */
export const CHARGE_MEMORY_MS = 45 * 24 * 3_600_000;

/**
 * A review's reward or refund cites only charges posted at most this long ago (30 days), so it is
 * paid while validators still remember them ({@link CHARGE_MEMORY_MS}); older charges are left out
 * of its evidence and amount.
 *
 * @example
 * const since = now - CHARGE_REFUND_WINDOW_MS;
 */
export const CHARGE_REFUND_WINDOW_MS = CHARGE_MEMORY_MS - COMPENSATION_DEADLINE_MS - 24 * 3_600_000;
