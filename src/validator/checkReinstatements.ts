/**
 * A validator's check of reinstatements (docs/validators.md "Reinstatements"): a `reinstate`
 * journal entry reverses a fault (its slash withdrawn or owed back, the provider's record restored,
 * and the fault needs no slash any more: checkAuditRates.ts `faultWithoutSlash`), so from evidence
 * version 7 on it carries the review that overturned the fault (work/canaryReviews.ts): the known
 * answer overturned, the two independent trusted checks and the reinstated provider's own result,
 * each signed by its provider.
 *
 * - `checkReinstatementFacts` (facts): the review is there, its three results are signed by three
 *   distinct providers (the checkers are neither the reinstated provider nor each other);
 * - `checkReinstatementVerdicts` (outputs): the check's output differs from the overturned known
 *   answer and agrees with the first check's and with the reinstated provider's output, with the
 *   coordinator's own tolerance code (`compareTensorSets`; two render frames by the render rule,
 *   verification/outputsAgree.ts).
 *
 * A coordinator that invents a reinstatement for an ally (to spare it its slash, or restore its
 * record) has no two checks signed by other providers that overturn the fault: the entry is named.
 */
import type { ReputationEntry, SignedResult } from '../coordinator/settlement/epochFacts.ts';
import { outputsAgree } from '../coordinator/verification/outputsAgree.ts';
import type { LeaseBinding } from '../protocol/taskRef.ts';
import type { TensorSet } from '../protocol/tensorSet.ts';
import { signedBy } from './checkCompensations.ts';
import type { FactDispute } from './checkFacts.ts';

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

const isResult = (r: unknown): r is SignedResult => {
  const x = r as Partial<SignedResult> | null;
  return (
    typeof x?.assignmentId === 'string' &&
    typeof x.taskId === 'string' &&
    typeof x.outputCid === 'string' &&
    typeof x.issuedAt === 'number' &&
    typeof x.signature === 'string' &&
    typeof x.usage === 'object' &&
    x.usage !== null
  );
};

/**
 * Checks every reinstatement's review in `entries` (the bundle's journal); `required`: the bundle
 * is version 7 or later (older ones carry none: accepted as before). Null when all hold.
 *
 * @example
 * const dispute = await checkReinstatementFacts(bundle.facts.reputation ?? [], chainId, bundle.version >= 7);
 */
export async function checkReinstatementFacts(
  entries: readonly ReputationEntry[],
  chainId: number,
  required: boolean,
  /** Version 11: each result's lease bound to its task (protocol/taskRef.ts `bindingsOf`). */
  bind?: (provider: string, issuedAtSec: number) => LeaseBinding,
): Promise<FactDispute | null> {
  for (const [i, e] of entries.entries()) {
    if (e.kind !== 'reinstate') continue;
    const name = `reputation[${i}].review`;
    const r = e.review;
    if (!r) {
      if (!required) continue;
      return bad(
        name,
        `a reinstatement of ${e.provider} with no review`,
        'the signed checks that overturned its fault',
      );
    }
    if (
      typeof r.expectedCid !== 'string' ||
      !isResult(r.check?.result) ||
      !isResult(r.firstCheck?.result) ||
      !isResult(r.wronged) ||
      typeof r.check.provider !== 'string' ||
      typeof r.firstCheck.provider !== 'string'
    )
      return bad(
        name,
        'a malformed review',
        'the known answer, two signed checks and the provider’s signed result',
      );
    const who = e.provider.toLowerCase();
    const checker = r.check.provider.toLowerCase();
    const first = r.firstCheck.provider.toLowerCase();
    if (checker === who || first === who || checker === first)
      return bad(
        `${name}.checks`,
        `${first}, ${checker} for ${who}`,
        'two checkers, neither the reinstated provider',
      );
    for (const [part, signer, result] of [
      ['check', checker, r.check.result],
      ['firstCheck', first, r.firstCheck.result],
      ['wronged', who, r.wronged],
    ] as const) {
      const err = await signedBy(chainId, signer, result, bind);
      if (err) return bad(`${name}.${part}.signature`, err, `signed by ${signer}`);
    }
  }
  return null;
}

/**
 * Re-derives each reinstatement's overturn from the outputs; the first that does not hold, or
 * null. `output` reads and decodes a blob (or returns the dispute of a blob refused), as in
 * checkVerdicts.ts. Entries with no review (before version 7) are skipped.
 *
 * @example
 * const dispute = await checkReinstatementVerdicts(facts.reputation ?? [], output);
 */
export async function checkReinstatementVerdicts(
  entries: readonly ReputationEntry[],
  output: (cid: string, fact: string) => Promise<TensorSet | FactDispute>,
): Promise<FactDispute | null> {
  const isDispute = (x: TensorSet | FactDispute): x is FactDispute =>
    typeof (x as FactDispute).fact === 'string' && typeof (x as FactDispute).recomputed === 'string';
  for (const [i, e] of entries.entries()) {
    const r = e.kind === 'reinstate' ? e.review : undefined;
    if (!r) continue;
    const name = `reputation[${i}].review`;
    const check = await output(r.check.result.outputCid, name);
    if (isDispute(check)) return check;
    /** Whether `cid`'s output agrees with the check's within tolerance (or the blob's dispute). */
    const agrees = async (cid: string) => {
      if (cid === r.check.result.outputCid) return true;
      const other = await output(cid, name);
      // A render frame's review judges by the render rule (verification/outputsAgree.ts).
      return isDispute(other) ? other : outputsAgree(other, check);
    };
    const expected = await agrees(r.expectedCid);
    if (typeof expected !== 'boolean') return expected;
    if (expected)
      return bad(`${name}.check`, 'overturned', 'the check agrees with the known answer: the fault stands');
    for (const [part, cid] of [
      ['firstCheck', r.firstCheck.result.outputCid],
      ['wronged', r.wronged.outputCid],
    ] as const) {
      const same = await agrees(cid);
      if (typeof same !== 'boolean') return same;
      if (!same)
        return bad(
          `${name}.${part}`,
          'agrees with the check',
          `the outputs ${cid} and ${r.check.result.outputCid} differ`,
        );
    }
  }
  return null;
}
