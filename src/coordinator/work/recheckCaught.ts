/**
 * A caught provider's unchecked outputs are run again (docs/verification.md, "Caught: unchecked
 * outputs re-run"; docs/render.md, "Caught: earlier frames re-rendered"). Under audits most tasks
 * are accepted unverified: no other provider ran any part of them. When a provider is proven
 * faulty — on any task: a verdict's fault, a failed canary, a wrong capability proof — every task
 * of a job still running whose accepted output came from it unchecked is reopened: the task goes
 * back to the queue (its accepted output, provider and verification cleared) and is run again by
 * someone else, with a fresh audit draw. The client is never billed for the reopened outputs: an
 * unverified task of an audited job is billed only when its job ends (completed or failed;
 * market/deferredBilling.ts), so a task reopened before then was never charged, and the caught
 * provider is never paid for it. What an audit vouched for stands.
 *
 * Outputs of jobs that already ended (delivered and billed) are re-verified instead
 * ({@link reviewEndedOutputs}): each inference output or render frame becomes a review-only known
 * answer vouched for by the caught provider alone, and the ordinary canary review
 * (canaryReviews.ts; a frame's checks are whole-frame re-renders, reviewLeases.ts) has it checked
 * by independently drawn trusted providers. Where two such checks agree with each other and not with the delivered
 * output, the output is revoked ({@link revokeOverturnedOutput}): the client sees the replacement
 * (`output.revoked`, `revoked` on the task and the result) and is refunded the task's charges from
 * the caught provider's seized stake (reviewCompensations.ts, checked by validators).
 */
import type { Transaction } from 'kysely';
import type { JobSpec } from '../../protocol/schemas.ts';
import { defersBilling, defersUncheckedOutputs } from '../market/deferredBilling.ts';
import { NOT_BILLED_YET } from '../market/heldBilling.ts';
import type { Database } from '../store/schema.ts';
import { policyOfSpec } from '../verification/policy.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { reviewCanariesOf } from './canaryReviewQueries.ts';
import { storeKnownAnswer } from './knownAnswers.ts';
import { recordReopened } from './reopenedPayback.ts';
import { forgetVerification, type WorkDeps, type WorkState } from './workState.ts';

/** A reopened task and its job. */
export type Reopened = { jobId: string; taskId: string };

/**
 * Reopens the completed, unverified tasks of every running audited or `redundant(k)` job whose
 * accepted output came from `provider` or that `provider` agreed with (except `exceptTaskId`, the task it was just caught on), in the caller's
 * transaction: each goes back to the queue with its output, provider and verification cleared,
 * and its job's done count drops by as many. Returns the reopened tasks (the caller emits their
 * events; {@link reopenAfterFault} does both).
 *
 * @example const reopened = await reopenCaughtOutputs(state, deps, trx, cheater, taskId);
 */
export async function reopenCaughtOutputs(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  provider: string,
  exceptTaskId: string,
): Promise<Reopened[]> {
  const rows = await trx
    .selectFrom('tasks as t')
    .innerJoin('task_verifications as v', 'v.task_id', 't.id')
    .innerJoin('jobs as j', 'j.id', 't.job_id')
    .select(['t.id', 't.job_id', 't.output_cid', 't.provider', 'v.verdict', 'j.spec'])
    // Its accepted output, or one it agreed with: a `redundant(k)` round of untrusted replicas
    // (or an untrusted fallback auditor) vouched for the accepted output as much as its provider.
    .where((eb) =>
      eb.or([
        eb('t.provider', '=', provider.toLowerCase()),
        eb(
          't.id',
          'in',
          eb
            .selectFrom('assignments as a')
            .select('a.task_id')
            .where('a.provider', '=', provider.toLowerCase())
            .where('a.status', '=', 'completed'),
        ),
      ]),
    )
    .where('t.status', '=', 'completed')
    .where('t.id', '!=', exceptTaskId)
    .where('v.status', '=', 'accepted')
    .where('j.status', 'in', ['queued', 'running'])
    // Billed early because its client was held (a withdrawal): final, like an ended job's output.
    .where(NOT_BILLED_YET)
    .orderBy('t.job_id')
    .orderBy('t.idx')
    .execute();
  const specs = new Map<string, JobSpec>();
  const out: Reopened[] = [];
  const kept: { taskId: string; jobId: string; outputCid: string }[] = [];
  for (const r of rows) {
    let spec = specs.get(r.job_id);
    if (!spec) {
      spec = JSON.parse(r.spec) as JobSpec;
      specs.set(r.job_id, spec);
    }
    if (!defersUncheckedOutputs(spec)) continue;
    const verdict = JSON.parse(r.verdict ?? '{}') as Pick<Verdict, 'status' | 'verified' | 'outcomes'>;
    if (verdict.verified !== false || !defersBilling(spec, verdict)) continue;
    const who = provider.toLowerCase();
    const agreed =
      r.provider === who ||
      (verdict.outcomes ?? []).some((o) => o.provider.toLowerCase() === who && o.outcome === 'unverified');
    if (!agreed) continue;
    out.push({ jobId: r.job_id, taskId: r.id });
    if (r.output_cid) kept.push({ taskId: r.id, jobId: r.job_id, outputCid: r.output_cid });
  }
  if (out.length === 0) return [];
  const t = d.now();
  // Kept so that a reversal of this fault pays back the right ones (reopenedPayback.ts).
  await recordReopened(trx, provider, exceptTaskId, kept, t);
  const ids = out.map((o) => o.taskId);
  await trx
    .updateTable('tasks')
    .set({ status: 'queued', output_cid: null, provider: null, result: null, queued_at: t, updated_at: t })
    .where('id', 'in', ids)
    .execute();
  // The re-run starts a verification of its own (a new audit draw; a replacement auditor of a
  // render frame renders the region already drawn).
  await trx.deleteFrom('task_verifications').where('task_id', 'in', ids).execute();
  const perJob = new Map<string, number>();
  for (const o of out) perJob.set(o.jobId, (perJob.get(o.jobId) ?? 0) + 1);
  for (const [jobId, n] of perJob) {
    await trx
      .updateTable('job_progress')
      .set((eb) => ({ tasks_done: eb('tasks_done', '-', n), updated_at: t }))
      .where('job_id', '=', jobId)
      .execute();
  }
  for (const id of ids) forgetVerification(s, id);
  return out;
}

