/**
 * What a canary's answer shows in public (docs/verification.md "Canaries look like work", issue
 * 15). A provider that reads every public surface just before and just after it answers — the
 * verification totals of `/v1/stats`, the public event ids, the network event stream, the
 * Prometheus counters at `/metrics` — must see them move for a canary exactly as they move for the
 * one kind of real task a canary can pass for: a primary's task that no audit was drawn for,
 * accepted `unverified` the moment it reveals. Before, a canary moved none of them (no
 * verification row, no job event, `failed` attempts on a miss), so the answer alone told a ring
 * which tasks were canaries, and pooling that recognised each canary when it reached the next
 * member (it is issued up to 50 times).
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { verificationTotals } from '../api/explorerViews.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Metrics } from '../metrics.ts';
import type { Database } from '../store/schema.ts';
import { verificationCounts } from '../verification/verificationQueries.ts';

/**
 * Appends, in the caller's transaction, what a real unaudited primary's result appends to its
 * job: `task.result` at the reveal, then the verdict's `task.completed` (not verified) and, its
 * only task done, `job.completed` — same types, same count, so the public event ids advance alike.
 * Right or wrong alike (an unaudited wrong answer is also accepted and completed in public).
 *
 * @example const jobId = await appendShadowCompletion(trx, d.events, leaseId);
 */
export async function appendShadowCompletion(
  trx: Transaction<Database>,
  events: EventLog,
  leaseId: string,
): Promise<string | undefined> {
  const row = await trx
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .select(['s.id', 'ca.task_id'])
    .where('s.lease_id', '=', leaseId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { id: jobId, task_id: taskId } = row;
  await events.append(trx, jobId, 'task.result', { taskId });
  await events.append(trx, jobId, 'task.completed', { taskId, verified: false, done: 1, total: 1 });
  await events.append(trx, jobId, 'job.completed', { tasks: 1 });
  return jobId;
}

/**
 * The Prometheus counters a real unaudited one-task job moves when its primary's result is
 * accepted: one finished attempt (`completed`, whatever the answer: a wrong unaudited answer is
 * completed too) and one completed job. A canary miss counted `failed` before.
 *
 * @example countShadowCompletion(d.metrics);
 */
export function countShadowCompletion(metrics: Metrics): void {
  metrics.tasksFinished.inc({ status: 'completed' });
  metrics.jobsFinished.inc({ status: 'completed' });
}

/**
 * Canary leases as rows of the public verification totals (`verificationCounts`' shape): each
 * counts as its shadow job's one task under the shadow job's policy, `open` once it committed and
 * while it is out, then `accepted` and not verified once answered (passed, failed, held for
 * review or voided alike), never audited — what an unaudited real task shows. An expired lease
 * that never answered is not counted (a real one without a commitment has no row either).
 *
 * @example const rows = await shadowVerificationRows(db); // [{ status: 'accepted', audit: 0, policy: 'audit', verified: 0, n: 3 }]
 */
export async function shadowVerificationRows(db: Kysely<Database>) {
  const rows = await db
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .leftJoin('task_commitments as c', 'c.assignment_id', 'ca.id')
    .select([
      'ca.status',
      sql<string | null>`json_extract(s.spec, '$.verification.policy')`.as('policy'),
      sql<number>`CASE WHEN c.assignment_id IS NULL THEN 0 ELSE 1 END`.as('committed'),
      (eb) => eb.fn.countAll<number>().as('n'),
    ])
    .groupBy(['ca.status', 'policy', 'committed'])
    .execute();
  const out: { status: 'open' | 'accepted'; audit: number; policy: string; verified: number; n: number }[] =
    [];
  for (const r of rows) {
    const policy = r.policy ?? 'audit';
    if (r.status === 'leased') {
      if (Number(r.committed) === 1)
        out.push({ status: 'open', audit: 0, policy, verified: 0, n: Number(r.n) });
    } else if (r.status === 'failed') {
      // A faulted miss: published as an audit's fault (publicFaultKind), so counted as a task an
      // audit was drawn for and verified, as that fault's task is; `unverified` with a fault told it.
      out.push({ status: 'accepted', audit: 1, policy, verified: 1, n: Number(r.n) });
    } else if (r.status !== 'expired') {
      out.push({ status: 'accepted', audit: 0, policy, verified: 0, n: Number(r.n) });
    }
  }
  return out;
}

/**
 * The verification totals `/v1/stats` serves: the store's verdicts plus every canary lease as the
 * unaudited task of its shadow job (`shadowVerificationRows`).
 *
 * @example const verification = await publicVerificationTotals(db);
 */
export async function publicVerificationTotals(db: Kysely<Database>) {
  const counts = await verificationCounts(db);
  return verificationTotals({
    ...counts,
    verifications: [...counts.verifications, ...(await shadowVerificationRows(db))],
  });
}
