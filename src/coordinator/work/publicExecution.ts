/**
 * Which executions a job's public events may mention before the task's verdict (issue 15: nothing
 * about an open task's verification is visible until its verdict). A job's client knows from its
 * spec how many primaries or replicas each task gets, so their leases, results and retries tell
 * nobody anything; an auditor's or a tie-breaker's would tell a primary (and everyone reading the
 * unauthenticated event stream) that its output is being checked. Those stay silent until the
 * verdict, whose view names every execution with its role.
 */
import type { ExecutionRole } from '../verification/taskVerificationTypes.ts';

/** Roles the client's spec already announces (one primary, or its k replicas). */
const ANNOUNCED: ReadonlySet<ExecutionRole> = new Set(['primary', 'replica']);

/**
 * Whether `provider`'s execution of a task may appear in the job's public events now: always for
 * a task without verification (`tv` absent), else only for a primary or a replica.
 *
 * @example if (isAnnounced(tv, address)) await events.append(trx, jobId, 'task.result', { taskId });
 */
export function isAnnounced(
  tv: { log(): readonly { type: string; provider?: string; role?: ExecutionRole }[] } | undefined,
  provider: string,
): boolean {
  if (!tv) return true;
  const who = provider.toLowerCase();
  const assigned = tv.log().findLast((e) => e.type === 'assign' && e.provider?.toLowerCase() === who);
  // An execution this verification does not know (an earlier verification's, on a reopened task):
  // silent, as the safe side.
  return assigned?.role !== undefined && ANNOUNCED.has(assigned.role);
}

/**
 * The same rule at lease time, when the role is known before the verification records it.
 *
 * @example if (isAnnouncedRole(role)) await events.append(trx, jobId, 'task.assigned', { taskId });
 */
export function isAnnouncedRole(role: ExecutionRole): boolean {
  return ANNOUNCED.has(role);
}
