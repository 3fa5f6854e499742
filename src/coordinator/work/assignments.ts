/**
 * Looking up what an assignment id a provider sends names, and refusing it unless it is leased to
 * that provider (PLX_STALE_ASSIGNMENT) and names its task by the assignment's opaque reference
 * (PLX_TASK_REF_MISMATCH, protocol v3: src/protocol/taskRef.ts): results, commitments and failure
 * reports all start here.
 */
import type { Transaction } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import { isTaskRefOf } from '../../protocol/taskRef.ts';
import type { Database } from '../store/schema.ts';
import { canaryLease } from './canaryQueries.ts';
import type { WorkDeps } from './workState.ts';

/**
 * Throws PLX_STALE_ASSIGNMENT unless `lease` (a task or canary assignment row) is leased to
 * `address`: a result for a lease that expired, moved or never existed is refused. Then
 * PLX_TASK_REF_MISMATCH unless `taskId`, as the provider sent and signed it, is the assignment's
 * opaque reference (its own id): a statement over a real task id (the pre-v3 scheme, or a task id
 * learnt elsewhere) or over another assignment's id binds nothing the provider was shown.
 *
 * @example
 * assertLeasedTo(canary, address, msg.assignmentId, msg.taskId);
 */
export function assertLeasedTo(
  lease: { provider: string; task_id: string; status: string } | undefined,
  address: string,
  assignmentId: string,
  taskId: string,
): asserts lease is NonNullable<typeof lease> {
  if (!lease || lease.provider.toLowerCase() !== address.toLowerCase() || lease.status !== 'leased') {
    throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${assignmentId} is not leased to ${address}`);
  }
  if (!isTaskRefOf(assignmentId, taskId)) {
    throw new PlexusError(
      'PLX_TASK_REF_MISMATCH',
      `assignment ${assignmentId}: taskId must be the assignment id itself (protocol v3)`,
    );
  }
}

/**
 * What an assignment id a provider sends names: a task assignment (its task and job) or, failing
 * that, a canary lease. Canary leases have ids of their own (random, like every assignment id):
 * only an id that is no task assignment can be one, so the common case costs one query.
 *
 * @example
 * const { task, canary } = await leaseById(deps, msg.assignmentId);
 */
export async function leaseById(d: WorkDeps, assignmentId: string) {
  const task = await d.stmt.first(d.db, d.q.assignmentTask, { id: assignmentId });
  if (task) return { task, canary: undefined };
  const canary = await canaryLease(d.db, assignmentId);
  return { task: undefined, canary };
}

/**
 * What `assignmentId` names, refused with PLX_STALE_ASSIGNMENT unless it is leased to `address`
 * for `taskId` right now. A result calls this before it touches its output blob: a key that holds
 * no lease must not make the coordinator read, decode and hash a file it names (one query, not a
 * 256 MiB read). The lease is checked again inside the result's transaction, where it counts.
 *
 * @example
 * const { task, canary } = await openLeaseOf(deps, address, msg.assignmentId, msg.taskId);
 */
export async function openLeaseOf(d: WorkDeps, address: string, assignmentId: string, taskId: string) {
  const row = await d.stmt.first(d.db, d.q.assignment, { id: assignmentId });
  if (row) {
    assertLeasedTo(row, address, assignmentId, taskId);
    return { task: { task_id: row.task_id, job_id: row.job_id }, canary: undefined };
  }
  const canary = await canaryLease(d.db, assignmentId);
  assertLeasedTo(canary, address, assignmentId, taskId);
  return { task: undefined, canary };
}

/**
 * Loads a leased assignment for `address` or throws PLX_STALE_ASSIGNMENT.
 *
 * @example
 * const a = await leasedAssignment(deps, trx, address, msg.assignmentId, msg.taskId);
 */
export async function leasedAssignment(
  d: WorkDeps,
  trx: Transaction<Database>,
  address: string,
  assignmentId: string,
  taskId: string,
) {
  const a = await d.stmt.first(trx, d.q.assignment, { id: assignmentId });
  assertLeasedTo(a, address, assignmentId, taskId);
  return a;
}

/**
 * Completes a lease of `address` for `taskId` in one statement (the update is conditional on the
 * lease being open, and returns the row), or throws PLX_STALE_ASSIGNMENT as
 * {@link leasedAssignment} does: a result's read of its lease and its completion at once. A
 * throw after it inside the same transaction (or group-commit savepoint) rolls the completion back.
 *
 * @example
 * const a = await completeLeased(deps, trx, address, msg.assignmentId, msg.taskId, deps.now());
 */
export async function completeLeased(
  d: WorkDeps,
  trx: Transaction<Database>,
  address: string,
  assignmentId: string,
  taskId: string,
  at: number,
) {
  const a = await d.stmt.first(trx, d.q.completeLeased, { id: assignmentId, at });
  // The row as it was leased: checked like leasedAssignment's (a row of another provider or task
  // throws, and the caller's rollback undoes the update).
  assertLeasedTo(a && { ...a, status: 'leased' }, address, assignmentId, taskId);
  return a as NonNullable<typeof a>;
}
