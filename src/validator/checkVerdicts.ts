/**
 * Verdicts re-derived from the outputs (docs/validators.md, "Verdicts"). Signatures prove who
 * said what; they do not prove the coordinator compared the outputs honestly. So a validator
 * fetches the outputs a verdict rests on (validator-signed reads) and re-runs the comparison with
 * the coordinator's own tolerance code (`compareTensorSets`):
 *
 * - every `outvoted` slash: the slashed provider's output and a winner's output must really
 *   disagree (and match the digests the evidence records) — an honest provider slashed by a
 *   coordinator that called agreeing outputs different is caught here;
 * - every inference task the epoch pays more than once (redundancy, audits): the paid outputs must
 *   agree — a client billed for executions the coordinator accepted although they differ is caught.
 *
 * - every `malformed` slash (a training update): the provider's signed output really lacks a weight
 *   tensor of the round weights the evidence names, or has another dtype or shape;
 * - every canary reported: `passed` exactly when the provider's output matches the known answer —
 *   a coordinator that accepts a wrong canary answer (or fails a right one) is caught here.
 *
 * - every reinstatement's review (version 7): the check overturns the known answer and agrees with
 *   the first check and the reinstated provider (checkReinstatements.ts);
 * - every result on a task the epoch pays that is neither paid nor slashed (version 7): it agrees
 *   with the paid output, else it was outvoted and its fault is missing (checkUnpaidResults.ts).
 *
 * Outputs with the same content id are the same bytes and are not downloaded twice.
 */
import type { EndedLease, EpochFacts, SignedStatement } from '../coordinator/settlement/epochFacts.ts';
import { compareTensorSets } from '../coordinator/verification/compareTensors.ts';
import { decodeSafetensors } from '../protocol/safetensors.ts';
import { type TensorSet, tensorSetDigest } from '../protocol/tensorSet.ts';
import { checkTrainUpdate, layoutOf } from '../protocol/trainUpdate.ts';
import { checkCompensationVerdicts } from './checkCompensations.ts';
import type { FactDispute } from './checkFacts.ts';
import { checkReinstatementVerdicts } from './checkReinstatements.ts';
import { checkUnpaidVerdicts, unpaidResults } from './checkUnpaidResults.ts';
import { BlobRefused } from './recheck.ts';

/**
 * Re-derives the epoch's verdicts from their outputs; the first that does not hold, or null.
 * `read` downloads a blob by content id: a {@link BlobRefused} it throws is a dispute, any other error
 * is thrown on (the epoch is checked again later).
 *
 * @example
 * const dispute = await checkVerdicts(v.facts, (cid) => readBlobAs(url, account, chainId, cid));
 */
