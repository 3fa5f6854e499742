/**
 * The canary pool's and canary leases' queries (canaries.ts and the lookup of an assignment id).
 * Each returns the Kysely query's own promise, built and run exactly as the loop ran it inline.
 */
import type { ExpressionBuilder, Insertable, Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

type Executor = Kysely<Database>;

/**
 * How many candidates of each kind (stocked, unseen) a slot's canary draw looks at, at most
 * (canaryCandidates.ts: review s13 F3).
 */
export const CANARY_CANDIDATES = 32;

/**
 * The condition, on a query over `canary_tasks as c`, that `provider` has neither been issued the
 * canary nor executed its source task (it would know the answer). Shared by the canary draw and
 * the pick of a canary review's checker.
 *
 * @example ex.selectFrom('canary_tasks as c').selectAll('c').where((eb) => unseenBy(eb, provider))
 */
export function unseenBy(
  eb: ExpressionBuilder<Database & { c: Database['canary_tasks'] }, 'c'>,
  provider: string,
) {
  return eb.and([
    eb.not(
      eb.exists(
        eb
          .selectFrom('canary_assignments as ca')
          .select('ca.id')
          .whereRef('ca.canary_id', '=', 'c.id')
          .where('ca.provider', '=', provider),
      ),
    ),
    eb.not(
      eb.exists(
        eb
          .selectFrom('task_executions as te')
          .select('te.assignment_id')
          .whereRef('te.task_id', '=', 'c.source_task_id')
          .where('te.provider', '=', provider),
      ),
    ),
  ]);
}

/**
 * How many canaries are live (not retired), as `n`.
 *
 * @example
 * const live = Number((await liveCanaryCount(trx)).n);
 */
export function liveCanaryCount(ex: Executor) {
  return ex
    .selectFrom('canary_tasks')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('retired', '=', 0)
    .executeTakeFirstOrThrow();
}

/**
 * A task's input.
 *
 * @example
 * const task = await taskInput(trx, taskId);
 */
export function taskInput(ex: Executor, taskId: string) {
  return ex.selectFrom('tasks').select('input_cid').where('id', '=', taskId).executeTakeFirst();
}

/**
 * Adds a canary to the pool unless its source task already is one.
 *
 * @example
 * await insertCanary(trx, row);
 */
export function insertCanary(ex: Executor, row: Insertable<Database['canary_tasks']>) {
  return ex
    .insertInto('canary_tasks')
    .values(row)
    .onConflict((oc) => oc.column('source_task_id').doNothing())
    .execute();
}

/**
 * Stores a canary lease.
 *
 * @example
 * await insertCanaryLease(trx, row);
 */
export function insertCanaryLease(ex: Executor, row: Insertable<Database['canary_assignments']>) {
  return ex.insertInto('canary_assignments').values(row).execute();
}

/**
 * Counts one more issue of a canary, retiring it with `retired` 1.
 *
 * @example
 * await countCanaryIssue(trx, canary.id, canary.issued + 1 >= maxIssues ? 1 : 0);
 */
export function countCanaryIssue(ex: Executor, canaryId: string, retired: 0 | 1) {
  return ex
    .updateTable('canary_tasks')
    .set((eb) => ({ issued: eb('issued', '+', 1), retired }))
    .where('id', '=', canaryId)
    .execute();
}

/**
 * The signed commitment of an assignment, if any.
 *
 * @example
 * const signed = await commitmentOfAssignment(db, assignmentId);
 */
export function commitmentOfAssignment(ex: Executor, assignmentId: string) {
  return ex
    .selectFrom('task_commitments')
    .select('commitment')
    .where('assignment_id', '=', assignmentId)
    .executeTakeFirst();
}

/**
 * A canary of the pool.
 *
 * @example
 * const known = await canaryById(db, id);
 */
export function canaryById(ex: Executor, id: string) {
  return ex.selectFrom('canary_tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/**
 * A canary lease by its assignment id.
 *
 * @example
 * const canary = await canaryLease(db, assignmentId);
 */
export function canaryLease(ex: Executor, id: string) {
  return ex.selectFrom('canary_assignments').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Ends a canary lease that is still leased with its judgement; `numUpdatedRows` 0 when it was not.
 *
 * @example
 * const updated = await finishCanaryLease(trx, id, 'passed', outputCid, Date.now());
 */
export function finishCanaryLease(
  ex: Executor,
  id: string,
  status: 'passed' | 'failed' | 'review',
  outputCid: string,
  t: number,
  result?: { usage: unknown; issuedAt: number; signature: string },
) {
  return ex
    .updateTable('canary_assignments')
    .set({
      status,
      output_cid: outputCid,
      finished_at: t,
      ...(result ? { result: JSON.stringify(result) } : {}),
    })
    .where('id', '=', id)
    .where('status', '=', 'leased')
    .executeTakeFirst();
}

/**
 * Open canary leases, of one provider and/or past `before` (at most 1000).
 *
 * @example
 * const leased = await leasedCanaries(db, { provider: address });
 */
export function leasedCanaries(ex: Executor, where: { provider?: string; before?: number }) {
  let query = ex.selectFrom('canary_assignments').select(['id', 'provider']).where('status', '=', 'leased');
  if (where.provider) query = query.where('provider', '=', where.provider);
  if (where.before !== undefined) query = query.where('lease_expires_at', '<', where.before);
  return query.limit(1000).execute();
}

/**
 * Expires a canary lease that is still leased; `numUpdatedRows` 0 when it was not.
 *
 * @example
 * const u = await expireCanaryLease(trx, id, Date.now());
 */
export function expireCanaryLease(ex: Executor, id: string, t: number) {
  return ex
    .updateTable('canary_assignments')
    .set({ status: 'expired', finished_at: t })
    .where('id', '=', id)
    .where('status', '=', 'leased')
    .executeTakeFirst();
}

/**
 * Keeps the reputation a provider had just before it missed a canary (to make it whole if the
 * canary turns out poisoned).
 *
 * @example
 * await setCanaryRepBefore(trx, leaseId, JSON.stringify(rep));
 */
export function setCanaryRepBefore(ex: Executor, id: string, reputation: string) {
  return ex.updateTable('canary_assignments').set({ rep_before: reputation }).where('id', '=', id).execute();
}
