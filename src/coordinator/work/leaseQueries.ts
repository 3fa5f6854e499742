/**
 * The work loop's one-off queries on jobs, tasks, assignments and verifications (the per-task
 * hot ones are templates in workQueries.ts). Each returns the Kysely query's own promise, built and
 * run exactly as the loop ran it inline: no extra query, await or transaction. Pass the caller's
 * transaction where there is one (SQLite has one connection).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

type Executor = Kysely<Database>;

/**
 * A job's spec, status, price cap, client and task count.
 *
 * @example
 * const row = await jobRow(db, jobId);
 */
export function jobRow(ex: Executor, jobId: string) {
  return ex
    .selectFrom('jobs')
    .select(['spec', 'status', 'max_price', 'client', 'tasks_total'])
    .where('id', '=', jobId)
    .executeTakeFirst();
}

/**
 * Marks a queued or running job failed; `numUpdatedRows` is 0 when it was neither.
 *
 * @example
 * const updated = await failJobRow(trx, jobId, 'PLX_TASK_FAILED', 'task 0 failed', Date.now());
 */
export function failJobRow(ex: Executor, jobId: string, code: string, message: string, t: number) {
  return ex
    .updateTable('jobs')
    .set({ status: 'failed', error_code: code, error_message: message.slice(0, 2000), updated_at: t })
    .where('id', '=', jobId)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirst();
}

/**
 * Tasks of a job whose verification is still open.
 *
 * @example
 * for (const v of await openVerificationsOfJob(trx, jobId)) forget(v.task_id);
 */
export function openVerificationsOfJob(ex: Executor, jobId: string) {
  return ex
    .selectFrom('task_verifications')
    .select('task_id')
    .where('job_id', '=', jobId)
    .where('status', '=', 'open')
    .execute();
}

/**
 * Cancels a job's queued and assigned tasks.
 *
 * @example
 * await cancelOpenTasks(trx, jobId, Date.now());
 */
export function cancelOpenTasks(ex: Executor, jobId: string, t: number) {
  return ex
    .updateTable('tasks')
    .set({ status: 'cancelled', updated_at: t })
    .where('job_id', '=', jobId)
    .where('status', 'in', ['queued', 'assigned'])
    .execute();
}

/**
 * A job's open leases (id and provider).
 *
 * @example
 * const leases = await leasesOfJob(trx, jobId);
 */
export function leasesOfJob(ex: Executor, jobId: string) {
  return ex
    .selectFrom('assignments')
    .select(['id', 'provider'])
    .where('job_id', '=', jobId)
    .where('status', '=', 'leased')
    .execute();
}

/**
 * Ends a failed job's open leases (PLX_JOB_CANCELLED).
 *
 * @example
 * await cancelLeasesOfJob(trx, jobId, Date.now());
 */
export function cancelLeasesOfJob(ex: Executor, jobId: string, t: number) {
  return ex
    .updateTable('assignments')
    .set({ status: 'failed', finished_at: t, error_code: 'PLX_JOB_CANCELLED', error_message: 'job failed' })
    .where('job_id', '=', jobId)
    .where('status', '=', 'leased')
    .execute();
}

/**
 * Ends one assignment without a result.
 *
 * @example
 * await endAssignment(trx, id, 'expired', Date.now(), 'PLX_LEASE_EXPIRED', 'no result in time');
 */
export function endAssignment(
  ex: Executor,
  id: string,
  status: 'failed' | 'expired',
  t: number,
  code: string,
  message: string,
) {
  return ex
    .updateTable('assignments')
    .set({ status, finished_at: t, error_code: code, error_message: message.slice(0, 2000) })
    .where('id', '=', id)
    .execute();
}

/**
 * Counts one failed task against a provider.
 *
 * @example
 * await addTaskFailed(trx, provider);
 */
