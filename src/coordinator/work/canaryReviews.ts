/**
 * Canary reviews (docs/verification.md "Canary reviews"): a known answer is only as good as the
 * verdict it was seeded from. A canary is re-verified by an independently drawn trusted provider
 * when a provider with a long good record misses it (instead of faulting that provider at once),
 * or when a provider that agreed on its source verdict is later proven faulty. Until the check
 * comes back the canary judges nobody. If the trusted check matches the known answer the canary
 * stands (and a held miss becomes the fault it was); if not, the canary was poisoned: it never
 * comes back, and every provider it faulted whose output the trusted check agrees with is made
 * whole: its pending slash is withdrawn (an applied one is paid back through the ledger,
 * reviewCompensations.ts), its reputation gets
 * the fault's weight and its earlier run of valid results back. The same holds for the providers
 * the canary's source verdict outvoted (verdictReviews.ts): a poisoned answer was a wrong verdict,
 * and every outvoted provider whose output the trusted check agrees with is made whole too.
 */
import type { Selectable, Transaction } from 'kysely';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { appendShadowCompletion } from '../jobs/shadowOutcomes.ts';
import type { ReinstateReview, ReviewCheckBasis } from '../settlement/epochFacts.ts';
import { lockSlashCursor } from '../settlement/slashCursor.ts';
import type { Database } from '../store/schema.ts';
import { outputsAgree } from '../verification/outputsAgree.ts';
import { parseReputation, reinstateReputation } from '../verification/reputation.ts';
import { canaryMisses, heldMisses } from './canaryReviewQueries.ts';
import { oweCheckerPay } from './checkerPay.ts';
import { currentReputation, journalReputation, recordFault, recordOutcome } from './faults.ts';
import { rollPublicReputation } from './publicReputation.ts';
import { revokeOverturnedOutput } from './recheckCaught.ts';
import { checkBasisOf, drawnReview } from './reviewCheckers.ts';
import { oweForOverturn, type SignedResult, signedExecution } from './reviewCompensations.ts';
import { wronglyOutvoted } from './verdictReviews.ts';
import type { WorkDeps, WorkState } from './workState.ts';

type Review = Selectable<Database['canary_reviews']>;

/**
 * An open review this trusted provider was drawn to check (reviewCheckers.ts: a seeded draw among
 * eligible trusted providers, independent of everyone the review is about, fail-closed on unknown
 * identities), or undefined.
 *
 * @example
 * const review = await reviewToCheck(state, deps, provider);
 */
export function reviewToCheck(s: WorkState, d: WorkDeps, provider: string) {
  return drawnReview(s, d, provider);
}

/**
 * The trusted check of a review came back (`passed`: it matches the canary's known answer).
 * Resolves the review in one transaction; see the module header for what each outcome does.
 *
 * @example
 * await settleReviewCheck(state, deps, { review, checker, leaseId, outputCid, passed, tensors });
 */
