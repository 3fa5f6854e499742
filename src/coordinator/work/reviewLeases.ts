/**
 * Review checks of a caught provider's render frames and training updates (docs/verification.md
 * "Caught: unchecked outputs re-run", docs/render.md "Caught: earlier frames re-rendered",
 * docs/training.md "Caught: updates re-verified"). The review is the ordinary canary review
 * (canaryReviews.ts): the output is a review-only known answer (knownAnswers.ts,
 * `canary_tasks.kind` = the job's kind, never issued as a canary) vouched for by the caught
 * provider alone, its checkers are the seeded draw among eligible trusted providers
 * (reviewCheckers.ts), and two checks that agree with each other and not with the output revoke it
 * and refund its charges from the caught provider's seized stake (`revokeOverturnedOutput`,
 * reviewCompensations.ts). Only the check lease differs from an inference review's:
 *
 * - **the lease** is an assignment of the task's own descriptor under its job's kind and model —
 *   a frame's (`blender.render`, the `.blend`, no region: the checker renders the whole frame, so a
 *   check that overturns the frame is a replacement the client can use) or a training task's
 *   (`train.diloco`: the round's weights θ_r, the worker's shard and seed; the WASM backend gives
 *   the same bits on a re-run, and the task's blobs are kept, `train_blobs`, readable by the
 *   check's lease, blobs/blobAccess.ts) — under a shadow job of the source job's kind;
 * - **only providers that can run it** are drawn: a renderer of the job's Blender major version, a
 *   trainer of the job's backend (renderEligibility.ts); one that cannot holds no priority;
 * - **the judgment** is the kind's own rule (verification/outputsAgree.ts, here and in
 *   validators): a frame by `compareRenderOutputs` (SSIM/PSNR thresholds, since two honest frames
 *   are never the same bytes; a region output is refused, the check was asked for the whole
 *   frame), an update by the tensor tolerance, as its verdict judged it.
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
import { isRegionRenderOutput } from '../verification/compareRenders.ts';
import { outputsAgree } from '../verification/outputsAgree.ts';
import { assertLeasedTo } from './assignments.ts';
import { canaryById, commitmentOfAssignment, insertCanaryLease } from './canaryQueries.ts';
import { reviewOfCheck } from './canaryReviewQueries.ts';
import { settleReviewCheck } from './canaryReviews.ts';
import { inlineInput } from './inlineInput.ts';
import { jobInfo } from './jobs.ts';
import { cannotRun, canRender } from './renderEligibility.ts';
import { drawnReview } from './reviewCheckers.ts';
import { send, type WorkDeps, type WorkState } from './workState.ts';

/** The known-answer kinds whose checks are leases of their own kind (canary_tasks.kind, 0074). */
export const REVIEW_LEASE_KINDS: readonly string[] = ['blender.render', 'train.diloco'];

/** A review's check slot was taken meanwhile (another replica's draw): the lease is rolled back. */
class ReviewTaken extends Error {}

/** Whether `address` could run a check of `kind` at all (the job's own pins are checked after). */
function mayRun(s: WorkState, address: string, kind: string): boolean {
  return kind !== 'blender.render' || canRender(s, address, undefined);
}

/**
 * The slot just reserved on `provider` goes to the check of a caught provider's frame or training
 * update when it is the one drawn for an open review of one (reviewCheckers.ts). True when it took
 * the slot (the lease is sent), false otherwise (the slot is the caller's).
 *
 * @example
 * if (await injectReviewLease(state, deps, provider)) return; // the slot is used
 */
export async function injectReviewLease(s: WorkState, d: WorkDeps, provider: string): Promise<boolean> {
  try {
    const review = await drawnReview(s, d, provider, {
      kinds: REVIEW_LEASE_KINDS,
      canRun: (a, k) => mayRun(s, a, k),
    });
    if (!review) return false;
    const job = await jobInfo(s, d, review.source_job_id);
    if (!job || job.spec.kind !== review.kind) return false;
    // The job's pins: another Blender major version renders other pixels, another TF.js backend
    // other bits — not a cheat either way.
    if (job.spec.kind === 'blender.render' && !canRender(s, provider, job.spec.render.blenderMajor))
      return false;
    if (cannotRun(s, job.spec).includes(provider)) return false;
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
    // The shape of a real task's assignment (dispatch.ts); a frame's whole, no region.
    const inputBytes = await inlineInput(d, review.input_cid);
    send(s, provider, {
      type: 'assign',
      assignmentId: id,
      taskId: taskRefOf(id),
      kind: job.spec.kind,
      model: review.model,
      input: review.input_cid,
      gpu: review.gpu === 1,
      timeoutMs: review.timeout_ms,
      ...(inputBytes ? { inputBytes } : {}),
    });
    return true;
  } catch (err) {
    d.log.error({ err, provider }, 'review lease failed to issue');
    return false;
  }
}

/**
 * The kind of known answer `canaryId` is when its checks are leases of their own kind (a caught
 * provider's frame or training update under review), else undefined (an inference canary's).
 *
 * @example if (await reviewLeaseKind(deps, lease.canary_id)) return handleReviewLeaseResult(…);
 */
export async function reviewLeaseKind(d: WorkDeps, canaryId: string): Promise<string | undefined> {
  const row = await d.db
    .selectFrom('canary_tasks')
    .select('kind')
    .where('id', '=', canaryId)
    .executeTakeFirst();
  return row && REVIEW_LEASE_KINDS.includes(row.kind) ? row.kind : undefined;
}

/**
 * A review lease's result: its reveal must open its signed commitment (as any lease's), a frame's
 * output must be a whole frame; it passes when it agrees with the reviewed output by its kind's
 * rule (outputsAgree.ts), and resolves the review (canaryReviews.ts `settleReviewCheck`). A check whose review closed
 * meanwhile (expired) judges nothing: its lease is voided.
 *
 * @example
 * await handleReviewLeaseResult(state, deps, address, msg, lease, tensors, outputDigest);
 */
export async function handleReviewLeaseResult(
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
  const known = await canaryById(d.db, lease.canary_id);
  if (known.kind === 'blender.render' && isRegionRenderOutput(tensors)) {
    throw new PlexusError('PLX_VALIDATION', 'this assignment asked for the whole frame, not a region');
  }
  const expected = decodeSafetensors(await d.blobs.read(known.expected_cid));
  const passed = outputsAgree(tensors, expected);
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
  d.log.info({ provider: address, canary: known.id, passed, review: review.id }, 'review lease checked');
  d.scheduler.release(address);
  countShadowCompletion(d.metrics);
  void d.dispatch();
}