export function addTaskFailed(ex: Executor, address: string) {
  return ex
    .updateTable('providers')
    .set((eb) => ({ tasks_failed: eb('tasks_failed', '+', 1) }))
    .where('address', '=', address)
    .execute();
}

/**
 * A task's attempts and index.
 *
 * @example
 * const { attempts, idx } = await taskAttempts(trx, taskId);
 */
export function taskAttempts(ex: Executor, taskId: string) {
  return ex
    .selectFrom('tasks')
    .select(['attempts', 'idx'])
    .where('id', '=', taskId)
    .executeTakeFirstOrThrow();
}

/**
 * A task's index in its job.
 *
 * @example
 * const { idx } = await taskIndex(trx, taskId);
 */
export function taskIndex(ex: Executor, taskId: string) {
  return ex.selectFrom('tasks').select('idx').where('id', '=', taskId).executeTakeFirstOrThrow();
}

/**
 * How many of a task's assignments ended without a result: `lost` those whose provider's session
 * was lost before the lease's deadline (`PLX_LEASE_LOST`: its coordinator replica died, its socket
 * closed, it reconnected without the task), `failed` every other one.
 *
 * @example
 * const { failed, lost } = await failedAttempts(trx, taskId);
 */
export async function failedAttempts(
  ex: Executor,
  taskId: string,
): Promise<{ failed: number; lost: number }> {
  const rows = await ex
    .selectFrom('assignments')
    .select((eb) => [eb.fn.countAll().as('n'), 'error_code'])
    .where('task_id', '=', taskId)
    .where('status', 'in', ['failed', 'expired'])
    .groupBy('error_code')
    .execute();
  let failed = 0;
  let lost = 0;
  for (const r of rows) {
    if (r.error_code === 'PLX_LEASE_LOST') lost += Number(r.n);
    else failed += Number(r.n);
  }
  return { failed, lost };
}

/**
 * An assignment's status, current expiry and creation time.
 *
 * @example
 * const cur = await assignmentTimes(trx, id);
 */
