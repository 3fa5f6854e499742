/**
 * The task and job an assignment is for, as the coordinator maps them: since protocol v3 an
 * `assign` names neither (src/protocol/taskRef.ts), so tests that follow a task read the mapping
 * from the coordinator's store — a task assignment, or a canary lease under its shadow job.
 */
import type { Store } from '../../src/coordinator/store/openStore.ts';

/**
 * @example
 * const { taskId, jobId } = await leaseTask(coord.store.db, assign);
 */
export async function leaseTask(
  db: Store['db'],
  assign: Record<string, unknown> | { assignmentId: string },
): Promise<{ taskId: string; jobId: string }> {
  const id = assign.assignmentId as string;
  const task = await db
    .selectFrom('assignments')
    .select(['task_id', 'job_id'])
    .where('id', '=', id)
    .executeTakeFirst();
  if (task) return { taskId: task.task_id, jobId: task.job_id };
  const canary = await db
    .selectFrom('canary_assignments as c')
    .innerJoin('shadow_jobs as s', 's.lease_id', 'c.id')
    .select(['c.task_id', 's.id as job_id'])
    .where('c.id', '=', id)
    .executeTakeFirst();
  if (canary) return { taskId: canary.task_id, jobId: canary.job_id };
  throw new Error(`the coordinator has no assignment ${id}`);
}
