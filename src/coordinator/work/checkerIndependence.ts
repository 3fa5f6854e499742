/**
 * Whether a review's checker is independent of the review's parties, from what its draw recorded
 * (`ReviewCheckBasis`, settlement/epochFacts.ts): the same rule as kinship.ts `checkerKinship`, over
 * the identities the coordinator knew at the draw rather than its live state, so a validator
 * re-derives it (docs/validators.md "Review checkers"). Pure; shared by the coordinator (which
 * records the basis it decided on) and the validator.
 *
 * - the checker is one of the parties: `kin`;
 * - an identity missing from the basis: `unknown` (the coordinator fails closed on it);
 * - **network kin**: the same non-null network prefix;
 * - **funder kin**: one is on the other's funding chain, or both chains share a funder that is not
 *   a hub (a funder of more than MAX_FUNDED_FAMILY registered providers, listed in `hubs`).
 */
import type { ReviewCheckBasis } from '../settlement/epochFacts.ts';

/**
 * The checker's standing against the basis's parties.
 *
 * @example
 * if (independenceOf(checker, basis) !== 'clear') refuse();
 */
export function independenceOf(checker: string, basis: ReviewCheckBasis): 'kin' | 'unknown' | 'clear' {
  const c = checker.toLowerCase();
  const ids = new Map(Object.entries(basis.identities).map(([a, id]) => [a.toLowerCase(), id]));
  const me = ids.get(c);
  if (!me) return 'unknown';
  const hubs = new Set(basis.hubs.map((h) => h.toLowerCase()));
  const mine = me.funders.map((f) => f.toLowerCase());
  for (const p of basis.parties) {
    const b = p.toLowerCase();
    if (b === c) return 'kin';
    const other = ids.get(b);
    if (!other) return 'unknown';
    if (me.prefix !== null && me.prefix === other.prefix) return 'kin';
    const theirs = other.funders.map((f) => f.toLowerCase());
    if (mine.includes(b) || theirs.includes(c)) return 'kin';
    if (mine.some((f) => !hubs.has(f) && theirs.includes(f))) return 'kin';
  }
  return 'clear';
}