export async function settleReviewCheck(
  s: WorkState,
  d: WorkDeps,
  c: {
    review: Review;
    checker: string;
    leaseId: string;
    outputCid: string;
    passed: boolean;
    tensors: TensorSet;
    /** The checker's signed result (the evidence of what the check pays, reviewCompensations.ts). */
    signed?: { taskId: string; usage: unknown; issuedAt: number; signature: string };
  },
): Promise<void> {
  const { review } = c;
  const t = d.now();
  const canary = await d.db
    .selectFrom('canary_tasks')
    .selectAll()
    .where('id', '=', review.canary_id)
    .executeTakeFirstOrThrow();
  // "Poisoned" reverses faults and moves money: it needs two independent checks that agree with
  // each other and differ from the known answer. A first such check is kept and the review waits
  // for a second checker (independent of the first, reviewCheckers.ts); a second that differs from
  // the first replaces it as the one to agree with.
  const first = c.passed ? undefined : await firstCheck(d, review);
  if (!c.passed && !(first && outputsAgree(first.tensors, c.tensors))) {
    await d.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('canary_assignments')
        .set({
          status: 'voided',
          output_cid: c.outputCid,
          finished_at: t,
          ...(c.signed
            ? {
                result: JSON.stringify({
                  usage: c.signed.usage,
                  issuedAt: c.signed.issuedAt,
                  signature: c.signed.signature,
                }),
              }
            : {}),
        })
        .where('id', '=', c.leaseId)
        .where('status', '=', 'leased')
        .executeTakeFirst();
      if (done.numUpdatedRows === 0n) return;
      await appendShadowCompletion(trx, d.events, c.leaseId);
      await trx
        .updateTable('canary_reviews')
        .set({
          first_check_lease_id: c.leaseId,
          first_checked_by: c.checker.toLowerCase(),
          check_lease_id: null,
        })
        .where('id', '=', review.id)
        .where('status', '=', 'open')
        .execute();
      // No network event: the checker reading the stream right after its answer would learn its
      // lease was a review check (shadowOutcomes.ts); the review's row is the record.
    });
    return;
  }
  // Poisoned: whose misses does the trusted check agree with? (blob reads before the transaction)
  const agreeing = new Set<string>();
  const misses = c.passed ? [] : await canaryMisses(d.db, review.canary_id);
  // Every held miss of the canary: the one that opened a record-miss review and any that joined it.
  const helds = await heldMisses(d.db, review.canary_id);
  // The source verdict's outvoted providers the check agrees with (a wrong verdict's victims).
  const outvoted = c.passed ? [] : await wronglyOutvoted(d, canary.source_task_id, c.tensors);
  if (!c.passed) {
    for (const m of [...misses, ...helds]) {
      if (!m.output_cid) continue;
      const theirs = decodeSafetensors(await d.blobs.read(m.output_cid));
      if (outputsAgree(theirs, c.tensors)) agreeing.add(m.id);
    }
  }
  await d.db.transaction().execute(async (trx) => {
    const done = await trx
      .updateTable('canary_assignments')
      .set({ status: c.passed ? 'passed' : 'voided', output_cid: c.outputCid, finished_at: t })
      .where('id', '=', c.leaseId)
      .where('status', '=', 'leased')
      .executeTakeFirst();
    if (done.numUpdatedRows === 0n) return;
    await trx
      .updateTable('canary_reviews')
      .set({ status: c.passed ? 'confirmed' : 'poisoned', checked_by: c.checker, resolved_at: t })
      .where('id', '=', review.id)
      .execute();
    // No `canary.reviewed` network event (it moved right after the checker's answer, a tell:
    // shadowOutcomes.ts); the review's row keeps outcome, checkers and who was reinstated.
    await appendShadowCompletion(trx, d.events, c.leaseId);
    // The check's signed result (what its pay cites: checkerPay.ts).
    const checkResult = c.signed
      ? { assignmentId: c.leaseId, outputCid: c.outputCid, ...c.signed }
      : undefined;
    // What each checker was drawn on (migration 0070): carried with each check it is cited by.
    const basis = await checkBasisOf(trx, c.leaseId);
    const firstBasis = first ? await checkBasisOf(trx, first.leaseId) : undefined;
    const withBasis = <T extends object>(x: T, b: ReviewCheckBasis | undefined) =>
      b ? { ...x, basis: b } : x;
    const source = await trx
      .selectFrom('task_verifications')
      .select('job_id')
      .where('task_id', '=', canary.source_task_id)
      .where('status', '=', 'accepted')
      .executeTakeFirst();
    const sourceTask = source ? { jobId: source.job_id, taskId: canary.source_task_id } : undefined;
    if (c.passed) {
      // The known answer stands: the checker passed a canary, a held miss is the fault it was.
      await recordOutcome(s, d, trx, c.checker, 'valid');
      if (canary.issued < s.canaryMaxIssues) {
        await trx.updateTable('canary_tasks').set({ retired: 0 }).where('id', '=', canary.id).execute();
      }
      for (const held of helds) {
        await trx
          .updateTable('canary_assignments')
          .set({
            status: 'failed',
            rep_before: JSON.stringify(await currentReputation(s, d, trx, held.provider)),
          })
          .where('id', '=', held.id)
          .execute();
        await recordFault(s, d, trx, {
          provider: held.provider,
          taskId: held.task_id,
          jobId: null,
          kind: 'canary',
          evidence: {
            ...heldEvidence(review, held, canary.expected_digest),
            review: { id: review.id, checkedBy: c.checker, checkLeaseId: c.leaseId },
          },
        });
      }
      // The check is paid (checkerPay.ts): a source-faulted review's from the faulty vouchers'
      // seized stake, a record-miss review's from the missers' it just faulted.
      await oweCheckerPay(d, trx, {
        review,
        source: sourceTask,
        expectedCid: canary.expected_cid,
        checks: [withBasis({ provider: c.checker, result: checkResult }, basis)],
        ...(review.reason === 'record-miss'
          ? { confirmedMisses: helds.map((h) => ({ provider: h.provider, result: leaseResult(h) })) }
          : {}),
      });
      return;
    }
    // Poisoned: the canary stays retired; every miss the trusted check agrees with is made whole.
    for (const held of helds) {
      await trx
        .updateTable('canary_assignments')
        .set({ status: 'voided' })
        .where('id', '=', held.id)
        .execute();
      if (agreeing.has(held.id)) await recordOutcome(s, d, trx, held.provider, 'valid');
    }
    const why = {
      canary: review.canary_id,
      review: review.id,
      checkedBy: c.checker,
      checkLeaseId: c.leaseId,
      ...(first ? { firstCheckedBy: first.provider, firstCheckLeaseId: first.leaseId } : {}),
    };
    const reversed: Parameters<typeof oweForOverturn>[2]['reversed'] = [];
    // What each reinstatement carries for validators (evidence version 7): the two signed checks
    // (`checkResult` above), the overturned answer and the reinstated provider's own signed result.
    const reviewOf = (wronged: SignedResult | undefined): ReinstateReview | undefined =>
      checkResult && first?.result && wronged
        ? {
            expectedCid: canary.expected_cid,
            check: withBasis({ provider: c.checker.toLowerCase(), result: checkResult }, basis),
            firstCheck: withBasis(
              { provider: first.provider.toLowerCase(), result: first.result },
              firstBasis,
            ),
            wronged,
          }
        : undefined;
    for (const m of misses) {
      if (!agreeing.has(m.id)) continue;
      const result = leaseResult(m);
      const r = await reverseCanaryFault(s, d, trx, m, why, reviewOf(result));
      if (r) reversed.push({ ...r, taskId: m.task_id, outvoted: false, result });
    }
    // The source verdict was wrong: its outvoted providers the check agrees with are made whole.
    for (const o of outvoted) {
      const result = await signedExecution(trx, o.task_id, o.provider);
      const r = await reverseFault(
        s,
        d,
        trx,
        { task_id: o.task_id, provider: o.provider, rep_before: null, reason: 'overturned verdict' },
        { ...why, sourceJob: canary.source_job_id },
        reviewOf(result),
      );
      if (r) reversed.push({ ...r, taskId: o.task_id, outvoted: true, result });
    }
    // Money (reviewCompensations.ts): applied slashes returned, denied rewards paid, the client of a
    // real job's overturned output refunded; each a `compensation` ledger entry validators re-check.
    const owed = checkResult
      ? await oweForOverturn(d, trx, {
          review: review.id,
          expectedCid: canary.expected_cid,
          check: withBasis({ provider: c.checker.toLowerCase(), result: checkResult }, basis),
          ...(first?.result
            ? { firstCheck: withBasis({ provider: first.provider, result: first.result }, firstBasis) }
            : {}),
          reversed,
          ...(sourceTask ? { source: sourceTask } : {}),
        })
      : [];
    // Both checks are paid (after the refund), from the faulty vouchers' seized stake (a
    // record-miss review's too: with no voucher proven faulty, nobody pays).
    await oweCheckerPay(d, trx, {
      review,
      source: sourceTask,
      expectedCid: canary.expected_cid,
      checks: [
        ...(first ? [withBasis({ provider: first.provider, result: first.result }, firstBasis)] : []),
        withBasis({ provider: c.checker, result: checkResult }, basis),
      ],
    });
    const refunded = owed.some((r) => r.endsWith(':refund'));
    // The client is told (and sees the replacement) when the overturned answer is what it got.
    await revokeOverturnedOutput(d, trx, {
      jobId: canary.source_job_id,
      taskId: canary.source_task_id,
      revokedCid: canary.expected_cid,
      replacementCid: c.outputCid,
      reviewId: review.id,
      checkedBy: first ? [first.provider, c.checker] : [c.checker],
      refund: refunded,
    });
    if (outvoted.length > 0 || refunded) {
      await d.events.append(trx, canary.source_job_id, 'task.overturned', {
        taskId: canary.source_task_id,
        checkedBy: c.checker,
        reinstated: outvoted.map((o) => o.provider),
        refund: refunded,
      });
    }
  });
}

