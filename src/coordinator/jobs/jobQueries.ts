/**
 * Reads of the job tables (`jobs`, `tasks`, `assignments`) that the HTTP API serves. The routes
 * shape rows into wire views (src/protocol/http/); the SQL lives here, with the module that writes
 * these tables.
 */
import { type Kysely, sql } from 'kysely';
import { dialectOf } from '../store/dialect.ts';
import type { Database, JobStatus } from '../store/schema.ts';
import { countedFailures } from '../work/countedFailures.ts';

/** Job rows with their progress row (0059: kept apart, since a job's own row is large). */
function jobsWithProgress(db: Kysely<Database>) {
  return db
    .selectFrom('jobs')
    .leftJoin('job_progress as p', 'p.job_id', 'jobs.id')
    .selectAll('jobs')
    .select(['p.tasks_done as progress_done', 'p.updated_at as progress_at']);
}

/**
 * A job row as it reads whole: `tasks_done` from its progress row (none yet: 0) and `updated_at`
 * the later of the job row's (status changes) and its last finished task's.
 */
function withProgress<
  R extends { updated_at: number; progress_done: number | null; progress_at: number | null },
>(row: R): Omit<R, 'progress_done' | 'progress_at'> & { tasks_done: number } {
  const { progress_done, progress_at, ...job } = row;
  return { ...job, tasks_done: progress_done ?? 0, updated_at: Math.max(job.updated_at, progress_at ?? 0) };
}

/**
 * A job row (with `tasks_done`), or undefined when there is none.
 *
 * @example const job = await findJob(db, id); if (!job) throw notFound();
 */
export async function findJob(db: Kysely<Database>, id: string) {
  const row = await jobsWithProgress(db).where('jobs.id', '=', id).executeTakeFirst();
  return row && withProgress(row);
}

/**
 * Whether a job exists (reads its id only).
 *
 * @example if (!(await jobExists(db, id))) throw new PlexusError('PLX_NOT_FOUND', `no job ${id}`);
 */
export async function jobExists(db: Kysely<Database>, id: string): Promise<boolean> {
  const row = await db.selectFrom('jobs').select('id').where('id', '=', id).executeTakeFirst();
  return row !== undefined;
}

/**
 * Jobs newest first (with `tasks_done`, as findJob), optionally of one client (lowercase address)
 * and one status; `spec` is the spec without its `inputs` and `shards` (their lengths in
 * `input_count`, `shard_count`).
 *
 * @example const rows = await listJobs(db, { client: '0xab…', limit: 50 });
 */
export async function listJobs(
  db: Kysely<Database>,
  q: {
    client?: string | undefined;
    status?: JobStatus | undefined;
    limit: number;
    /** Page cursor: only jobs older than this one (its created_at and id), for the next page. */
    before?: { createdAt: number; id: string } | undefined;
  },
) {
  // A summary of each spec, made in the database: its input and shard lists (up to 10,000 cids,
  // ~670 KB a job) become counts, so a page of 200 jobs is not tens of MB parsed and serialised on
  // the event loop (security review s10 F2). `GET /v1/jobs/:id` shows the whole spec.
  const pg = dialectOf(db) === 'postgres';
  const summary = pg
    ? sql<string>`((jobs.spec::jsonb) - 'inputs' - 'shards')::text`
    : sql<string>`json_remove(jobs.spec, '$.inputs', '$.shards')`;
  const count = (key: 'inputs' | 'shards') =>
    pg
      ? sql<number | null>`jsonb_array_length((jobs.spec::jsonb) -> ${sql.lit(key)})`
      : sql<number | null>`json_array_length(jobs.spec, ${sql.lit(`$.${key}`)})`;
  let query = db
    .selectFrom('jobs')
    .leftJoin('job_progress as p', 'p.job_id', 'jobs.id')
    .select([
      'jobs.id',
      'jobs.client',
      'jobs.kind',
      'jobs.status',
      'jobs.tasks_total',
      'jobs.error_code',
      'jobs.error_message',
      'jobs.created_at',
      'jobs.updated_at',
      'jobs.worst_case',
      'p.tasks_done as progress_done',
      'p.updated_at as progress_at',
    ])
    .select([summary.as('spec'), count('inputs').as('input_count'), count('shards').as('shard_count')]);
  if (q.client) query = query.where('jobs.client', '=', q.client);
  if (q.status) query = query.where('jobs.status', '=', q.status);
  const before = q.before;
  if (before)
    query = query.where((eb) =>
      eb.or([
        eb('jobs.created_at', '<', before.createdAt),
        eb.and([eb('jobs.created_at', '=', before.createdAt), eb('jobs.id', '<', before.id)]),
      ]),
    );
  const rows = await query
    .orderBy('jobs.created_at', 'desc')
    .orderBy('jobs.id', 'desc')
    .limit(q.limit)
    .execute();
  return rows.map(withProgress);
}

/**
 * Every task of a job, by index.
 *
 * @example const tasks = await listTasksOfJob(db, job.id);
 */
export async function listTasksOfJob(db: Kysely<Database>, jobId: string) {
  return db
    .selectFrom('tasks')
    .select(['id', 'idx', 'input_cid', 'status', 'attempts', 'output_cid', 'provider', 'last_error'])
    .where('job_id', '=', jobId)
    .orderBy('idx')
    .execute();
}

/**
 * The completed tasks of a job with their stored result (usage and signature JSON), by index.
 *
 * @example const done = await listCompletedTasks(db, job.id);
 */
export async function listCompletedTasks(db: Kysely<Database>, jobId: string) {
  return db
    .selectFrom('tasks')
    .select(['id', 'idx', 'input_cid', 'output_cid', 'provider', 'result'])
    .where('job_id', '=', jobId)
    .where('status', '=', 'completed')
    .orderBy('idx')
    .execute();
}

