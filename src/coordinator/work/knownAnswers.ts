/**
 * Storing a verified task as a known answer (a `canary_tasks` row and who vouched for it): the one
 * write both canary seeding (canaries.ts) and outvoted-verdict reviews (verdictReviews.ts) make.
 */
import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import type { Database } from '../store/schema.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { insertCanary, taskInput } from './canaryQueries.ts';
import { insertCanarySources } from './canaryReviewQueries.ts';
import { jobInfo } from './jobs.ts';
import type { WorkDeps, WorkState } from './workState.ts';

/**
 * Stores task `taskId`'s model, input and agreed output as a known answer vouched for by
 * `vouchers`; `reviewOnly` keeps it out of circulation (retired, issue cap reached). Inference
 * tasks qualify; render frames and training updates for a review only (a caught provider's
 * output: its checks are leases of the task's own kind judged by its kind's rule, reviewLeases.ts;
 * it is never issued as a canary, whose lease is an inference one, and a training task's inputs
 * are one job's round state). Returns whether a row was written (false: another kind, a frame or
 * update not for review, or the task is a known answer already).
 *
 * @example
 * await storeKnownAnswer(state, deps, trx, { jobId, taskId, verdict, outputCid, vouchers, reviewOnly: false });
 */
export async function storeKnownAnswer(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  a: {
    jobId: string;
    taskId: string;
    verdict: Verdict;
    outputCid: string;
    vouchers: readonly string[];
    reviewOnly: boolean;
  },
): Promise<boolean> {
  const task = await taskInput(trx, a.taskId);
  const job = await jobInfo(s, d, a.jobId, trx);
  if (!task || !job) return false;
  const leased = job.spec.kind === 'blender.render' || job.spec.kind === 'train.diloco';
  if (job.spec.kind !== 'onnx.infer' && !(leased && a.reviewOnly)) return false;
  // A frame's or update's verdict may name no digest (an unaudited output): the blob's own.
  const digest =
    a.verdict.acceptedDigest ??
    (leased ? tensorSetDigest(decodeSafetensors(await d.blobs.read(a.outputCid))) : undefined);
  if (digest === undefined) return false;
  const id = `canary-${randomBytes(8).toString('hex')}`;
  // A public job's inputs are anyone's to read: a canary made from one would be recognised by its
  // input cid, so it is kept for reviews only and never issued (docs/verification.md).
  const reviewOnly = a.reviewOnly || job.spec.public === true;
  const [inserted] = await insertCanary(trx, {
    id,
    source_task_id: a.taskId,
    source_job_id: a.jobId,
    model: job.spec.model,
    input_cid: task.input_cid,
    gpu: job.spec.resources.gpu ? 1 : 0,
    timeout_ms: job.spec.taskTimeoutSec * 1000,
    expected_digest: digest,
    expected_cid: a.outputCid,
    // Review only: a confirmed review puts a canary back only while issued < the issue cap.
    issued: reviewOnly ? s.canaryMaxIssues : 0,
    retired: reviewOnly ? 1 : 0,
    created_at: d.now(),
    kind: job.spec.kind,
  });
  if (inserted?.numInsertedOrUpdatedRows !== 1n) return false;
  // Who vouched for the answer: if one of them is later proven faulty, it is re-verified.
  await insertCanarySources(trx, id, a.vouchers);
  return true;
}
