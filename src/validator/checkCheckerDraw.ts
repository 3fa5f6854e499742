/**
 * A validator's check that a review's checker is the one its seeded draw picks (evidence version
 * 12; docs/validators.md "Review checkers"). The basis a check cites (`ReviewCheckBasis`) records
 * the review the draw was keyed by, when the review opened, and every provider online at the draw
 * drawn lower than the checker, each with why it did not hold the check (work/checkerDraw.ts).
 * Before the seed is revealed a validator re-derives, from the basis alone:
 *
 * - `.basis.lower`: present (version 12), well-formed, by draw, every draw under the checker's;
 * - `.basis.openedAt`: the review opened before the draw and within a review's lifetime of it;
 * - `.basis.lower` (priority): fewer of them held priority (no reason given) than the ranks the
 *   review's age allowed (`priorityRanks`): with more, one of them was the checker the rule picked;
 * - each reason it can: `party` (one of the basis's parties), `kin` (kin of a party by the
 *   recorded identities, work/checkerIndependence.ts) and `untrusted` (with a complete journal
 *   replay: some state it had within the staleness window of the draw was not trusted).
 *
 * - `.basis.epoch` (given the bundle's epoch and times): a whole number, the epoch the draw's time
 *   `at` falls in (epochs are of the bundle's length, market/epochClock.ts) and not after the
 *   bundle's; a made-up one would pick the seed its draws are recomputed with (issue 17, F1);
 * - `.basis.lower`: no more entries than the providers the bundle knows (each one is kept by the
 *   validator to recompute).
 *
 * The draws themselves — the checker's and each lower one's — are published (checkDraws.ts
 * `publishedDraws`, kind `review-check`) and recomputed once the seed of the basis's epoch is
 * revealed: a checker drawn with another value, or a provider left out of the basis's lower ones
 * by a forged draw, is then refused. Pure.
 */
import type { ReviewCheckBasis } from '../coordinator/settlement/epochFacts.ts';
import { CANARY_REVIEW_DEADLINE_MS } from '../coordinator/verification/constants.ts';
import { isTrusted } from '../coordinator/verification/reputation.ts';
import { CHECKER_SKIPS, type LowerCandidate, priorityRanks } from '../coordinator/work/checkerDraw.ts';
import { independenceOf } from '../coordinator/work/checkerIndependence.ts';
import type { FactDispute } from './checkFacts.ts';
import type { ReputationReplay } from './reputationReplay.ts';

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

/**
 * What a bundle tells of its epochs and providers, to check a basis's epoch and bound its lower ones:
 * its epoch, the start and end of that epoch (ms) and how many providers it knows.
 *
 * @example
 * const at: DrawEpochs = { epoch: 9, startsAt, endsAt, providers: inputs.providers.length };
 */
export type DrawEpochs = { epoch: number; startsAt: number; endsAt: number; providers: number };

/**
 * The epoch a time falls in, from one epoch's bounds: epochs are of equal length from genesis
 * (market/epochClock.ts `epochAt`, the clock the coordinator draws a review's checker by).
 *
 * @example
 * epochOfTime({ epoch: 9, startsAt: 9_000, endsAt: 10_000 }, 7_500); // 7
 */
export function epochOfTime(e: Pick<DrawEpochs, 'epoch' | 'startsAt' | 'endsAt'>, at: number): number | null {
  const len = e.endsAt - e.startsAt;
  if (!Number.isSafeInteger(len) || len <= 0 || !Number.isFinite(at)) return null;
  return Math.max(1, e.epoch + Math.floor((at - e.startsAt) / len));
}

const isDraw = (x: unknown): x is number => typeof x === 'number' && x >= 0 && x < 1;

const wellFormed = (l: unknown): l is LowerCandidate =>
  typeof l === 'object' &&
  l !== null &&
  typeof (l as LowerCandidate).provider === 'string' &&
  isDraw((l as LowerCandidate).draw) &&
  ((l as LowerCandidate).skip === undefined || CHECKER_SKIPS.includes((l as LowerCandidate).skip!));

/**
 * Checks that `checker` is the provider `b`'s draw picks (see the module comment); null when it
 * is. `required`: a basis without its draw record (`lower`) is refused. `replay` (complete)
 * re-derives `untrusted` reasons.
 *
 * @example
 * const wrong = checkCheckerDraw('compensation[r].check', checker, basis, true, replay);
 */
