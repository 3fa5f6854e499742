/**
 * Reads of the verification tables (`task_verifications`, `verification_faults`, `slashes`) that
 * the explorer serves: grouped outcome counts, a provider's proven faults and a job's per-task
 * verification records. Written by the work loop; read here.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * Grouped counts for the verification totals: task verifications by status, audit draw, policy
 * kind and whether the verdict was verified; faults by kind; slashes by amount (amounts are
 * 18-decimal base units as text, summed by the caller as bigints).
 *
 * @example const { verifications, faults, slashes } = await verificationCounts(db);
 */
export async function verificationCounts(db: Kysely<Database>) {
  const verifications = await db
    .selectFrom('task_verifications')
    .select([
      'status',
      'audit',
      sql<string>`json_extract(policy, '$.kind')`.as('policy'),
      sql<number | null>`json_extract(verdict, '$.verified')`.as('verified'),
      (eb) => eb.fn.countAll<number>().as('n'),
    ])
    .groupBy(['status', 'audit', 'policy', 'verified'])
    .execute();
  const faults = await db
    .selectFrom('verification_faults')
    .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('kind')
    .execute();
  // Slashes of one economics share their amount, so grouping by it keeps this scan short.
  const slashes = await db
    .selectFrom('slashes')
    .select(['amount', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('amount')
    .execute();
  return { verifications, faults, slashes };
}

/**
 * A provider's proven faults (lowercase address), newest first, each with its evidence and the
 * amount of the slash entry of the same task (null when there is none).
 *
 * @example const rows = await listProviderFaults(db, address, 200);
 */
export async function listProviderFaults(db: Kysely<Database>, address: string, limit: number) {
  return (
    db
      .selectFrom('verification_faults as f')
      .leftJoin('slashes as s', (j) =>
        j.onRef('s.task_id', '=', 'f.task_id').onRef('s.provider', '=', 'f.provider'),
      )
      // A canary's fault is shown under its shadow job (issue 15; stored with no job).
      .leftJoin('canary_assignments as ca', (j) =>
        j.onRef('ca.task_id', '=', 'f.task_id').on('f.kind', '=', 'canary'),
      )
      .leftJoin('shadow_jobs as sj', 'sj.lease_id', 'ca.id')
      .select([
        'f.task_id',
        'f.job_id',
        'f.kind',
        'f.evidence',
        'f.created_at',
        's.amount',
        'sj.id as shadow_job_id',
      ])
      .where('f.provider', '=', address)
      .orderBy('f.id', 'desc')
      .limit(limit)
      .execute()
  );
}

/**
 * The verification record of each task of a job, by task index (at most `limit`). Reads through
 * `tasks` (indexed by job) to the per-task rows (keyed by task).
 *
 * @example const rows = await listJobTaskVerifications(db, job.id, 10_000);
 */
export async function listJobTaskVerifications(db: Kysely<Database>, jobId: string, limit: number) {
  return db
    .selectFrom('tasks')
    .innerJoin('task_verifications as v', 'v.task_id', 'tasks.id')
    .select([
      'tasks.idx',
      'v.task_id',
      'v.policy',
      'v.audit',
      'v.status',
      'v.verdict',
      'v.log',
      'v.updated_at',
    ])
    .where('tasks.job_id', '=', jobId)
    .orderBy('tasks.idx')
    .limit(limit)
    .execute();
}

/**
 * Tasks of these jobs that are still open (queued or assigned: no verdict yet), as `jobId:idx`
 * keys. The explorer names no provider of an open task's executions: whoever runs one, in which
 * role, stays secret until the verdict (docs/verification.md, "What the public sees").
 *
 * @example const open = await openTaskKeys(db, [jobId]); rows.filter((r) => !open.has(`${jobId}:${r.idx}`));
 */
export async function openTaskKeys(db: Kysely<Database>, jobIds: readonly string[]): Promise<Set<string>> {
  if (jobIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('tasks')
    .select(['job_id', 'idx'])
    .where('job_id', 'in', [...new Set(jobIds)])
    .where('status', 'in', ['queued', 'assigned'])
    .execute();
  return new Set(rows.map((r) => `${r.job_id}:${r.idx}`));
}
