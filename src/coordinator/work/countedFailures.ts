/**
 * How many of a task's `maxAttempts` its ended leases used up. A lease lost with its provider's
 * session before its deadline (`PLX_LEASE_LOST`: the replica holding the session died, the
 * provider's socket closed and it did not come back within the grace, or it came back without the
 * task) is not the provider failing the task: the first {@link LOST_LEASE_ALLOWANCE} of a task do
 * not count; each one past them does, so churn cannot keep a task in the queue forever. The work
 * loop (leases.ts) and the job view (`attempts`, jobs/jobQueries.ts) count the same way.
 */

/** Leases of one task that may be lost with their session before any counts as a failed attempt. */
export const LOST_LEASE_ALLOWANCE = 6;

/**
 * Attempts a task has used up: its failed leases, plus its lost ones past the allowance.
 *
 * @example
 * countedFailures({ failed: 1, lost: 7 }); // 2
 */
export function countedFailures(n: { failed: number; lost: number }): number {
  return n.failed + Math.max(0, n.lost - LOST_LEASE_ALLOWANCE);
}