/** The review's kept first check (a check that found the known answer wrong), with its output. */
async function firstCheck(d: WorkDeps, review: Review) {
  if (!review.first_check_lease_id || !review.first_checked_by) return undefined;
  const lease = await d.db
    .selectFrom('canary_assignments')
    .select(['id', 'task_id', 'output_cid', 'result'])
    .where('id', '=', review.first_check_lease_id)
    .executeTakeFirst();
  if (!lease?.output_cid) return undefined;
  return {
    provider: review.first_checked_by,
    leaseId: lease.id,
    tensors: decodeSafetensors(await d.blobs.read(lease.output_cid)),
    result: leaseResult(lease),
  };
}

/** The evidence of a held miss confirmed as a fault: the review's own, or one rebuilt from the lease. */
function heldEvidence(
  review: Review,
  held: { id: string; task_id: string; output_cid: string | null; result: string | null },
  expectedDigest: string,
): object {
  if (review.lease_id === held.id && review.evidence) return JSON.parse(review.evidence) as object;
  const signed = leaseResult(held);
  return {
    taskId: held.task_id,
    kind: 'canary',
    acceptedDigest: expectedDigest,
    agreeing: [],
    reasons: ['the output differs from the known answer'],
    ...(signed ? { signedResult: signed } : {}),
  };
}

