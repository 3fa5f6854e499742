/**
 * Re-verification of a caught provider's render frames of ended jobs (docs/verification.md
 * "Caught: unchecked outputs re-run", docs/render.md "Caught: earlier frames re-rendered"). The
 * review is the ordinary canary review (canaryReviews.ts): the frame is a review-only known answer
 * (knownAnswers.ts, `canary_tasks.kind = 'blender.render'`, never issued as a canary) vouched for by
 * the caught provider alone, its checkers are the seeded draw among eligible trusted providers
 * (reviewCheckers.ts), and two checks that agree with each other and not with the frame revoke it
 * and refund its charges from the caught provider's seized stake (`revokeOverturnedOutput`,
 * reviewCompensations.ts). Only the check differs from an inference review's:
 *
 * - **the lease** is a render assignment of the frame's own descriptor (`kind: 'blender.render'`,
 *   the job's `.blend`, no region): the checker renders the whole frame, so a check that overturns
 *   the frame is a replacement the client can use (a region would be no replacement), under a
 *   shadow job of the source job's kind like any canary lease;
 * - **only renderers** are drawn: a trusted provider that claims Blender of the job's major version
 *   (renderEligibility.ts); a trusted provider that cannot render holds no priority in the draw;
 * - **the judgment** is the render rule (`compareRenderOutputs`: SSIM/PSNR thresholds, since two
 *   honest frames are never the same bytes), here and in validators (verification/outputsAgree.ts).
 *   A region output is refused: the check was asked for the whole frame.
 */
import { randomBytes } from 'node:crypto';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { computeCommitment, verifyReveal } from '../../protocol/commitment.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { ProviderResult } from '../../protocol/schemas.ts';
import { boundLeaseId, taskRefOf } from '../../protocol/taskRef.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { insertShadowJob } from '../jobs/shadowJobs.ts';
import { appendShadowCompletion, countShadowCompletion } from '../jobs/shadowOutcomes.ts';
import { compareRenderOutputs, isRegionRenderOutput } from '../verification/compareRenders.ts';
import { assertLeasedTo } from './assignments.ts';
import { canaryById, commitmentOfAssignment, insertCanaryLease } from './canaryQueries.ts';
import { reviewOfCheck } from './canaryReviewQueries.ts';
import { settleReviewCheck } from './canaryReviews.ts';
import { inlineInput } from './inlineInput.ts';
import { jobInfo } from './jobs.ts';
import { canRender } from './renderEligibility.ts';
import { drawnReview } from './reviewCheckers.ts';
import { send, type WorkDeps, type WorkState } from './workState.ts';

/** The known-answer kind of a caught provider's frame (canary_tasks.kind, migration 0074). */
export const RENDER_KNOWN_ANSWER = 'blender.render';

/** A review's check slot was taken meanwhile (another replica's draw): the lease is rolled back. */
class ReviewTaken extends Error {}

/**
 * The slot just reserved on `provider` goes to the check of a caught provider's frame when this
 * renderer is the one drawn for an open review of one (reviewCheckers.ts). True when it took the
 * slot (the lease is sent), false otherwise (the slot is the caller's).
 *
 * @example
 * if (await injectRenderReviewCheck(state, deps, provider)) return; // the slot is used
 */
export async function injectRenderReviewCheck(s: WorkState, d: WorkDeps, provider: string): Promise<boolean> {
  // Cheap first: only a renderer can check a frame (most slots are not one's).
  if (!canRender(s, provider, undefined)) return false;
  try {
    const review = await drawnReview(s, d, provider, {
      kind: RENDER_KNOWN_ANSWER,
      canRun: (a) => canRender(s, a, undefined),
    });
    if (!review) return false;
    const job = await jobInfo(s, d, review.source_job_id);
    if (job?.spec.kind !== 'blender.render') return false;
    // The job's pinned Blender major version: another renders other pixels, not a cheat.
    if (!canRender(s, provider, job.spec.render.blenderMajor)) return false;
    const taskId = `0x${randomBytes(32).toString('hex')}` as Hex;
    // Bound to its task like any lease (0066): the salt is published only in the evidence.
    const leaseSalt = `0x${randomBytes(32).toString('hex')}` as Hex;
    const id = boundLeaseId(taskId, provider, leaseSalt);
    const t = d.now();
    let jobId = '';
    const issued = await d.db
      .transaction()
      .execute(async (trx) => {
        await insertCanaryLease(trx, {
          id,
          task_id: taskId,
          canary_id: review.id,
          provider,
          status: 'leased',
          lease_expires_at: t + review.timeout_ms,
          output_cid: null,
          created_at: t,
          finished_at: null,
          lease_salt: leaseSalt,
          ...(review.drawn.epoch != null ? { draw_epoch: review.drawn.epoch } : {}),
        });
        // Its own job, of the source job's kind and public spec (jobs/shadowJobs.ts).
        jobId = await insertShadowJob(trx, {
          leaseId: id,
          sourceJobId: review.source_job_id,
          model: review.model,
          at: t,
        });
        await d.events.append(trx, jobId, 'job.running', {});
        await d.events.append(trx, jobId, 'task.assigned', { taskId });
        await trx
          .insertInto('review_check_bases')
          .values({ lease_id: id, body: JSON.stringify({ ...review.drawn.basis, at: t }) })
          .execute();
        const took = await trx
          .updateTable('canary_reviews')
          .set({ check_lease_id: id })
          .where('id', '=', review.review_id)
          .where('check_lease_id', 'is', null)
          .where('status', '=', 'open')
          .executeTakeFirst();
        if (took.numUpdatedRows === 0n) throw new ReviewTaken();
        return true;
      })
      .catch((err: unknown) => {
        if (err instanceof ReviewTaken) return false;
        throw err;
      });
    if (!issued) return false;
    d.events.notify(jobId);
    d.metrics.jobsSubmitted.inc();
    d.metrics.assignments.inc();
    // The shape of a real frame's assignment (dispatch.ts): the whole frame, no region.
    const inputBytes = await inlineInput(d, review.input_cid);
    send(s, provider, {
      type: 'assign',
      assignmentId: id,
      taskId: taskRefOf(id),
      kind: 'blender.render',
      model: review.model,
      input: review.input_cid,
      gpu: review.gpu === 1,
      timeoutMs: review.timeout_ms,
      ...(inputBytes ? { inputBytes } : {}),
    });
    return true;
  } catch (err) {
    d.log.error({ err, provider }, 'render review check failed to issue');
    return false;
  }
}

