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
import type { WorkDeps } from './workState.ts';

/**
 * Throws PLX_TASK_REF_MISMATCH unless `taskId`, as the provider sent and signed it, is the
 * assignment's opaque reference (its own id): a statement over a real task id (the pre-v3 scheme,
 * or a task id learnt elsewhere) or over another assignment's id binds nothing the provider was
 * shown. Checked before any lookup, so its answer is the same for every lease, open or not, task or
 * canary (issue 15: a wrong `taskId` answered by which table held the lease told canaries apart).
 *
 * @example
 * assertTaskRef(msg.assignmentId, msg.taskId);
 */
export function assertTaskRef(assignmentId: string, taskId: string): void {
  if (!isTaskRefOf(assignmentId, taskId)) {
    throw new PlexusError(
      'PLX_TASK_REF_MISMATCH',
      `assignment ${assignmentId}: taskId must be the assignment id itself (protocol v3)`,
    );
  }
}

/**
 * Throws PLX_TASK_REF_MISMATCH unless `taskId` is the assignment's opaque reference
 * ({@link assertTaskRef}, first: it does not depend on the lease), then PLX_STALE_ASSIGNMENT unless
 * `lease` (a task or canary assignment row) is leased to `address`: a result for a lease that
 * expired, moved or never existed is refused, with one code whichever it was.
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
  assertTaskRef(assignmentId, taskId);
  if (!lease || lease.provider.toLowerCase() !== address.toLowerCase() || lease.status !== 'leased') {
    throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${assignmentId} is not leased to ${address}`);
  }
}

/**
 * What an assignment id a provider sends names: a task assignment (its task and job) or a canary
 * lease (its id, task, known answer, provider and status). One statement either way (`anyLease`):
 * the lookup takes as long for a canary as for a task.
 *
 * @example
 * const { task, canary } = await leaseById(deps, msg.assignmentId);
 */
export async function leaseById(d: WorkDeps, assignmentId: string) {
  const { task, canary } = splitLease(await d.stmt.first(d.db, d.q.anyLease, { id: assignmentId }));
  return { task, canary };
}

/** A row of `anyLease` as the task lease or the canary lease it is. */
function splitLease(
  row:
    | {
        id: string;
        task_id: string;
        job_id: string | null;
        provider: string;
        status: string;
        canary_id: string | null;
      }
    | undefined,
) {
  if (!row) return { task: undefined, canary: undefined, row };
  if (row.canary_id === null)
    return { task: { task_id: row.task_id, job_id: row.job_id as string }, canary: undefined, row };
  const { job_id: _job, canary_id, ...rest } = row;
  return { task: undefined, canary: { ...rest, canary_id }, row };
}

/**
 * What `assignmentId` names, refused with PLX_TASK_REF_MISMATCH unless `taskId` is its reference
 * (before any lookup) and PLX_STALE_ASSIGNMENT unless it is leased to `address` right now (one
 * answer for a lease unknown, ended or another's, task or canary). A result calls this before it
 * touches its output blob: a key that holds no lease must not make the coordinator read, decode and
 * hash a file it names (one query, not a 256 MiB read). The lease is checked again inside the
 * result's transaction, where it counts.
 *
 * @example
 * const { task, canary } = await openLeaseOf(deps, address, msg.assignmentId, msg.taskId);
 */
export async function openLeaseOf(d: WorkDeps, address: string, assignmentId: string, taskId: string) {
  assertTaskRef(assignmentId, taskId);
  const { task, canary, row } = splitLease(await d.stmt.first(d.db, d.q.anyLease, { id: assignmentId }));
  assertLeasedTo(row, address, assignmentId, taskId);
  return { task, canary };
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