export function assignmentTimes(ex: Executor, id: string) {
  return ex
    .selectFrom('assignments')
    .select(['status', 'lease_expires_at', 'created_at'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/**
 * Gives an open lease its deadline back (`until`) when a disconnect had shortened it.
 *
 * @example
 * await restoreLease(trx, id, createdAt + timeoutMs);
 */
export function restoreLease(ex: Executor, id: string, until: number) {
  return ex
    .updateTable('assignments')
    .set({ lease_expires_at: until })
    .where('id', '=', id)
    .where('status', '=', 'leased')
    .where('lease_expires_at', '<', until)
    .execute();
}

/**
 * Puts a task back (queued, or assigned while its other executions run) after a failed attempt.
 *
 * @example
 * await retryTask(trx, taskId, 'queued', 'PLX_LEASE_EXPIRED: no result', Date.now());
 */
export function retryTask(
  ex: Executor,
  taskId: string,
  status: 'queued' | 'assigned',
  lastError: string,
  t: number,
) {
  return ex
    .updateTable('tasks')
    .set({ status, last_error: lastError, updated_at: t })
    .where('id', '=', taskId)
    .execute();
}

/**
 * Marks a task failed with its last error.
 *
 * @example
 * await failTask(trx, taskId, 'no execution produced an acceptable output', Date.now());
 */
export function failTask(ex: Executor, taskId: string, lastError: string, t: number) {
  return ex
    .updateTable('tasks')
    .set({ status: 'failed', last_error: lastError, updated_at: t })
    .where('id', '=', taskId)
    .execute();
}

/**
 * Puts a task back in the queue, in place, if it is assigned (more executions are wanted).
 *
 * @example
 * await requeueAssigned(trx, taskId, Date.now());
 */
export function requeueAssigned(ex: Executor, taskId: string, t: number) {
  return ex
    .updateTable('tasks')
    .set({ status: 'queued', updated_at: t })
    .where('id', '=', taskId)
    .where('status', '=', 'assigned')
    .execute();
}

/**
 * Takes a task out of the queue while every execution it wants is out.
 *
 * @example
 * await markAssigned(db, taskId);
 */
export function markAssigned(ex: Executor, taskId: string) {
  return ex
    .updateTable('tasks')
    .set({ status: 'assigned' })
    .where('id', '=', taskId)
    .where('status', '=', 'queued')
    .execute();
}

/**
 * The providers a task was ever leased to.
 *
 * @example
 * const tried = (await providersOfTask(db, taskId)).map((a) => a.provider);
 */
export function providersOfTask(ex: Executor, taskId: string) {
  return ex.selectFrom('assignments').select('provider').where('task_id', '=', taskId).execute();
}

/**
 * Providers that delivered an output for a task (an execution row), in any verification of it: a
 * task reopened after its provider was proven faulty (recheckCaught.ts) is never run by them again.
 *
 * @example
 * const delivered = await executorsOfTask(db, taskId);
 */
export async function executorsOfTask(ex: Executor, taskId: string): Promise<string[]> {
  const rows = await ex
    .selectFrom('task_executions')
    .select('provider')
    .distinct()
    .where('task_id', '=', taskId)
    .execute();
  return rows.map((r) => r.provider);
}

/**
 * Marks a queued job running; `numUpdatedRows` is 0 when it already left the queue.
 *
 * @example
 * const updated = await startJob(trx, jobId, Date.now());
 */
export function startJob(ex: Executor, jobId: string, t: number) {
  return ex
    .updateTable('jobs')
    .set({ status: 'running', updated_at: t })
    .where('id', '=', jobId)
    .where('status', '=', 'queued')
    .executeTakeFirst();
}

/**
 * Marks a job completed.
 *
 * @example
 * await completeJob(trx, jobId, Date.now());
 */
export function completeJob(ex: Executor, jobId: string, t: number) {
  return ex.updateTable('jobs').set({ status: 'completed', updated_at: t }).where('id', '=', jobId).execute();
}

/**
 * The stored outputs (cid and digest) of a task's executions.
 *
 * @example
 * for (const e of await executionOutputs(trx, taskId)) load(e.output_cid);
 */
export function executionOutputs(ex: Executor, taskId: string) {
  return ex
    .selectFrom('task_executions')
    .select(['output_cid', 'output_digest'])
    .where('task_id', '=', taskId)
    .execute();
}

/**
 * The latest execution of a task by one provider.
 *
 * @example
 * const accepted = await latestExecutionBy(trx, taskId, provider);
 */
export function latestExecutionBy(ex: Executor, taskId: string, provider: string) {
  return ex
    .selectFrom('task_executions')
    .selectAll()
    .where('task_id', '=', taskId)
    .where('provider', '=', provider)
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
}

/**
 * A task's stored verification policy (JSON).
 *
 * @example
 * const policy = JSON.parse((await verificationPolicyOf(db, taskId)).policy);
 */
export function verificationPolicyOf(ex: Executor, taskId: string) {
  return ex
    .selectFrom('task_verifications')
    .select('policy')
    .where('task_id', '=', taskId)
    .executeTakeFirstOrThrow();
}

/**
 * Clears a task's audit flag (the audit was waived).
 *
 * @example
 * await clearAudit(trx, taskId);
 */
export function clearAudit(ex: Executor, taskId: string) {
  return ex.updateTable('task_verifications').set({ audit: 0 }).where('task_id', '=', taskId).execute();
}

/**
 * Locks a task's row until the caller's transaction ends (`FOR UPDATE`; PostgreSQL only, where
 * replicas share the store): results, commitments, leases and lease expiries of one task take turns.
 *
 * @example
 * if (d.shared) await lockTaskRow(trx, taskId);
 */
export async function lockTaskRow(ex: Executor, taskId: string): Promise<void> {
  await ex.selectFrom('tasks').select('id').where('id', '=', taskId).forUpdate().execute();
}
