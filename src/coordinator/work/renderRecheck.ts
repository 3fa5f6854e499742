/**
 * A caught render provider's unchecked frames (docs/render.md, "Caught: earlier frames
 * re-rendered"). Under frame sampling an audited render job accepts some frames unverified: no other
 * provider rendered any part of them. When a provider is faulted on a frame of such a job, its
 * earlier frames of the job that nobody checked are reopened — the task goes back to the queue
 * (its accepted output, provider and verification cleared) and is rendered again by someone else —
 * and the client is never billed for them: an unverified frame of an audited render job is billed
 * only when its job ends (completed or failed; market/deferredBilling.ts), so a frame reopened before then was never charged.
 * What an audit vouched for (a region or a whole frame another provider agreed on) stands.
 */
import type { Transaction } from 'kysely';
import type { JobSpec } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import { policyOfSpec } from '../verification/policy.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { forgetVerification, type WorkDeps, type WorkState } from './workState.ts';

/**
 * Reopens the completed, unverified tasks of `jobId` whose accepted output came from `provider`
 * (except `exceptTaskId`, the frame it was just caught on), in the caller's transaction: each goes
 * back to the queue with its output, provider and verification cleared, and the job's done count
 * drops by as many. Returns the reopened task ids (the caller emits their events).
 *
 * @example const reopened = await reopenCaughtFrames(state, deps, trx, jobId, cheater, taskId);
 */
export async function reopenCaughtFrames(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  provider: string,
  exceptTaskId: string,
): Promise<string[]> {
  const rows = await trx
    .selectFrom('tasks as t')
    .innerJoin('task_verifications as v', 'v.task_id', 't.id')
    .select(['t.id', 'v.verdict'])
    .where('t.job_id', '=', jobId)
    .where('t.status', '=', 'completed')
    .where('t.provider', '=', provider.toLowerCase())
    .where('t.id', '!=', exceptTaskId)
    .where('v.status', '=', 'accepted')
    .execute();
  const ids = rows
    .filter((r) => (JSON.parse(r.verdict ?? '{}') as { verified?: boolean }).verified === false)
    .map((r) => r.id);
  if (ids.length === 0) return [];
  const t = d.now();
  await trx
    .updateTable('tasks')
    .set({ status: 'queued', output_cid: null, provider: null, result: null, queued_at: t, updated_at: t })
    .where('id', 'in', ids)
    .execute();
  // The re-render starts a verification of its own (a new audit draw; a replacement auditor
  // renders the region already drawn).
  await trx.deleteFrom('task_verifications').where('task_id', 'in', ids).execute();
  await trx
    .updateTable('jobs')
    .set((eb) => ({ tasks_done: eb('tasks_done', '-', ids.length), updated_at: t }))
    .where('id', '=', jobId)
    .execute();
  for (const id of ids) forgetVerification(s, id);
  return ids;
}

/**
 * Bills the frames of `jobId` whose bill waited for the job's end (market/deferredBilling.ts), in
 * the caller's transaction: every completed task's accepted, unverified verdict (a charge already
 * posted is not posted again: entries are unique per execution). Only an audited render job has
 * such frames (`spec`); any other job costs nothing here.
 *
 * @example await billDeferredFrames(deps, trx, jobId, job.spec);
 */
export async function billDeferredFrames(
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  spec: JobSpec | undefined,
): Promise<void> {
  if (!d.market || spec?.kind !== 'blender.render' || policyOfSpec(spec).kind !== 'audit') return;
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
