/**
 * A validator's re-derivation of the long-record rule for canary misses (evidence version 9,
 * migration 0058; docs/validators.md "Canary holds"). A miss by a provider whose record
 * (`consecutiveValid`) was at least CANARY_REVIEW_MIN_RECORD is held for a review instead of
 * faulted, unless the canary's record-miss review already confirmed the answer; any miss of a
 * canary under an open review (or a poisoned one) is held too (work/canaries.ts). Each miss carries
 * what decided it (`CanaryFact.hold`); a validator checks the decision follows from it, that the
 * status agrees (a miss not held is `failed`; a `review` was held), and — with a complete journal
 * replay — that the record is the provider's as replayed at the miss. Pure.
 */
import type { EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { CANARY_REVIEW_MIN_RECORD } from '../coordinator/verification/constants.ts';
import type { FactDispute } from './checkFacts.ts';
import type { ReputationReplay } from './reputationReplay.ts';

/**
 * Checks every canary miss this bundle reports; null when each hold decision holds.
 *
 * @example
 * const wrong = checkCanaryHolds(bundle.facts, replay);
 */
export function checkCanaryHolds(facts: EpochFacts, replay?: ReputationReplay): FactDispute | null {
  for (const c of facts.canaries ?? []) {
    if (c.draw === null || c.status === 'passed') continue; // a review's own check: not drawn
    const name = `canary[${c.leaseId}].hold`;
    const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
      fact,
      claimed: String(claimed),
      recomputed: String(recomputed),
    });
    const h = c.hold;
    if (!h) return bad(name, 'none', 'the record and review state the miss was decided by');
    const held =
      h.review === 'open' ||
      h.review === 'poisoned' ||
      ((h.review === null || h.review === undefined) && h.record >= CANARY_REVIEW_MIN_RECORD);
    if (h.held !== held)
      return bad(
        name,
        h.held ? 'held for review' : 'faulted',
        `${held ? 'held for review' : 'faulted'}: record ${h.record} (held from ${CANARY_REVIEW_MIN_RECORD}), review ${h.review ?? 'none'}`,
      );
    if (c.status === 'review' && !h.held) return bad(`${name}.status`, c.status, 'failed: not held');
    if (replay?.complete) {
      const records = replay.candidates(c.provider, h.at).map((s) => s.consecutiveValid);
      if (!records.includes(h.record))
        return bad(
          `${name}.record`,
          h.record,
          `the provider's record at the miss: ${[...new Set(records)].join(' or ')}`,
        );
    }
  }
  return null;
}
