/**
 * Decaying Beta reputation plus a consecutive-valid counter, as plain serialisable data.
 *
 * `alpha − 1` and `beta − 1` are the time-decayed weights of verified-valid results and of faults
 * (and, lightly, timeouts) on top of a uniform Beta(1, 1) prior; the score is the Beta mean. Only
 * verified outcomes (audits, redundancy, canaries) count: an unaudited result proves nothing.
 */
import { z } from 'zod';
import {
  DEFAULT_REPUTATION_PARAMS,
  DEFAULT_TRUST_PARAMS,
  type ReputationParams,
  type TrustParams,
} from './constants.ts';

/**
 * Zod schema of the stored reputation state (what `GET /v1/providers/:id` shows).
 *
 * @example
 * const rep = reputationStateSchema.parse(JSON.parse(row.reputation));
 */
export const reputationStateSchema = z.object({
  alpha: z.number().min(1),
  beta: z.number().min(1),
  consecutiveValid: z.number().int().min(0),
  verifiedValid: z.number().int().min(0),
  faults: z.number().int().min(0),
  timeouts: z.number().int().min(0),
  /**
   * Faults alone, time-decayed like `beta` (each fault 1; timeouts never count): what suspension
   * on a second fault is decided on ({@link isSuspended}). Absent in states stored before it.
   */
  recentFaults: z.number().min(0).optional(),
  /** Milliseconds since the epoch of the last update (decay reference). */
  updatedAt: z.number(),
});

/**
 * A provider's reputation; JSON-safe.
 *
 * @example
 * const rep: ReputationState = newReputation(Date.now());
 */
export type ReputationState = z.infer<typeof reputationStateSchema>;

/**
 * A verified outcome that moves reputation. `disputed` tasks move nothing. `agreed`: a valid
 * result that only untrusted providers vouched for (or one of a job its own provider submitted):
 * it raises the score and the verified-valid count but not the consecutive-valid counter that
 * trust, audit-rate relief and concurrency are earned with, since a ring agreeing with itself
 * proves nothing. Only canaries and checks by already trusted providers give `valid`.
 *
 * @example
 * for (const o of verdict.outcomes) if (o.outcome !== 'unverified' && o.outcome !== 'undecided') rep = updateReputation(rep, o.outcome, now);
 */
export type Outcome = 'valid' | 'agreed' | 'fault' | 'timeout';

/**
 * The reputation of a provider nobody has verified yet: Beta(1, 1), score 0.5.
 *
 * @example
 * const rep = newReputation(Date.now());
 */
export function newReputation(now: number): ReputationState {
  return { alpha: 1, beta: 1, consecutiveValid: 0, verifiedValid: 0, faults: 0, timeouts: 0, updatedAt: now };
}

/**
 * Returns the state after decaying old evidence to `now` and adding one outcome. Pure.
 * A fault resets the consecutive-valid counter; a timeout leaves it alone (losing a connection
 * is not cheating) but adds a little weight to beta so unreliable providers get less work.
 *
 * @example
 * let rep = newReputation(0);
 * rep = updateReputation(rep, 'valid', 60_000); // score > 0.5, consecutiveValid 1
 */
export function updateReputation(
  state: ReputationState,
  outcome: Outcome,
  now: number,
  params: ReputationParams = DEFAULT_REPUTATION_PARAMS,
): ReputationState {
  const dt = Math.max(0, now - state.updatedAt);
  const k = 2 ** (-dt / params.halfLifeMs);
  const alpha = 1 + (state.alpha - 1) * k;
  const beta = 1 + (state.beta - 1) * k;
  const recentFaults = recentFaultsOf(state, params) * k;
  switch (outcome) {
    case 'valid':
      return {
        ...state,
        alpha: alpha + 1,
        beta,
        consecutiveValid: state.consecutiveValid + 1,
        verifiedValid: state.verifiedValid + 1,
        ...decayed(state, recentFaults),
        updatedAt: now,
      };
    case 'agreed':
      return {
        ...state,
        alpha: alpha + 1,
        beta,
        verifiedValid: state.verifiedValid + 1,
        ...decayed(state, recentFaults),
        updatedAt: now,
      };
    case 'fault':
      return {
        ...state,
        alpha,
        beta: beta + params.faultWeight,
        consecutiveValid: 0,
        faults: state.faults + 1,
        recentFaults: recentFaults + 1,
        updatedAt: now,
      };
    case 'timeout':
      return {
        ...state,
        alpha,
        beta: beta + params.timeoutWeight,
        timeouts: state.timeouts + 1,
        ...decayed(state, recentFaults),
        updatedAt: now,
      };
  }
}

/**
 * Beta mean `alpha / (alpha + beta)` in [0, 1]: 0.5 for a newcomer.
 *
 * @example
 * reputationScore(newReputation(0)); // 0.5
 */
export function reputationScore(state: ReputationState): number {
  return state.alpha / (state.alpha + state.beta);
}

/**
 * Whether the provider may audit others and break ties: a high score and a recent unbroken record.
 *
 * @example
 * if (isTrusted(rep)) candidates.push(provider);
 */
export function isTrusted(state: ReputationState, params: TrustParams = DEFAULT_TRUST_PARAMS): boolean {
  return reputationScore(state) >= params.minScore && state.consecutiveValid >= params.minConsecutiveValid;
}

/**
 * Validates stored or received JSON as a reputation state (throws a ZodError otherwise).
 *
 * @example
 * const rep = parseReputation(JSON.parse(row.reputation));
 */
export function parseReputation(json: unknown): ReputationState {
  return reputationStateSchema.parse(json);
}

/**
 * Parameters of {@link concurrencyLimit}.
 *
 * @example
 * concurrencyLimit(rep, { newcomer: 2, perVerified: 1, max: 64 });
 */