/**
 * Whether `canaryId` is a caught provider's frame under review (its check leases come here, not
 * to the inference canary's judgment).
 *
 * @example if (await isRenderKnownAnswer(db, lease.canary_id)) return handleRenderReviewResult(…);
 */
export async function isRenderKnownAnswer(d: WorkDeps, canaryId: string): Promise<boolean> {
  const row = await d.db
    .selectFrom('canary_tasks')
    .select('kind')
    .where('id', '=', canaryId)
    .executeTakeFirst();
  return row?.kind === RENDER_KNOWN_ANSWER;
}

/**
 * A render review check's result: its reveal must open its signed commitment (as any lease's),
 * its output must be a whole frame; it passes when it agrees with the reviewed frame by the render
 * rule, and resolves the review (canaryReviews.ts `settleReviewCheck`). A check whose review closed
 * meanwhile (expired) judges nothing: its lease is voided.
 *
 * @example
 * await handleRenderReviewResult(state, deps, address, msg, lease, tensors, outputDigest);
 */
export async function handleRenderReviewResult(
  s: WorkState,
  d: WorkDeps,
  address: string,
  msg: ProviderResult,
  lease: { id: string; task_id: string; canary_id: string; provider: string; status: string },
  tensors: TensorSet,
  outputDigest: Hex,
): Promise<void> {
  assertLeasedTo(lease, address, msg.assignmentId, msg.taskId);
  const signed = await commitmentOfAssignment(d.db, lease.id);
  if (signed && msg.salt === undefined) {
    throw new PlexusError('PLX_REVEAL_MISMATCH', 'this execution committed: reveal its digest and salt');
  }
  if (msg.salt !== undefined && !signed) {
    throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'no signed commitment for this execution');
  }
  const salt = (msg.salt as Hex | undefined) ?? (`0x${randomBytes(32).toString('hex')}` as Hex);
  const ref = taskRefOf(lease.id);
  const commitment =
    (signed?.commitment as Hex | undefined) ??
    computeCommitment({ taskId: ref, provider: address as Hex, outputDigest, salt });
  if (!verifyReveal({ taskId: ref, provider: address as Hex, commitment, reveal: { outputDigest, salt } })) {
    throw new PlexusError('PLX_REVEAL_MISMATCH', 'the reveal does not open the signed commitment');
  }
  if (isRegionRenderOutput(tensors)) {
    throw new PlexusError('PLX_VALIDATION', 'this assignment asked for the whole frame, not a region');
  }
  const known = await canaryById(d.db, lease.canary_id);
  const expected = decodeSafetensors(await d.blobs.read(known.expected_cid));
  const passed = compareRenderOutputs(tensors, expected).ok;
  const review = await reviewOfCheck(d.db, lease.id);
  if (!review) {
    await d.db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('canary_assignments')
        .set({ status: 'voided', output_cid: msg.outputCid, finished_at: d.now() })
        .where('id', '=', lease.id)
        .where('status', '=', 'leased')
        .executeTakeFirst();
      if (done.numUpdatedRows === 0n) {
        throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} is no longer leased`);
      }
      await appendShadowCompletion(trx, d.events, lease.id);
    });
    d.scheduler.release(address);
    countShadowCompletion(d.metrics);
    void d.dispatch();
    return;
  }
  await settleReviewCheck(s, d, {
    review,
    checker: address,
    leaseId: lease.id,
    outputCid: msg.outputCid,
    passed,
    tensors,
    // Signed over the lease's opaque reference (protocol v3), about the lease's own task id.
    signed: { taskId: lease.task_id, usage: msg.usage, issuedAt: msg.issuedAt, signature: msg.signature },
  });
  d.log.info({ provider: address, canary: known.id, passed, review: review.id }, 'render review checked');
  d.scheduler.release(address);
  countShadowCompletion(d.metrics);
  void d.dispatch();
}
