import { type Kysely, sql } from 'kysely';
import type { TrainDilocoSpec } from '../../protocol/schemas.ts';
import { notWithdrawn } from '../settlement/slashCursor.ts';
import { queryTemplate } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import { CANARY_CANDIDATES, unseenBy } from './canaryQueries.ts';

/**
 * The queries the work loop runs for every task, built once as templates (see queryTemplate.ts):
 * a lease, a commitment and a result each run several, and building them with Kysely every time
 * cost more CPU than SQLite spent running them. Each is the query the loop built inline before.
 *
 * @example
 * const q = workQueries(db);
 * const a = await first(raw, db, q.assignmentTask, { id: assignmentId });
 */
export function workQueries(db: Kysely<Database>) {
  return {
    /**
     * Queued tasks in queue order after a (queued_at, id) cursor. A row-value comparison on the
     * index (status, queued_at, id) (0060): the index seeks to the cursor and reads `limit` rows.
     * (The `or` it replaced read every queued task of the cursor's queued_at, and a job's tasks
     * share one, then sorted them by id: O(queue) per page, 0.4–1 ms for a 1,500-task job.)
     */
    queuedPage: queryTemplate<'after' | 'afterId' | 'limit', QueuedTask>((p) =>
      db
        .selectFrom('tasks')
        .select(['id', 'job_id', 'input_cid', 'attempts', 'queued_at'])
        .where('status', '=', 'queued')
        .where(({ eb, refTuple, tuple }) =>
          eb(refTuple('queued_at', 'id'), '>', tuple(p('after'), p('afterId'))),
        )
        .orderBy('queued_at')
        .orderBy('id')
        .limit(p('limit')),
    ),
    openVerification: queryTemplate((p: (n: 'taskId') => never) =>
      db
        .selectFrom('task_verifications')
        .selectAll()
        .where('task_id', '=', p('taskId'))
        .where('status', '=', 'open'),
    ),
    saveVerification: queryTemplate(
      (p: (n: 'taskId' | 'jobId' | 'policy' | 'audit' | 'log' | 'at') => never) =>
        db
          .insertInto('task_verifications')
          .values({
            task_id: p('taskId'),
            job_id: p('jobId'),
            policy: p('policy'),
            audit: p('audit'),
            log: p('log'),
            status: 'open',
            verdict: null,
            created_at: p('at'),
            updated_at: p('at'),
          })
          .onConflict((oc) => oc.column('task_id').doUpdateSet({ log: p('log'), updated_at: p('at') })),
    ),
    /** A verdict: the row inserted with it when there is none yet, else its status, verdict and log. */
    settleVerification: queryTemplate(
      (p: (n: 'taskId' | 'jobId' | 'policy' | 'audit' | 'status' | 'verdict' | 'log' | 'at') => never) =>
        db
          .insertInto('task_verifications')
          .values({
            task_id: p('taskId'),
            job_id: p('jobId'),
            policy: p('policy'),
            audit: p('audit'),
            status: p('status'),
            verdict: p('verdict'),
            log: p('log'),
            updated_at: p('at'),
            created_at: p('at'),
          })
          .onConflict((oc) =>
            oc.column('task_id').doUpdateSet({
              status: p('status'),
              verdict: p('verdict'),
              log: p('log'),
              updated_at: p('at'),
            }),
          ),
    ),
    updateVerification: queryTemplate((p: (n: 'taskId' | 'status' | 'verdict' | 'log' | 'at') => never) =>
      db
        .updateTable('task_verifications')
        .set({ status: p('status'), verdict: p('verdict'), log: p('log'), updated_at: p('at') })
        .where('task_id', '=', p('taskId')),
    ),
    setReputation: queryTemplate((p: (n: 'address' | 'reputation') => never) =>
      db
        .updateTable('providers')
        .set({ reputation: p('reputation') })
        .where('address', '=', p('address')),
    ),
    taskCompletedBy: queryTemplate((p: (n: 'address') => never) =>
      db
        .updateTable('providers')
        .set((eb) => ({ tasks_completed: eb('tasks_completed', '+', 1) }))
        .where('address', '=', p('address')),
    ),
    completeTask: queryTemplate((p: (n: 'id' | 'outputCid' | 'provider' | 'result' | 'at') => never) =>
      db
        .updateTable('tasks')
        .set({
          status: 'completed',
          output_cid: p('outputCid'),
          provider: p('provider'),
          result: p('result'),
          updated_at: p('at'),
        })
        .where('id', '=', p('id')),
    ),
    /** One more task of a job done (its row in job_progress, 0059: the job's own row is large). */
    jobTaskDone: queryTemplate((p: (n: 'id' | 'at') => never) =>
      db
        .insertInto('job_progress')
        .values({ job_id: p('id'), tasks_done: 1, updated_at: p('at') })
        .onConflict((oc) =>
          oc.column('job_id').doUpdateSet((eb) => ({
            tasks_done: eb('job_progress.tasks_done', '+', 1),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .returning('tasks_done'),
    ),
    commitmentOf: queryTemplate((p: (n: 'assignmentId') => never) =>
      db.selectFrom('task_commitments').select('commitment').where('assignment_id', '=', p('assignmentId')),
    ),
    insertCommitment: queryTemplate(
      (
        p: (
          n: 'assignmentId' | 'taskId' | 'provider' | 'commitment' | 'issuedAt' | 'signature' | 'at',
        ) => never,
      ) =>
        db.insertInto('task_commitments').values({
          assignment_id: p('assignmentId'),
          task_id: p('taskId'),
          provider: p('provider'),
          commitment: p('commitment'),
          issued_at: p('issuedAt'),
          signature: p('signature'),
          created_at: p('at'),
        }),
    ),
    /** Commitments of a task without an execution (a revealed output) yet. */
    unrevealedCommitments: queryTemplate((p: (n: 'taskId') => never) =>
      db
        .selectFrom('task_commitments as c')
        .select(['c.assignment_id', 'c.provider'])
        .where('c.task_id', '=', p('taskId'))
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('task_executions as e')
                .select('e.assignment_id')
                .whereRef('e.assignment_id', '=', 'c.assignment_id'),
            ),
          ),
        ),
    ),
    // Conditional on the task still being queued AND on the attempt count the dispatcher read:
    // of two replicas leasing the same execution of a task (a redundant task stays queued while
    // it wants more executions), exactly one changes the row (docs/scaling.md, "Dispatch").
    leaseTask: queryTemplate((p: (n: 'id' | 'status' | 'attempts' | 'prev' | 'at') => never) =>
      db
        .updateTable('tasks')
        .set({ status: p('status'), attempts: p('attempts'), updated_at: p('at') })
        .where('id', '=', p('id'))
        .where('status', '=', 'queued')
        .where('attempts', '=', p('prev')),
    ),
    // The billing class and size cap are fixed here, at lease time (0052, 0063; null: none).
    insertAssignment: queryTemplate(
      (
        p: (
          n: 'id' | 'taskId' | 'jobId' | 'provider' | 'expiresAt' | 'at' | 'leaseClass' | 'sizeCap' | 'salt',
        ) => never,
      ) =>
        db.insertInto('assignments').values({
          id: p('id'),
          task_id: p('taskId'),
          job_id: p('jobId'),
          provider: p('provider'),
          status: 'leased',
          lease_expires_at: p('expiresAt'),
          created_at: p('at'),
          finished_at: null,
          error_code: null,
          error_message: null,
          lease_class: p('leaseClass'),
          size_cap_milli: p('sizeCap'),
          lease_salt: p('salt'),
        }),
    ),
    assignmentTask: queryTemplate((p: (n: 'id') => never) =>
      db.selectFrom('assignments').select(['task_id', 'job_id']).where('id', '=', p('id')),
    ),
    assignment: queryTemplate((p: (n: 'id') => never) =>
      db.selectFrom('assignments').selectAll().where('id', '=', p('id')),
    ),
    /**
     * A task lease or a canary lease by id, in one statement either way (`canary_id` null for a
     * task lease, `job_id` null for a canary's): a lookup that took one query for a real lease and
     * two for a canary's told them apart by its time (issue 15).
     */
    anyLease: queryTemplate((p: (n: 'id') => never) =>
      db
        .selectFrom('assignments')
        .select([
          'id',
          'task_id',
          sql<string | null>`job_id`.as('job_id'),
          'provider',
          sql<string>`status`.as('status'),
          sql<string | null>`null`.as('canary_id'),
        ])
        .where('id', '=', p('id'))
        .unionAll(
          db
            .selectFrom('canary_assignments')
            .select([
              'id',
              'task_id',
              sql<string | null>`null`.as('job_id'),
              'provider',
              sql<string>`status`.as('status'),
              'canary_id',
            ])
            .where('id', '=', p('id')),
        ),
    ),
    completeAssignment: queryTemplate((p: (n: 'id' | 'at') => never) =>
      db
        .updateTable('assignments')
        .set({ status: 'completed', finished_at: p('at') })
        .where('id', '=', p('id')),
    ),
    /** The lease completed, if it is still leased: the row as updated (none otherwise). */
    completeLeased: queryTemplate((p: (n: 'id' | 'at') => never) =>
      db
        .updateTable('assignments')
        .set({ status: 'completed', finished_at: p('at') })
        .where('id', '=', p('id'))
        .where('status', '=', 'leased')
        .returningAll(),
    ),
    insertExecution: queryTemplate(
      (
        p: (
          n: 'assignmentId' | 'taskId' | 'provider' | 'outputCid' | 'outputDigest' | 'salt' | 'result' | 'at',
        ) => never,
      ) =>
        db.insertInto('task_executions').values({
          assignment_id: p('assignmentId'),
          task_id: p('taskId'),
          provider: p('provider'),
          output_cid: p('outputCid'),
          output_digest: p('outputDigest'),
          salt: p('salt'),
          result: p('result'),
          created_at: p('at'),
        }),
    ),
    // The sweep's questions (every second).
    expiredCanaries: queryTemplate((p: (n: 'before') => never) =>
      db
        .selectFrom('canary_assignments')
        .select(['id', 'provider'])
        .where('status', '=', 'leased')
        .where('lease_expires_at', '<', p('before'))
        .limit(1000),
    ),
    expiredLeases: queryTemplate((p: (n: 'before') => never) =>
      db
        .selectFrom('assignments')
        .select(['id', 'task_id', 'job_id', 'provider'])
        .where('status', '=', 'leased')
        .where('lease_expires_at', '<', p('before'))
        .limit(1000),
    ),
    lateJobs: queryTemplate((p: (n: 'before') => never) =>
      db
        .selectFrom('jobs')
        .select('id')
        .where('status', 'in', ['queued', 'running'])
        .where('deadline_ms', '<', p('before'))
        .limit(100),
    ),
    /**
     * A provider's committed stake, one amount per row: its open locks, then its slashes not yet
     * applied on chain (no epoch applied them yet) and not withdrawn on review.
     */
    committedStake: queryTemplate((p: (n: 'who') => never) =>
      db
        .selectFrom('stake_locks')
        .select('amount')
        .where('provider', '=', p('who'))
        .where('status', '=', 'locked')
        .unionAll(
          db
            .selectFrom('slashes')
            .select('amount')
            .where('provider', '=', p('who'))
            .where('applied_epoch', 'is', null)
            .where(notWithdrawn),
        ),
    ),
    /** Locks a provider's stake for one lease (stakeLocks.ts). */
    lockStake: queryTemplate(
      (p: (n: 'assignmentId' | 'provider' | 'taskId' | 'jobId' | 'amount' | 'at') => never) =>
        db.insertInto('stake_locks').values({
          assignment_id: p('assignmentId'),
          provider: p('provider'),
          task_id: p('taskId'),
          job_id: p('jobId'),
          amount: p('amount'),
          status: 'locked',
          created_at: p('at'),
          settled_at: null,
        }),
    ),
    /** A task's open stake locks. */
    openTaskLocks: queryTemplate((p: (n: 'taskId') => never) =>
      db
        .selectFrom('stake_locks')
        .select(['assignment_id', 'provider', 'amount'])
        .where('task_id', '=', p('taskId'))
        .where('status', '=', 'locked'),
    ),
    /** Ends one stake lock: released, or slashed. */
    settleLock: queryTemplate((p: (n: 'id' | 'status' | 'at') => never) =>
      db
        .updateTable('stake_locks')
        .set({ status: p('status'), settled_at: p('at') })
        .where('assignment_id', '=', p('id')),
    ),
    /** Canaries of the pool `provider` has not seen (neither issued to it nor its source task run by it), at random. */
    unseenCanaries: queryTemplate((p: (n: 'provider') => never) =>
      db
        .selectFrom('canary_tasks as c')
        .selectAll('c')
        .where('c.retired', '=', 0)
        .where((eb) => unseenBy(eb, p('provider')))
        .orderBy(sql`random()`)
        .limit(CANARY_CANDIDATES),
    ),
    /** A task's executions, oldest first. */
    executionsOf: queryTemplate((p: (n: 'taskId') => never) =>
      db.selectFrom('task_executions').selectAll().where('task_id', '=', p('taskId')).orderBy('created_at'),
    ),
  };
}

export type QueuedTask = {
  id: string;
  job_id: string;
  input_cid: string;
  attempts: number;
  queued_at: number;
};

/**
 * Running `train.diloco` jobs and their specs (a restarted coordinator closes their rounds).
 *
 * @example
 * for (const j of await runningTrainJobs(db)) training.afterTaskCompleted(j.id, j.spec);
 */
export async function runningTrainJobs(
  db: Kysely<Database>,
): Promise<{ id: string; spec: TrainDilocoSpec }[]> {
  const rows = await db
    .selectFrom('jobs')
    .select(['id', 'spec'])
    .where('kind', '=', 'train.diloco')
    .where('status', '=', 'running')
    .execute();
  return rows.map((r) => ({ id: r.id, spec: JSON.parse(r.spec) as TrainDilocoSpec }));
}
