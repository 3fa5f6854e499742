/**
 * Jobs as the work loop sees them: the cached spec and status of a job (`jobInfo`), failing a job
 * with everything still open on it (`failJob`), cancelling the leases that leaves behind
 * (`revoke`), and the process-side bookkeeping once a verdict's transaction committed
 * (`afterSettle`).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Hex } from 'viem';
import type { ErrorCode } from '../../errors/codes.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import {
  cancelLeasesOfJob,
  cancelOpenTasks,
  failJobRow,
  jobRow,
  leasesOfJob,
  openVerificationsOfJob,
} from './leaseQueries.ts';
import { billDeferredOutputs } from './recheckCaught.ts';
import { releaseJobLocks } from './stakeLocks.ts';
import {
  forgetVerification,
  type JobInfo,
  type Lease,
  type Settled,
  send,
  type WorkDeps,
  type WorkState,
} from './workState.ts';

/**
 * A job's spec and status, cached. Inside a transaction pass `trx`: SQLite has one connection,
 * and a query on `db` would wait forever for the transaction that is waiting for it.
 *
 * @example
 * const job = await jobInfo(state, deps, task.job_id);
 * if (job?.status === 'running') keepGoing();
 */
export async function jobInfo(
  s: WorkState,
  d: WorkDeps,
  jobId: string,
  executor: Kysely<Database> | Transaction<Database> = d.db,
): Promise<JobInfo | undefined> {
  const cached = s.jobCache.get(jobId);
  if (cached) return cached;
  const row = await jobRow(executor, jobId);
  if (!row) return undefined;
  const info = {
    spec: JSON.parse(row.spec) as JobSpec,
    status: row.status,
    maxPrice: row.max_price ? BigInt(row.max_price) : undefined,
    client: row.client,
    tasksTotal: row.tasks_total,
  };
  s.jobCache.set(jobId, info);
  return info;
}

/**
 * Marks a job failed, cancels its unfinished tasks, and returns leases to revoke (after the
 * transaction commits: see {@link revoke}). A job no longer queued or running is left alone.
 *
 * @example
 * const leases = await db.transaction().execute((trx) => failJob(state, deps, trx, jobId, 'PLX_DEADLINE_EXCEEDED', 'too late', {}));
 * revoke(state, deps, leases, 'deadline exceeded');
 */
export async function failJob(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  jobId: string,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown>,
): Promise<Lease[]> {
  const t = d.now();
  const updated = await failJobRow(trx, jobId, code, message, t);
  if (updated.numUpdatedRows === 0n) return [];
  // Unchecked outputs whose bill waited for the job's end are billed now (recheckCaught.ts).
  await billDeferredOutputs(d, trx, jobId, (await jobInfo(s, d, jobId, trx))?.spec);
  const info = s.jobCache.get(jobId);
  if (info) info.status = 'failed';
  // Open verifications of the job's tasks will never decide: free them.
  const open = await openVerificationsOfJob(trx, jobId);
  for (const v of open) forgetVerification(s, v.task_id);
  await cancelOpenTasks(trx, jobId, t);
  const leases = await leasesOfJob(trx, jobId);
  await cancelLeasesOfJob(trx, jobId, t);
  await releaseJobLocks(s, trx, jobId, t);
  await d.events.append(trx, jobId, 'job.failed', { code, message, ...details });
  d.metrics.jobsFinished.inc({ status: 'failed' });
  return leases;
}

/**
 * Frees the slots of cancelled leases and tells their providers to stop.
 *
 * @example
 * revoke(state, deps, [{ id: assignmentId, provider }], 'job failed');
 */
export function revoke(s: WorkState, d: WorkDeps, leases: Lease[], reason: string): void {
  for (const l of leases) {
    d.scheduler.release(l.provider);
    send(s, l.provider, { type: 'cancel', assignmentId: l.id as Hex, reason });
  }
}

/**
 * Process-side bookkeeping after a verdict's transaction committed: a finished job leaves the
 * cache and is counted, a failed job's leases are revoked, and the job's watchers are woken.
 *
 * @example
 * afterSettle(state, deps, jobId, { jobDone: true, cancelled: [] });
 */
export function afterSettle(s: WorkState, d: WorkDeps, jobId: string, r: Settled): void {
  if (r.jobDone) {
    const info = s.jobCache.get(jobId);
    if (info) info.status = 'completed';
    s.jobCache.delete(jobId);
    d.metrics.jobsFinished.inc({ status: 'completed' });
  }
  revoke(s, d, r.cancelled, 'job failed');
  d.events.notify(jobId);
  if (r.training && d.training) {
    d.training
      .afterTaskCompleted(jobId, r.training)
      .then((done) => {
        if (done) afterSettle(s, d, jobId, { jobDone: true, cancelled: [] });
        // The next round's tasks are queued: lease them.
        void d.dispatch();
      })
      .catch((err: unknown) => d.log.error({ err: String(err), jobId }, 'closing a training round failed'));
  }
}