/**
 * After a proven fault of `provider` (on `caughtOn`, a task of job `caughtOn.jobId`, or of no job:
 * a canary, a capability proof), reopens its unchecked outputs of running jobs and appends a
 * `task.reopened` event to each one's job. The event names the task it was caught on only within
 * the same job: another job's client learns that the provider was caught, not on which task (a
 * canary's task id is nobody's business). Returns the reopened tasks.
 *
 * @example await reopenAfterFault(state, deps, trx, cheater, { jobId, taskId });
 */
export async function reopenAfterFault(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  provider: string,
  caughtOn: { jobId: string | null; taskId: string },
): Promise<Reopened[]> {
  const reopened = await reopenCaughtOutputs(s, d, trx, provider, caughtOn.taskId);
  for (const r of reopened)
    await d.events.append(trx, r.jobId, 'task.reopened', {
      taskId: r.taskId,
      provider: provider.toLowerCase(),
      caughtOn: r.jobId === caughtOn.jobId ? caughtOn.taskId : null,
    });
  await reviewEndedOutputs(s, d, trx, provider, caughtOn.taskId);
  return reopened;
}

/**
 * At most this many of a caught provider's delivered outputs of ended jobs are re-verified per
 * fault, newest first (each costs one or two trusted executions; a second fault suspends the
 * provider, isSuspended, so a provider is rarely caught more than twice).
 */
export const ENDED_REVIEW_LIMIT = 500;

/** The job kinds whose ended outputs are re-verified after their provider is caught. */
const REVIEWED_KINDS: ReadonlySet<string> = new Set(['onnx.infer', 'blender.render', 'train.diloco']);

/**
 * After a proven fault of `provider`: its unchecked outputs (accepted `unverified`) of ended audited
 * inference and render jobs and of audited training jobs (ended or not), newest first and at most {@link ENDED_REVIEW_LIMIT}, each become a review-only
 * known answer (never issued as a canary) vouched for by `provider` alone, and a `source-faulted`
 * canary review is opened for each, in the caller's transaction: independently drawn trusted
 * providers re-run the task (reviewCheckers.ts), and two checks that agree with each other and not
 * with the delivered output revoke it (canaryReviews.ts → {@link revokeOverturnedOutput}). A task
 * already kept as a known answer is not stored again. Returns how many reviews were opened.
 *
 * @example await reviewEndedOutputs(state, deps, trx, cheater, caughtTaskId);
 */
