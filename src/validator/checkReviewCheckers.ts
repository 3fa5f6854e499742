/**
 * A validator's check that a canary review's checkers were trusted and independent when drawn
 * (evidence version 10, migration 0070; docs/validators.md "Review checkers"). Every check a
 * `compensation` memo or a reinstatement's review cites carries what its draw decided on
 * (`ReviewCheckBasis`): its time, the review's parties and the identities the coordinator knew. A
 * validator re-derives:
 *
 * - `.basis`: present (version 10) and well-formed;
 * - `.basis.at`: the lease was drawn before its result came (the result's signed `issuedAt`, within
 *   the message skew) and at most a review's lifetime before it (`CANARY_REVIEW_DEADLINE_MS`);
 * - `.basis.parties`: the parties include everyone the memo names as judged by the check — the
 *   wronged or reinstated provider, each wrong answer's provider, and, for the deciding check, the
 *   first checker — and the checker is none of them;
 * - `.basis.independence`: `independenceOf` (work/checkerIndependence.ts, the coordinator's own
 *   rule over the recorded identities) is `clear`: no shared network prefix or funder;
 * - `.basis.trusted` (with a complete journal replay): the checker was trusted (`isTrusted`) in a
 *   state it had at the draw (the replay's candidates within the staleness window, as for draw
 *   rates);
 * - `.basis.lower` (version 12, checkCheckerDraw.ts): the checker is the one the seeded draw picks
 *   among the providers online drawn lower (their draws recomputed once the seed is revealed).
 *
 * Pure.
 */
import type {
  CompensationMemo,
  ReviewCheckBasis,
  SignedResult,
} from '../coordinator/settlement/epochFacts.ts';
import { CANARY_REVIEW_DEADLINE_MS } from '../coordinator/verification/constants.ts';
import { isTrusted } from '../coordinator/verification/reputation.ts';
import { independenceOf } from '../coordinator/work/checkerIndependence.ts';
import { MAX_MESSAGE_SKEW_SEC } from '../protocol/constants.ts';
import { checkCheckerDraw, type DrawEpochs } from './checkCheckerDraw.ts';
import type { FactDispute } from './checkFacts.ts';
import type { ReputationReplay } from './reputationReplay.ts';

type Check = { provider: string; result: SignedResult; basis?: ReviewCheckBasis };

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

const wellFormed = (b: ReviewCheckBasis): boolean =>
  typeof b === 'object' &&
  b !== null &&
  Number.isSafeInteger(b.at) &&
  Array.isArray(b.parties) &&
  b.parties.every((p) => typeof p === 'string') &&
  Array.isArray(b.hubs) &&
  typeof b.identities === 'object' &&
  b.identities !== null &&
  Object.values(b.identities).every(
    (id) =>
      (id.prefix === null || typeof id.prefix === 'string') &&
      Array.isArray(id.funders) &&
      id.funders.every((f) => typeof f === 'string'),
  );

/**
 * One check against its basis; `judged`: the providers the check judged (must be parties).
 */
function checkOne(
  name: string,
  c: Check,
  judged: readonly string[],
  required: boolean,
  replay: ReputationReplay | undefined,
  legacyBefore: number,
  drawsFrom: number,
  epochs: DrawEpochs | undefined,
): FactDispute | null {
  const b = c.basis;
  if (!b)
    return required && c.result.issuedAt * 1000 >= legacyBefore
      ? bad(`${name}.basis`, 'none', 'what the checker was drawn on')
      : null;
  if (!wellFormed(b)) return bad(`${name}.basis`, JSON.stringify(b), 'a review check basis');
  const resultAt = c.result.issuedAt * 1000;
  const skew = MAX_MESSAGE_SKEW_SEC * 1000;
  if (b.at > resultAt + skew || b.at < resultAt - skew - CANARY_REVIEW_DEADLINE_MS)
    return bad(
      `${name}.basis.at`,
      b.at,
      `a draw before the check's result (signed at ${resultAt}) and within a review's lifetime of it`,
    );
  const parties = new Set(b.parties.map((p) => p.toLowerCase()));
  const checker = c.provider.toLowerCase();
  for (const p of judged) {
    const q = p.toLowerCase();
    if (q === checker)
      return bad(`${name}.basis.parties`, `the checker ${checker} judged itself`, 'another provider');
    if (!parties.has(q)) return bad(`${name}.basis.parties`, b.parties.join(','), `parties including ${q}`);
  }
  const standing = independenceOf(checker, b);
  if (standing !== 'clear')
    return bad(`${name}.basis.independence`, standing, `a checker clear of ${b.parties.join(', ')}`);
  if (replay?.complete && !replay.candidates(checker, b.at).some((s) => isTrusted(s)))
    return bad(`${name}.basis.trusted`, `${checker} untrusted at ${b.at}`, 'a checker trusted when drawn');
  return checkCheckerDraw(
    name,
    checker,
    b,
    resultAt >= drawsFrom,
    replay?.complete ? replay : undefined,
    epochs,
  );
}

/**
 * Checks the checkers of every compensation and reinstatement in the facts; null when they hold.
 * `replay` (complete, with this bundle's journal applied) also re-derives their trust; `required`
 * (version 10 on) refuses a check without its basis, unless its result was signed before
 * `legacyBefore` (the close of the first version-10 bundle the validator applied: a check drawn
 * before the coordinator kept bases). `drawsFrom` (version 12 on: the close of the first
 * version-12 bundle applied) refuses a basis without its draw record (`lower`) for a check whose
 * result was signed from then on; one that has it is always checked. `epochs` (the bundle's epoch,
 * its times and known providers) checks each draw's epoch and bounds its lower ones (checkCheckerDraw.ts).
 *
 * @example
 * const wrong = checkReviewCheckers(bundle.facts, replay, bundle.version >= 10);
 */
export function checkReviewCheckers(
  facts: {
    entries: readonly { kind: string; ref: string; memo?: unknown }[];
    reputation?: readonly {
      provider: string;
      kind: string;
      review?: { check: Check; firstCheck: Check; wronged: SignedResult };
    }[];
  },
  replay: ReputationReplay | undefined,
  required: boolean,
  legacyBefore = Number.NEGATIVE_INFINITY,
  drawsFrom = Number.POSITIVE_INFINITY,
  epochs?: DrawEpochs,
): FactDispute | null {
  const one = (name: string, c: Check, judged: readonly string[]) =>
    checkOne(name, c, judged, required, replay, legacyBefore, drawsFrom, epochs);
  for (const e of facts.entries) {
    if (e.kind !== 'compensation' || !e.memo) continue;
    const m = e.memo as CompensationMemo;
    if (!m.check) continue;
    const name = `compensation[${e.ref}]`;
    // Whom the check judged: the wronged provider (not a checker's own pay) and the wrong answers.
    const judged = [
      ...(m.part !== 'check' && m.provider ? [m.provider] : []),
      ...(m.wrong ?? []).map((w) => w.provider),
    ];
    const first = m.firstCheck;
    const decided = one(`${name}.check`, m.check, first ? [...judged, first.provider] : judged);
    if (decided) return decided;
    if (first) {
      const d = one(`${name}.firstCheck`, first, judged);
      if (d) return d;
    }
  }
  for (const [i, r] of (facts.reputation ?? []).entries()) {
    if (r.kind !== 'reinstate' || !r.review) continue;
    const name = `reputation[${i}].review`;
    const d =
      one(`${name}.check`, r.review.check, [r.provider, r.review.firstCheck.provider]) ??
      one(`${name}.firstCheck`, r.review.firstCheck, [r.provider]);
    if (d) return d;
  }
  return null;
}