export function checkCheckerDraw(
  name: string,
  checker: string,
  b: ReviewCheckBasis,
  required: boolean,
  replay: ReputationReplay | undefined,
  epochs?: DrawEpochs,
): FactDispute | null {
  if (b.lower === undefined)
    return required ? bad(`${name}.basis.lower`, 'none', 'the providers drawn lower than the checker') : null;
  const me = checker.toLowerCase();
  const wrongEpoch = checkBasisEpoch(name, b, epochs);
  if (wrongEpoch) return wrongEpoch;
  if (typeof b.reviewId !== 'string' || b.reviewId.length === 0)
    return bad(`${name}.basis.reviewId`, b.reviewId, 'the review the draw was keyed by');
  if (!isDraw(b.draw)) return bad(`${name}.basis.draw`, b.draw, 'in [0, 1)');
  if (
    !(
      Number.isSafeInteger(b.openedAt) &&
      b.openedAt! <= b.at &&
      b.openedAt! >= b.at - CANARY_REVIEW_DEADLINE_MS
    )
  )
    return bad(
      `${name}.basis.openedAt`,
      b.openedAt,
      `a review open at the draw (${b.at}) within its lifetime`,
    );
  if (!Array.isArray(b.lower) || !b.lower.every(wellFormed))
    return bad(`${name}.basis.lower`, JSON.stringify(b.lower), 'providers with their draws and reasons');
  // Each lower one was a provider online at the draw, so one the bundle knows: no more of them.
  if (epochs && b.lower.length > epochs.providers)
    return bad(`${name}.basis.lower`, `${b.lower.length} providers`, `at most the ${epochs.providers} known`);
  const seen = new Set<string>([me]);
  let prev = 0;
  for (const [i, l] of b.lower.entries()) {
    const p = l.provider.toLowerCase();
    const at = `${name}.basis.lower[${i}]`;
    if (seen.has(p)) return bad(`${at}.provider`, p, 'a provider listed once, not the checker');
    seen.add(p);
    if (l.draw < prev || l.draw >= b.draw)
      return bad(`${at}.draw`, l.draw, `between ${prev} and the checker's draw ${b.draw}`);
    prev = l.draw;
    const wrong = checkReason(at, p, l, b, replay);
    if (wrong) return wrong;
  }
  const holders = b.lower.filter((l) => l.skip === undefined).map((l) => l.provider.toLowerCase());
  const ranks = priorityRanks(b.at, b.openedAt!);
  if (holders.length >= ranks)
    return bad(
      `${name}.basis.lower`,
      `${me} drawn past ${holders.length} idle eligible providers drawn lower (${holders.join(', ')})`,
      `fewer than ${ranks} (the review opened at ${b.openedAt}; the check was ${holders[0]}'s)`,
    );
  return null;
}

/**
 * The basis's epoch (the seed its draws are recomputed with): a whole number from 1; given the
 * bundle's epochs, the one its `at` falls in and not after the bundle's. Null when it holds.
 */
function checkBasisEpoch(
  name: string,
  b: ReviewCheckBasis,
  epochs: DrawEpochs | undefined,
): FactDispute | null {
  const e = b.epoch;
  if (!Number.isSafeInteger(e) || (e as number) < 1)
    return bad(`${name}.basis.epoch`, e, 'the epoch of the draw (a whole number from 1)');
  if (!epochs) return null;
  const drawn = epochOfTime(epochs, b.at);
  if (e !== drawn || (e as number) > epochs.epoch)
    return bad(
      `${name}.basis.epoch`,
      e,
      `${drawn} (the epoch ${b.at} falls in), at most the bundle's ${epochs.epoch}`,
    );
  return null;
}

/** One lower provider's reason, where the basis or the replay decides it. */
function checkReason(
  at: string,
  p: string,
  l: LowerCandidate,
  b: ReviewCheckBasis,
  replay: ReputationReplay | undefined,
): FactDispute | null {
  if (l.skip === 'party' && !b.parties.some((q) => q.toLowerCase() === p))
    return bad(`${at}.skip`, 'party', `not a party (${b.parties.join(', ')})`);
  if (l.skip === 'kin') {
    const standing = independenceOf(p, b);
    if (standing !== 'kin') return bad(`${at}.skip`, 'kin', `${standing} by the recorded identities`);
  }
  if (l.skip === 'untrusted' && replay?.complete) {
    const states = replay.candidates(p, b.at);
    if (states.length > 0 && states.every((s) => isTrusted(s)))
      return bad(`${at}.skip`, 'untrusted', `${p} trusted at ${b.at}`);
  }
  return null;
}