export async function checkVerdicts(
  facts: Pick<EpochFacts, 'jobs' | 'charges' | 'slashes' | 'canaries'> &
    Partial<Pick<EpochFacts, 'entries' | 'reputation' | 'endedLeases'>>,
  read: (cid: string) => Promise<Uint8Array>,
  /** The unpaid results to compare (verifyEpoch's verdict `unpaid`: with the lease ledger's); default: this bundle's. */
  unpaid: readonly EndedLease[] = unpaidResults(facts),
): Promise<FactDispute | null> {
  const cache = new Map<string, TensorSet>();
  /** The output's tensors, or a dispute naming `fact` when it cannot be read or decoded. */
  async function output(cid: string, fact: string): Promise<TensorSet | FactDispute> {
    const hit = cache.get(cid);
    if (hit) return hit;
    let bytes: Uint8Array;
    try {
      bytes = await read(cid);
    } catch (err) {
      if (!(err instanceof BlobRefused)) throw err; // unreachable now: decide at the next poll
      return {
        fact: `${fact}.blob`,
        claimed: err instanceof Error ? err.message : String(err),
        recomputed: 'served',
      };
    }
    try {
      const tensors = decodeSafetensors(bytes);
      cache.set(cid, tensors);
      return tensors;
    } catch {
      return { fact: `${fact}.output`, claimed: cid, recomputed: 'a safetensors output' };
    }
  }
  const isDispute = (x: TensorSet | FactDispute): x is FactDispute =>
    typeof (x as FactDispute).fact === 'string' && typeof (x as FactDispute).recomputed === 'string';

  for (const s of facts.slashes) {
    if (s.kind !== 'outvoted') continue;
    const name = `slash[${s.id}]`;
    const evidence = (s.evidence ?? {}) as { faultyDigest?: string; acceptedDigest?: string };
    const results = (list: readonly SignedStatement[] | undefined) =>
      (list ?? []).filter(
        (x): x is Extract<SignedStatement, { type: 'TaskResult' }> =>
          x.type === 'TaskResult' && x.taskId.toLowerCase() === s.taskId.toLowerCase(),
      );
    const faultyResult = results(s.signed).at(-1);
    const winnerResult = results(s.accepted)[0];
    if (!faultyResult || !winnerResult)
      return { fact: `${name}.verdict`, claimed: 'outvoted', recomputed: 'two signed results to compare' };
    const faulty = await output(faultyResult.outputCid, name);
    if (isDispute(faulty)) return faulty;
    const winner = await output(winnerResult.outputCid, name);
    if (isDispute(winner)) return winner;
    if (evidence.faultyDigest && tensorSetDigest(faulty) !== evidence.faultyDigest)
      return {
        fact: `${name}.faultyDigest`,
        claimed: evidence.faultyDigest,
        recomputed: tensorSetDigest(faulty),
      };
    if (evidence.acceptedDigest && tensorSetDigest(winner) !== evidence.acceptedDigest)
      return {
        fact: `${name}.acceptedDigest`,
        claimed: evidence.acceptedDigest,
        recomputed: tensorSetDigest(winner),
      };
    if (compareTensorSets(faulty, winner).ok)
      return {
        fact: `${name}.verdict`,
        claimed: 'outvoted',
        recomputed: `the outputs ${faultyResult.outputCid} and ${winnerResult.outputCid} agree within tolerance`,
      };
  }

  // Malformed training updates: the signed output really lacks the layout of the round's weights
  // the evidence names (the pure check the coordinator ran, protocol/trainUpdate.ts).
  for (const s of facts.slashes) {
    if (s.kind !== 'malformed') continue;
    const name = `slash[${s.id}]`;
    const evidence = (s.evidence ?? {}) as { faultyDigest?: string; update?: { weights?: unknown } };
    const weightsCid = evidence.update?.weights;
    const signed = (s.signed ?? []).filter(
      (x): x is Extract<SignedStatement, { type: 'TaskResult' }> =>
        x.type === 'TaskResult' && x.taskId.toLowerCase() === s.taskId.toLowerCase(),
    );
    if (typeof weightsCid !== 'string' || !evidence.faultyDigest || signed.length === 0)
      return {
        fact: `${name}.evidence`,
        claimed: 'malformed',
        recomputed: 'a signed result and the round weights',
      };
    let faulty: TensorSet | undefined;
    for (const x of signed) {
      const got = await output(x.outputCid, name);
      if (isDispute(got)) return got;
      if (tensorSetDigest(got) === evidence.faultyDigest) faulty = got;
    }
    if (!faulty)
      return {
        fact: `${name}.faultyDigest`,
        claimed: evidence.faultyDigest,
        recomputed: 'no signed result with it',
      };
    const weights = await output(weightsCid, name);
    if (isDispute(weights)) return weights;
    const found = checkTrainUpdate(faulty, layoutOf(weights));
    if (found?.kind !== 'malformed')
      return {
        fact: `${name}.verdict`,
        claimed: 'malformed',
        recomputed: found ? `${found.kind} (not a fault)` : "the update has the round weights' layout",
      };
  }

  // Canaries: the output passed exactly when it matches the known answer (the coordinator's
  // canary check: same digest, else the tolerance comparison).
  for (const c of facts.canaries ?? []) {
    const name = `canary[${c.leaseId}]`;
    const expected = await output(c.expectedCid, name);
    if (isDispute(expected)) return expected;
    if (tensorSetDigest(expected) !== c.expectedDigest)
      return {
        fact: `${name}.expectedDigest`,
        claimed: c.expectedDigest,
        recomputed: tensorSetDigest(expected),
      };
    const got = await output(c.result.outputCid, name);
    if (isDispute(got)) return got;
    const same = tensorSetDigest(got) === c.expectedDigest || compareTensorSets(got, expected).ok;
    if (same !== (c.status === 'passed'))
      return {
        fact: `${name}.verdict`,
        claimed: c.status,
        recomputed: same
          ? 'passed: the output matches the known answer'
          : 'failed: the output differs from the known answer',
      };
  }

  const inference = new Set(
    facts.jobs
      .filter((j) => (j.spec as { kind?: unknown } | null)?.kind === 'onnx.infer')
      .map((j) => j.jobId),
  );
  const paid = new Map<string, string[]>();
  for (const c of facts.charges) {
    if (!inference.has(c.jobId)) continue;
    const cids = paid.get(c.taskId) ?? [];
    if (!cids.includes(c.result.outputCid)) cids.push(c.result.outputCid);
    paid.set(c.taskId, cids);
  }
  for (const [taskId, cids] of paid) {
    if (cids.length < 2) continue;
    const name = `verdict[${taskId}]`;
    const first = await output(cids[0]!, name);
    if (isDispute(first)) return first;
    for (const cid of cids.slice(1)) {
      const other = await output(cid, name);
      if (isDispute(other)) return other;
      const cmp = compareTensorSets(other, first);
      if (!cmp.ok)
        return {
          fact: `${name}.agreement`,
          claimed: `paid outputs ${cids[0]} and ${cid} agree`,
          recomputed: cmp.reasons.slice(0, 3).join('; '),
        };
    }
  }
  // Compensations: the trusted check really overturned the answer (checkCompensations.ts).
  const compensations = await checkCompensationVerdicts(facts.entries ?? [], output);
  if (compensations) return compensations;
  // Reinstatements: the review really overturned the fault (checkReinstatements.ts).
  const reinstated = await checkReinstatementVerdicts(facts.reputation ?? [], output);
  if (reinstated) return reinstated;
  // Results neither paid nor slashed: they agree with the paid output (checkUnpaidResults.ts).
  return checkUnpaidVerdicts(unpaid, facts, output);
}
