/**
 * The review checker's seeded draw, shared by the coordinator (reviewCheckers.ts, which draws) and
 * validators (validator/checkCheckerDraw.ts, which re-derive it; docs/validators.md "Review
 * checkers"). Pure.
 *
 * Each provider's draw for a review is `hashUnit(seed, 'review-check', reviewId, provider)` with
 * the secret seed of the epoch the draw was made in (verification/auditSeeds.ts: committed two
 * epochs ahead, revealed once nothing drawn with it is open). The review goes to the eligible
 * provider with the lowest draw, where a lower-drawn eligible provider leased nothing since the
 * review opened holds it for `CHECKER_PRIORITY_MS` per rank: a provider may check once fewer than
 * `priorityRanks(at, openedAt)` such idle ones are drawn lower.
 */
import { hashUnit } from '../../protocol/rng.ts';
import type { CheckerSkip, LowerCandidate } from '../settlement/epochFacts.ts';

export type { CheckerSkip, LowerCandidate };

/** How long each rank of the draw has a review before the next one may check it too. */
export const CHECKER_PRIORITY_MS = 60 * 60_000;

/** The reasons a validator may find in a basis. */
export const CHECKER_SKIPS: readonly CheckerSkip[] = [
  'untrusted',
  'party',
  'seen',
  'gpu',
  'kind',
  'unknown',
  'kin',
  'leased',
];

/**
 * A provider's draw for a review.
 *
 * @example
 * const draw = reviewCheckDraw(seed, reviewId, '0xab…');
 */
export function reviewCheckDraw(seed: string, reviewId: string, provider: string): number {
  return hashUnit(seed, 'review-check', reviewId, provider.toLowerCase());
}

/**
 * How many idle eligible providers drawn lower a checker may pass at `at` for a review opened at
 * `openedAt`: one more per `CHECKER_PRIORITY_MS` the review has been open.
 *
 * @example
 * if (holdersBelow >= priorityRanks(now, openedAt)) return undefined; // not this provider's turn
 */
export function priorityRanks(at: number, openedAt: number): number {
  return Math.floor(Math.max(0, at - openedAt) / CHECKER_PRIORITY_MS) + 1;
}
