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
 * provider is never paid for it. What an audit vouched for stands, and so do outputs of jobs that
 * already ended (delivered and billed; see the docs for what that leaves).
 */
import type { Transaction } from 'kysely';
import type { JobSpec } from '../../protocol/schemas.ts';
import { defersBilling, defersUncheckedOutputs } from '../market/deferredBilling.ts';
import { NOT_BILLED_YET } from '../market/heldBilling.ts';
import type { Database } from '../store/schema.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { forgetVerification, type WorkDeps, type WorkState } from './workState.ts';

/** A reopened task and its job. */
export type Reopened = { jobId: string; taskId: string };

/**
 * Reopens the completed, unverified tasks of every running audited job whose accepted output came
 * from `provider` (except `exceptTaskId`, the task it was just caught on), in the caller's
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
    .select(['t.id', 't.job_id', 'v.verdict', 'j.spec'])
    .where('t.provider', '=', provider.toLowerCase())
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
  for (const r of rows) {
    let spec = specs.get(r.job_id);
    if (!spec) {
      spec = JSON.parse(r.spec) as JobSpec;
      specs.set(r.job_id, spec);
    }
    if (!defersUncheckedOutputs(spec)) continue;
    const verdict = JSON.parse(r.verdict ?? '{}') as Pick<Verdict, 'status' | 'verified'>;
    if (verdict.verified !== false || !defersBilling(spec, verdict)) continue;
    out.push({ jobId: r.job_id, taskId: r.id });
  }
  if (out.length === 0) return [];
  const t = d.now();
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
      .updateTable('jobs')
      .set((eb) => ({ tasks_done: eb('tasks_done', '-', n), updated_at: t }))
      .where('id', '=', jobId)
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
  return reopened;
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