export async function reviewEndedOutputs(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  provider: string,
  exceptTaskId: string,
): Promise<number> {
  const p = provider.toLowerCase();
  const rows = await trx
    .selectFrom('tasks as t')
    .innerJoin('task_verifications as v', 'v.task_id', 't.id')
    .innerJoin('jobs as j', 'j.id', 't.job_id')
    .select(['t.id', 't.job_id', 't.output_cid', 'v.verdict', 'j.spec'])
    .where('t.provider', '=', p)
    .where('t.status', '=', 'completed')
    .where('t.id', '!=', exceptTaskId)
    .where('v.status', '=', 'accepted')
    // Ended jobs, and outputs of open jobs billed early for a held client (final, so not reopened:
    // without this a caught provider's wrong output billed that way stood unchecked; review 2).
    // And training updates of any job: each was billed at its verdict and is never reopened.
    .where((eb) =>
      eb.or([
        eb('j.status', 'in', ['completed', 'failed']),
        eb.not(NOT_BILLED_YET),
        eb('j.kind', '=', 'train.diloco'),
      ]),
    )
    .where((eb) =>
      eb.not(
        eb.exists(
          eb.selectFrom('canary_tasks as c').select('c.id').whereRef('c.source_task_id', '=', 't.id'),
        ),
      ),
    )
    .orderBy('t.updated_at', 'desc')
    .limit(ENDED_REVIEW_LIMIT)
    .execute();
  let stored = 0;
  for (const r of rows) {
    if (!r.output_cid) continue;
    const spec = JSON.parse(r.spec) as JobSpec;
    // Inference outputs, render frames and training updates (a frame's or update's checks are
    // leases of its own kind, judged by its kind's rule: reviewLeases.ts). A training update is
    // billed at its verdict (never deferred), so any audited one counts, of a running job too:
    // its round closed on it and it is never reopened (docs/training.md "Caught: updates re-verified").
    if (!REVIEWED_KINDS.has(spec.kind)) continue;
    const policy = policyOfSpec(spec).kind;
    if (
      spec.kind === 'train.diloco'
        ? policy !== 'audit' && policy !== 'redundant'
        : !defersUncheckedOutputs(spec)
    )
      continue;
    const verdict = JSON.parse(r.verdict ?? '{}') as Verdict;
    if (verdict.verified !== false || verdict.status !== 'accepted') continue;
    const ok = await storeKnownAnswer(s, d, trx, {
      jobId: r.job_id,
      taskId: r.id,
      verdict,
      outputCid: r.output_cid,
      vouchers: [p],
      reviewOnly: true,
    });
    if (ok) stored++;
  }
  // The review of every known answer it vouched for (the new ones included) that has none yet.
  return stored === 0 ? 0 : reviewCanariesOf(trx, p, d.now());
}

/**
 * A review's two independent trusted checks agreed with each other and not with the known answer
 * of a real job's task (a caught provider's unchecked output, or a poisoned canary's source): if the
 * task's delivered output is that answer, it is revoked, in the review's transaction. The task row
 * keeps the output its provider signed (the signed result stays evidence); an `output_revocations`
 * row names the replacement (the check's output, readable by the job's client) and the job's stream
 * gets `output.revoked`. At most once per task. Returns whether it revoked.
 *
 * @example await revokeOverturnedOutput(deps, trx, { jobId, taskId, revokedCid, replacementCid, reviewId, checkedBy, refund });
 */
export async function revokeOverturnedOutput(
  d: WorkDeps,
  trx: Transaction<Database>,
  r: {
    jobId: string;
    taskId: string;
    revokedCid: string;
    replacementCid: string;
    reviewId: string;
    checkedBy: string[];
    refund: boolean;
  },
): Promise<boolean> {
  const task = await trx
    .selectFrom('tasks')
    .select(['output_cid', 'provider', 'status'])
    .where('id', '=', r.taskId)
    .where('job_id', '=', r.jobId)
    .executeTakeFirst();
  if (task?.status !== 'completed' || task.output_cid !== r.revokedCid) return false;
  const t = d.now();
  const inserted = await trx
    .insertInto('output_revocations')
    .values({
      task_id: r.taskId,
      job_id: r.jobId,
      provider: task.provider,
      revoked_cid: r.revokedCid,
      replacement_cid: r.replacementCid,
      review_id: r.reviewId,
      checked_by: JSON.stringify(r.checkedBy.map((c) => c.toLowerCase())),
      refund: r.refund ? 1 : 0,
      revoked_at: t,
    })
    .onConflict((oc) => oc.column('task_id').doNothing())
    .executeTakeFirst();
  if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 0n) return false;
  await d.events.append(trx, r.jobId, 'output.revoked', {
    taskId: r.taskId,
    provider: task.provider,
    revoked: r.revokedCid,
    replacement: r.replacementCid,
    checkedBy: r.checkedBy.map((c) => c.toLowerCase()),
    refund: r.refund,
  });
  return true;
}

/**
 * Bills the tasks of `jobId` whose bill waited for the job's end (market/deferredBilling.ts), in
 * the caller's transaction: every completed task's accepted, unverified verdict (a charge already
 * posted is not posted again: entries are unique per execution). Only an audited job has such
 * tasks (`spec`); any other job costs nothing here.
 *
 * @example await billDeferredOutputs(deps, trx, jobId, job.spec);
 */
export async function billDeferredOutputs(
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  spec: JobSpec | undefined,
): Promise<void> {
  if (!d.market || !spec || !defersUncheckedOutputs(spec)) return;
  const rows = await trx
    .selectFrom('tasks as t')
    .innerJoin('task_verifications as v', 'v.task_id', 't.id')
    .select(['v.verdict'])
    .where('t.job_id', '=', jobId)
    .where('t.status', '=', 'completed')
    .where('v.status', '=', 'accepted')
    .orderBy('t.idx')
    .execute();
  for (const r of rows) {
    const verdict = JSON.parse(r.verdict ?? '{}') as Verdict;
    if (verdict.verified !== false) continue;
    await d.market.onVerdict(trx, jobId, verdict, { jobEnded: true });
  }
}