/**
 * The revoked outputs of a job (0036, work/recheckCaught.ts `revokeOverturnedOutput`), by task id:
 * what the API shows as `revoked` on the task and on its result.
 *
 * @example const revoked = await revokedOutputsOf(db, job.id); revoked.get(taskId)?.replacement;
 */
export async function revokedOutputsOf(db: Kysely<Database>, jobId: string) {
  const rows = await db.selectFrom('output_revocations').selectAll().where('job_id', '=', jobId).execute();
  return new Map(
    rows.map((r) => [
      r.task_id,
      {
        replacement: r.replacement_cid,
        checkedBy: JSON.parse(r.checked_by) as string[],
        refund: r.refund === 1,
        at: r.revoked_at,
      },
    ]),
  );
}

/**
 * Rows per status of `jobs`, `tasks` and `assignments` (one grouped scan each).
 *
 * @example const { jobs } = await countByStatus(db); // [{ status: 'queued', n: 3 }, …]
 */
export async function countByStatus(db: Kysely<Database>) {
  const jobs = await db
    .selectFrom('jobs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const tasks = await db
    .selectFrom('tasks')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const assignments = await db
    .selectFrom('assignments')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  return { jobs, tasks, assignments };
}

/**
 * Jobs submitted and completed per one-minute bucket since `since` (ms): bucket `minute` 0 starts
 * at `since`. Buckets with no job are absent.
 *
 * @example const { submitted, completed } = await jobsPerMinute(db, Date.now() - 3_600_000);
 */
export async function jobsPerMinute(db: Kysely<Database>, since: number) {
  const bucket = (col: 'created_at' | 'updated_at') =>
    sql<number>`cast((${sql.ref(col)} - ${since}) / 60000 as integer)`.as('minute');
  const submitted = await db
    .selectFrom('jobs')
    .select([bucket('created_at'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('created_at', '>=', since)
    .groupBy('minute')
    .execute();
  const completed = await db
    .selectFrom('jobs')
    .select([bucket('updated_at'), (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '=', 'completed')
    .where('updated_at', '>=', since)
    .groupBy('minute')
    .execute();
  return { submitted, completed };
}

/**
 * A provider's most recent assignments (lowercase address), newest first, with the task index.
 *
 * @example const rows = await listProviderAssignments(db, address, 200);
 */
export async function listProviderAssignments(db: Kysely<Database>, address: string, limit: number) {
  return db
    .selectFrom('assignments')
    .innerJoin('tasks', 'tasks.id', 'assignments.task_id')
    .select([
      'assignments.id',
      'assignments.job_id',
      'tasks.idx',
      'assignments.status',
      'assignments.created_at',
      'assignments.finished_at',
      'assignments.error_code',
    ])
    .where('assignments.provider', '=', address)
    .orderBy('assignments.created_at', 'desc')
    .limit(limit)
    .execute();
}

/**
 * Every attempt at a job's tasks, oldest first (at most `limit`).
 *
 * @example const rows = await listJobAssignments(db, job.id, 10_000);
 */
export async function listJobAssignments(db: Kysely<Database>, jobId: string, limit: number) {
  return db
    .selectFrom('assignments')
    .innerJoin('tasks', 'tasks.id', 'assignments.task_id')
    .select([
      'assignments.id',
      'tasks.idx',
      'assignments.provider',
      'assignments.status',
      'assignments.created_at',
      'assignments.finished_at',
      'assignments.error_code',
      'assignments.error_message',
    ])
    .where('assignments.job_id', '=', jobId)
    .orderBy('assignments.created_at')
    .limit(limit)
    .execute();
}

/** A task's executions by outcome (see {@link executionCounts}). */
export type ExecutionCounts = { failed: number; lost: number; running: number; completed: number };

/**
 * Executions per task of a job, by outcome: `lost` (ended `PLX_LEASE_LOST`: its provider's
 * session was lost before the lease's deadline), `failed` (every other failed or expired one: no
 * result), `running` (leased), `completed`. Every role counts (primary, replicas, auditor,
 * tie-breakers).
 *
 * @example const byTask = await executionCounts(db, jobId); byTask.get(taskId)?.failed;
 */
export async function executionCounts(
  db: Kysely<Database>,
  jobId: string,
): Promise<Map<string, ExecutionCounts>> {
  // Through tasks (indexed by job) to assignments (indexed by task): assignments has no job index.
  const rows = await db
    .selectFrom('tasks as t')
    .innerJoin('assignments as a', 'a.task_id', 't.id')
    .select(['a.task_id', 'a.status', 'a.error_code', (eb) => eb.fn.countAll<number>().as('n')])
    .where('t.job_id', '=', jobId)
    .groupBy(['a.task_id', 'a.status', 'a.error_code'])
    .execute();
  const out = new Map<string, ExecutionCounts>();
  for (const r of rows) {
    const c = out.get(r.task_id) ?? { failed: 0, lost: 0, running: 0, completed: 0 };
    const n = Number(r.n);
    if (r.status === 'leased') c.running += n;
    else if (r.status === 'completed') c.completed += n;
    else if (r.error_code === 'PLX_LEASE_LOST') c.lost += n;
    else c.failed += n;
    out.set(r.task_id, c);
  }
  return out;
}

/**
 * A task's tries at its output as `maxAttempts` counts them (work/countedFailures.ts): its failed
 * executions, its lost leases past the allowance, and one for the executions running or done
 * (replicas and audits of one try are one attempt).
 *
 * @example attemptsOf({ failed: 1, lost: 2, running: 0, completed: 2 }); // 2
 */
export function attemptsOf(e: ExecutionCounts): number {
  return countedFailures(e) + (e.running + e.completed > 0 ? 1 : 0);
}