/** A canary lease's signed result (stored when it came back), or undefined. */
function leaseResult(m: {
  id: string;
  task_id: string;
  output_cid: string | null;
  result?: string | null;
}): SignedResult | undefined {
  if (!m.result || !m.output_cid) return undefined;
  const r = JSON.parse(m.result) as { usage: unknown; issuedAt: number; signature: string };
  return { assignmentId: m.id, taskId: m.task_id, outputCid: m.output_cid, ...r };
}

/**
 * Reverses the fault a poisoned canary gave `miss.provider`: a `fault_reversals` row; the slash
 * withdrawn if no epoch applied it yet, else recorded as owed; reputation reinstated; the failed
 * count back down; the lease `voided`; a `provider.reinstated` event.
 *
 * @example
 * await reverseCanaryFault(state, deps, trx, miss, { canary, review, checkedBy });
 */
export async function reverseCanaryFault(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  miss: { id: string; task_id: string; provider: string; rep_before: string | null },
  evidence: Record<string, unknown>,
  review?: ReinstateReview,
): Promise<Reversed | undefined> {
  const r = await reverseFault(s, d, trx, { ...miss, reason: 'poisoned canary' }, evidence, review);
  await trx.updateTable('canary_assignments').set({ status: 'voided' }).where('id', '=', miss.id).execute();
  return r;
}