export type ConcurrencyParams = { newcomer: number; perVerified: number; max: number };

/**
 * How many tasks the scheduler may lease to a provider at once ("trusted with less"): one for a
 * newcomer, growing by `perVerified` per verified result, scaled by `2 · score` (so a doubtful
 * provider gets less than its record alone would give), between 1 and `max`.
 *
 * Concurrency is exposure, not trust: a provider never faulted counts every verified result
 * (`verifiedValid`, agreement among untrusted providers included), so on a network with no trusted
 * provider yet — every new network, every devnet — honest providers still earn prefetch leases; one
 * that was ever faulted counts only its consecutive results checked by trusted providers or
 * canaries. Trust itself, audit relief and trusted seats still need `consecutiveValid`
 * (`isTrusted`), which agreement among untrusted providers never raises.
 *
 * @example
 * concurrencyLimit(newReputation(0)); // 1
 */
export function concurrencyLimit(
  state: ReputationState,
  params: ConcurrencyParams = { newcomer: 1, perVerified: 0.5, max: 32 },
): number {
  const record =
    state.faults === 0 ? Math.max(state.verifiedValid, state.consecutiveValid) : state.consecutiveValid;
  const raw = (params.newcomer + record * params.perVerified) * 2 * reputationScore(state);
  return Math.max(1, Math.min(params.max, Math.floor(raw)));
}

/**
 * Makes a provider whole for a fault later found wrong (a poisoned canary): the fault's weight,
 * decayed as it would have since `faultAt`, comes off beta; the fault count drops by one; the
 * run of valid results it had before the fault (`before`) is given back on top of the current one.
 *
 * @example
 * const next = reinstateReputation(current, before, faultAt, Date.now());
 */
export function reinstateReputation(
  current: ReputationState,
  before: ReputationState | undefined,
  faultAt: number,
  now: number,
  params: ReputationParams = DEFAULT_REPUTATION_PARAMS,
): ReputationState {
  const k = 2 ** (-Math.max(0, now - current.updatedAt) / params.halfLifeMs);
  const sinceFault = 2 ** (-Math.max(0, now - faultAt) / params.halfLifeMs);
  const alpha = 1 + (current.alpha - 1) * k;
  const beta = Math.max(1, 1 + (current.beta - 1) * k - params.faultWeight * sinceFault);
  return {
    ...current,
    alpha,
    beta,
    faults: Math.max(0, current.faults - 1),
    ...decayed(current, Math.max(0, recentFaultsOf(current, params) * k - sinceFault)),
    consecutiveValid: current.consecutiveValid + (before?.consecutiveValid ?? 0),
    updatedAt: now,
  };
}

/**
 * Suspended: proven faulty since its last verified result, and either its score below a
 * newcomer's (a fault outweighs its whole record) or this is its second fault within the
 * reputation's memory (the decayed fault count `recentFaults` still worth
 * {@link SECOND_FAULT_WEIGHTS} faults: two faults within about a half-life, whatever the record;
 * timeouts never count).
 * Such an identity gets no work at all — neither real tasks nor canaries — until a review reverses
 * the fault: a provider caught cheating is out, not put back on probation to burn canaries and
 * auditors' time. A long good record survives one fault (its score stays above a newcomer's: an
 * honest agent that crashes between its commitment and its reveal is not thrown out for it); it
 * goes back to probation instead, and a second fault soon after suspends it (issue 15: a
 * long-record provider that cheats 1 % of the time was caught again and again and kept working).
 *
 * @example
 * isSuspended(updateReputation(newReputation(0), 'fault', 0)); // true
 */
export function isSuspended(
  state: ReputationState,
  params: ReputationParams = DEFAULT_REPUTATION_PARAMS,
): boolean {
  if (state.faults === 0 || state.consecutiveValid !== 0) return false;
  if (reputationScore(state) < 0.5) return true;
  // Decayed to the last update (a suspended provider gets no work, so no later update decays it).
  return recentFaultsOf(state, params) >= SECOND_FAULT_WEIGHTS;
}

/**
 * The decayed fault count of a state (as of its `updatedAt`); for a state stored before
 * `recentFaults`, estimated from what it had: at most its faults, and at most beta's decayed
 * weight in faults (which counts timeouts too, so it errs towards more).
 */
function recentFaultsOf(state: ReputationState, params: ReputationParams): number {
  if (state.recentFaults !== undefined) return state.recentFaults;
  return Math.min(state.faults, (state.beta - 1) / params.faultWeight);
}

/** `recentFaults` carried into the next state once it is worth keeping (a fault was ever seen). */
function decayed(state: ReputationState, recentFaults: number): { recentFaults?: number } {
  return state.faults > 0 || state.recentFaults !== undefined ? { recentFaults } : {};
}

/**
 * How many decayed faults (`recentFaults`) a long record must hold for a fault to suspend it
 * ({@link isSuspended}): 1.5, i.e. the earlier fault at most one half-life old. Timeouts never
 * count (review 2 of issue 15: a veteran's fault a year ago plus one crash — a bad reveal and 16
 * lost leases — suspended it for good through lifetime `faults` and beta's timeout weight).
 */
export const SECOND_FAULT_WEIGHTS = 1.5;

/**
 * On probation: no verified result since joining or since its last fault. Such a provider's
 * slots go to canaries first (work/canaries.ts), so its first answers are checked against known
 * ones before any client depends on them.
 *
 * @example
 * onProbation(newReputation(Date.now())); // true
 */
export function onProbation(state: ReputationState): boolean {
  return state.consecutiveValid === 0 && (state.faults > 0 || state.verifiedValid === 0);
}
