/**
 * The cause a `timeout` is journaled with (docs/validators.md "Timeouts"): the provider's last task
 * lease on the task that ended without a result (with its signed failure report, when it sent one),
 * or a canary lease that ran out. Read in the transaction that journals the timeout.
 */
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import type { TimeoutCause } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';

/**
 * The ended task lease of `provider` on `taskId` that a `timeout` is for (the latest one), with the
 * job's `taskTimeoutSec` its deadline was computed from. Undefined when there is none (the
 * journal entry then goes without a cause, and validators refuse it).
 *
 * @example
 * const cause = await taskTimeoutCause(trx, taskId, provider, job.spec.taskTimeoutSec);
 */
export async function taskTimeoutCause(
  trx: Transaction<Database>,
  taskId: string,
  provider: string,
  timeoutSec: number | undefined,
): Promise<TimeoutCause | undefined> {
  const row = await trx
    .selectFrom('assignments')
    .select(['id', 'job_id', 'created_at', 'finished_at', 'error_code', 'failure_auth'])
    .where('task_id', '=', taskId)
    .where('provider', '=', provider.toLowerCase())
    .where('status', 'in', ['failed', 'expired'])
    .orderBy('finished_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const failure = row.failure_auth
    ? (JSON.parse(row.failure_auth) as { reasonHash: Hex; issuedAt: number; signature: Hex })
    : undefined;
  return {
    lease: row.id as Hex,
    task: taskId as Hex,
    job: row.job_id as Hex,
    leasedAt: Number(row.created_at),
    endedAt: Number(row.finished_at ?? row.created_at),
    code: row.error_code ?? 'PLX_LEASE_EXPIRED',
    timeoutSec: timeoutSec ?? null,
    ...(failure ? { failure } : {}),
  };
}

/**
 * A canary lease's cause: its lease, deadline and end (read after it was marked expired), and
 * whether it ran out or was lost (the provider reconnected without it).
 *
 * @example
 * const cause = await canaryTimeoutCause(trx, leaseId);
 */
export async function canaryTimeoutCause(
  trx: Transaction<Database>,
  leaseId: string,
): Promise<TimeoutCause | undefined> {
  const row = await trx
    .selectFrom('canary_assignments')
    .select(['id', 'task_id', 'created_at', 'lease_expires_at', 'finished_at'])
    .where('id', '=', leaseId)
    .executeTakeFirst();
  if (!row) return undefined;
  const expiresAt = Number(row.lease_expires_at);
  const endedAt = Number(row.finished_at ?? row.lease_expires_at);
  return {
    canary: row.id as Hex,
    task: row.task_id as Hex,
    leasedAt: Number(row.created_at),
    expiresAt,
    endedAt,
    // Ended before its expiry: the provider came back without it (sessions.ts).
    code: endedAt >= expiresAt ? 'PLX_LEASE_EXPIRED' : 'PLX_LEASE_LOST',
  };
}