/** What a reversal did to a slash: its id and what an epoch had already applied (owed back). */
export type Reversed = { provider: string; slashId: number | null; compensation: bigint };

/**
 * Makes a wrongly faulted provider whole for its fault on `task_id` (a canary miss or an outvoted
 * verdict): a `fault_reversals` row; the slash withdrawn if no epoch applied it yet, else recorded
 * as owed; the fault's weight off its reputation (and its earlier run of valid results back when
 * `rep_before` is known); the failed count back down; a `provider.reinstated` event.
 *
 * @example
 * await reverseFault(state, deps, trx, { task_id, provider, rep_before: null, reason: 'overturned verdict' }, why);
 */
export async function reverseFault(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  miss: { task_id: string; provider: string; rep_before: string | null; reason: string },
  evidence: Record<string, unknown>,
  /** The review's signed checks (docs/validators.md "Reinstatements"): journaled with the reinstatement. */
  review?: ReinstateReview,
): Promise<Reversed | undefined> {
  const t = d.now();
  const provider = miss.provider.toLowerCase();
  const fault = await trx
    .selectFrom('verification_faults')
    .select('created_at')
    .where('task_id', '=', miss.task_id)
    .where('provider', '=', provider)
    .executeTakeFirst();
  // Takes turns with an epoch close on the slash lock (settlement/slashCursor.ts), then reads
  // whether a close applied the slash.
  await lockSlashCursor(trx);
  const slash = await trx
    .selectFrom('slashes')
    .select(['id', 'amount', 'applied_epoch'])
    .where('task_id', '=', miss.task_id)
    .where('provider', '=', provider)
    .executeTakeFirst();
  const withdrawn = slash !== undefined && slash.applied_epoch === null;
  const compensation = slash && !withdrawn ? slash.amount : '0';
  // One reversal per fault (unique index, 0023): two reviews settled at once, or a second review of
  // the same miss, must not restore the provider twice (that would also erase a real fault).
  const inserted = await trx
    .insertInto('fault_reversals')
    .values({
      provider,
      task_id: miss.task_id,
      slash_id: slash?.id ?? null,
      withdrawn: withdrawn ? 1 : 0,
      compensation,
      reason: miss.reason,
      evidence: JSON.stringify(evidence),
      created_at: t,
    })
    .onConflict((oc) => oc.columns(['task_id', 'provider']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return undefined;
  const before = miss.rep_before === null ? undefined : parseReputation(JSON.parse(miss.rep_before));
  const current = await currentReputation(s, d, trx, provider);
  const faultAt = fault?.created_at ?? t;
  const next = reinstateReputation(current, before, faultAt, t);
  s.reputations.set(provider, next);
  d.scheduler.refresh(provider);
  await rollPublicReputation(d, trx, provider, t);
  await d.stmt.run(trx, d.q.setReputation, { address: provider, reputation: JSON.stringify(next) });
  await journalReputation(trx, {
    provider,
    kind: 'reinstate',
    at: t,
    before: before ?? null,
    faultAt,
    ...(review ? { review } : {}),
  });
  await trx
    .updateTable('providers')
    .set((eb) => ({ tasks_failed: eb('tasks_failed', '-', 1) }))
    .where('address', '=', provider)
    .where('tasks_failed', '>', 0)
    .execute();
  await d.events.append(trx, null, 'provider.reinstated', {
    provider,
    taskId: miss.task_id,
    slashWithdrawn: withdrawn ? (slash?.amount ?? '0') : '0',
    compensationOwed: compensation,
    ...evidence,
  });
  return { provider, slashId: slash?.id ?? null, compensation: BigInt(compensation) };
}
