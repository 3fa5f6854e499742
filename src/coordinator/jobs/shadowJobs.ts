/**
 * Shadow jobs (docs/verification.md "Canaries look like work"): every canary lease goes out under
 * the id of a job of its own — a fresh id, a fresh client address nobody holds, the public part of
 * a real spec of the same model — and that job answers the public job views exactly like a real
 * one (job list, `GET /v1/jobs/:id`, its status following the lease). Nothing about it is
 * readable by anyone but its client, as for every job; its client is nobody.
 */
import { randomBytes } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { JobSpecView } from '../../protocol/http/jobs.ts';
import type { Database, JobStatus } from '../store/schema.ts';

/**
 * The part of a job's spec anyone may read: kind, model, verification policy, public flag. Inputs,
 * label, deadline and everything kind-specific stay with the client (an input seen in one job's
 * public spec and then in an assignment told a canary from new work).
 *
 * @example publicSpecOf(JSON.parse(job.spec)) // { kind: 'onnx.infer', model: 'ab…', verification: { policy: 'audit' } }
 */
export function publicSpecOf(spec: Record<string, unknown>): JobSpecView {
  const out: JobSpecView = {};
  if (typeof spec.kind === 'string') out.kind = spec.kind;
  if (typeof spec.model === 'string') out.model = spec.model;
  if (spec.verification && typeof spec.verification === 'object')
    out.verification = spec.verification as NonNullable<JobSpecView['verification']>;
  if (spec.public === true) out.public = true;
  return out;
}

/**
 * A shadow job's kind and public spec (JSON) from its canary's source job: the public part of the
 * source's spec, never marked public (a public job's tasks are anyone's to read, a shadow job has
 * none to show).
 *
 * @example const { kind, spec } = await shadowSpecOf(trx, canary.source_job_id, canary.model);
 */
export async function shadowSpecOf(
  ex: Kysely<Database> | Transaction<Database>,
  sourceJobId: string,
  model: string,
): Promise<{ kind: string; spec: string }> {
  const source = await ex
    .selectFrom('jobs')
    .select(['kind', 'spec'])
    .where('id', '=', sourceJobId)
    .executeTakeFirst();
  const { public: _public, ...spec } = source
    ? publicSpecOf(JSON.parse(source.spec) as Record<string, unknown>)
    : { kind: 'onnx.infer', model };
  return { kind: source?.kind ?? 'onnx.infer', spec: JSON.stringify(spec) };
}

/** How many recent real executions the submission-to-lease wait of a shadow job is drawn from. */
const WAIT_SAMPLE = 64;

/**
 * Stores the shadow job of canary lease `leaseId` (same transaction as the lease) and returns its
 * id. Its spec is the public part of the canary's source job's spec (same model, same policy). Its
 * submission time lies before the lease by the wait of a recent real execution drawn at random
 * (lease time minus its job's submission): a job created the very moment its task was leased told
 * a canary from real work, which waits in the queue first.
 *
 * @example const jobId = await insertShadowJob(trx, { leaseId: id, sourceJobId, at: now });
 */
export async function insertShadowJob(
  trx: Transaction<Database>,
  a: { leaseId: string; sourceJobId: string; model: string; at: number },
): Promise<string> {
  const { kind, spec } = await shadowSpecOf(trx, a.sourceJobId, a.model);
  const waits = await trx
    .selectFrom('assignments as a')
    .innerJoin('jobs as j', 'j.id', 'a.job_id')
    .select(sql<number>`a.created_at - j.created_at`.as('wait'))
    .orderBy('a.created_at', 'desc')
    .limit(WAIT_SAMPLE)
    .execute();
  const wait =
    waits.length > 0 ? Math.max(0, Number(waits[randomBytes(4).readUInt32BE(0) % waits.length]!.wait)) : 0;
  const id = `0x${randomBytes(32).toString('hex')}`;
  await trx
    .insertInto('shadow_jobs')
    .values({
      id,
      lease_id: a.leaseId,
      client: `0x${randomBytes(20).toString('hex')}`,
      kind,
      spec,
      created_at: a.at - wait,
    })
    .execute();
  return id;
}

/** A shadow job as the job views read it: the shape of a `jobs` row they use. */
export type ShadowJobRow = {
  id: string;
  client: string;
  kind: string;
  spec: string;
  status: JobStatus;
  tasks_total: number;
  tasks_done: number;
  error_code: null;
  error_message: null;
  created_at: number;
  updated_at: number;
  worst_case: null;
};

function shadowQuery(db: Kysely<Database>) {
  return db
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .select([
      's.id',
      's.client',
      's.kind',
      's.spec',
      's.created_at',
      'ca.status as lease',
      'ca.created_at as leased_at',
      'ca.finished_at',
    ]);
}

type ShadowSelect = Awaited<ReturnType<ReturnType<typeof shadowQuery>['execute']>>[number];

function rowOf(r: ShadowSelect): ShadowJobRow {
  const open = r.lease === 'leased';
  return {
    id: r.id,
    client: r.client,
    kind: r.kind,
    spec: r.spec,
    status: open ? 'running' : 'completed',
    tasks_total: 1,
    tasks_done: open ? 0 : 1,
    error_code: null,
    error_message: null,
    created_at: r.created_at,
    // Running since its (only) task was leased, like a real job's first dispatch.
    updated_at: r.finished_at ?? r.leased_at,
    worst_case: null,
  };
}

/**
 * A shadow job by id, or undefined.
 *
 * @example const shadow = await findShadowJob(db, id);
 */
export async function findShadowJob(db: Kysely<Database>, id: string): Promise<ShadowJobRow | undefined> {
  const r = await shadowQuery(db).where('s.id', '=', id).executeTakeFirst();
  if (r) return rowOf(r);
  const p = await db.selectFrom('shadow_pending').selectAll().where('id', '=', id).executeTakeFirst();
  return p ? pendingRowOf(p) : undefined;
}

/** A stocked shadow job (0068) as the job views read it: queued, its one task not yet leased. */
function pendingRowOf(p: {
  id: string;
  client: string;
  kind: string;
  spec: string;
  created_at: number;
}): ShadowJobRow {
  return {
    id: p.id,
    client: p.client,
    kind: p.kind,
    spec: p.spec,
    status: 'queued',
    tasks_total: 1,
    tasks_done: 0,
    error_code: null,
    error_message: null,
    created_at: p.created_at,
    updated_at: p.created_at,
    worst_case: null,
  };
}

/**
 * Shadow jobs newest first, filtered like `listJobs` (status, page cursor, limit); a client filter
 * matches none (a shadow job's client never asks).
 *
 * @example const rows = await listShadowJobs(db, { limit: 50 });
 */
export async function listShadowJobs(
  db: Kysely<Database>,
  q: {
    status?: JobStatus | undefined;
    limit: number;
    before?: { createdAt: number; id: string } | undefined;
  },
): Promise<ShadowJobRow[]> {
  if (q.status === 'failed') return [];
  const before = q.before;
  let pending = db.selectFrom('shadow_pending').selectAll();
  if (before)
    pending = pending.where((eb) =>
      eb.or([
        eb('created_at', '<', before.createdAt),
        eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', before.id)]),
      ]),
    );
  const stocked =
    q.status === undefined || q.status === 'queued'
      ? (await pending.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute()).map(
          pendingRowOf,
        )
      : [];
  if (q.status === 'queued') return stocked;
  let query = shadowQuery(db);
  if (q.status === 'running') query = query.where('ca.status', '=', 'leased');
  if (q.status === 'completed') query = query.where('ca.status', '!=', 'leased');
  if (before)
    query = query.where((eb) =>
      eb.or([
        eb('s.created_at', '<', before.createdAt),
        eb.and([eb('s.created_at', '=', before.createdAt), eb('s.id', '<', before.id)]),
      ]),
    );
  const rows = await query.orderBy('s.created_at', 'desc').orderBy('s.id', 'desc').limit(q.limit).execute();
  return [...rows.map(rowOf), ...stocked];
}

/**
 * Shadow jobs per status (running: lease out; completed: the rest), for the public aggregates.
 *
 * @example const { running, completed } = await countShadowJobs(db);
 */
export async function countShadowJobs(
  db: Kysely<Database>,
): Promise<{ queued: number; running: number; completed: number }> {
  const rows = await db
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .select(['ca.status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('ca.status')
    .execute();
  let running = 0;
  let completed = 0;
  for (const r of rows) {
    if (r.status === 'leased') running += Number(r.n);
    else completed += Number(r.n);
  }
  return { queued: await countPending(db), running, completed };
}

/** How many shadow jobs are stocked ahead of their lease (queued, 0068). */
async function countPending(db: Kysely<Database>): Promise<number> {
  const r = await db
    .selectFrom('shadow_pending')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/**
 * A provider's finished canary leases as its public history lists executions (jobs/jobQueries.ts
 * `listProviderAssignments`): under their shadow job's id, task index 0, a result as `completed`
 * (what a real execution that returned a result shows, right or wrong: faults are listed apart).
 * A history that listed every real execution and never a canary told them apart after the fact.
 *
 * @example const rows = await listProviderShadowLeases(db, address, 200);
 */
export async function listProviderShadowLeases(db: Kysely<Database>, address: string, limit: number) {
  const rows = await db
    .selectFrom('canary_assignments as ca')
    .innerJoin('shadow_jobs as s', 's.lease_id', 'ca.id')
    .select(['ca.id', 's.id as job_id', 'ca.status', 'ca.error_code', 'ca.created_at', 'ca.finished_at'])
    .where('ca.provider', '=', address)
    .where('ca.status', '!=', 'leased')
    .orderBy('ca.created_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    job_id: r.job_id,
    idx: 0,
    status: shadowLeaseStatus(r),
    created_at: r.created_at,
    finished_at: r.finished_at,
    // A reported failure with its code, as a real lease's (0077, work/canaryFailures.ts).
    error_code: r.status === 'expired' ? (r.error_code ?? 'PLX_LEASE_EXPIRED') : null,
  }));
}

/**
 * The status a finished (or open) canary lease shows as its shadow job's execution: `failed` when
 * the provider reported a failure (its code kept, 0077), as a real task's lease it reported failed.
 */
function shadowLeaseStatus(r: { status: string; error_code: string | null }) {
  if (r.status === 'leased') return 'leased' as const;
  if (r.status !== 'expired') return 'completed' as const;
  return r.error_code === null ? ('expired' as const) : ('failed' as const);
}

type StatusRow<S extends string> = { status: S; n: number };

/**
 * What shadow jobs add to the public aggregates of `/v1/stats`, in the shape of `countByStatus`
 * and `jobsPerMinute` (jobs/jobQueries.ts): each is a running job with one assigned task and one
 * leased execution while its lease is out, then a completed job, task and execution (an expired
 * lease: an expired execution; one its provider reported failed: a failed one, 0077). Without them a provider reading the counters around its own lease
 * saw the leased count move for real work only.
 *
 * @example const extra = await shadowAggregates(db, Date.now() - 3_600_000);
 */
export async function shadowAggregates(db: Kysely<Database>, since: number) {
  const rows = await db
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .select([
      'ca.status',
      sql<string | null>`CASE WHEN ca.error_code IS NULL THEN NULL ELSE 'reported' END`.as('error_code'),
      (eb) => eb.fn.countAll<number>().as('n'),
    ])
    .groupBy(['ca.status', sql`CASE WHEN ca.error_code IS NULL THEN NULL ELSE 'reported' END`])
    .execute();
  const jobs: StatusRow<JobStatus>[] = [];
  const tasks: StatusRow<'queued' | 'assigned' | 'completed'>[] = [];
  const assignments: StatusRow<'leased' | 'completed' | 'expired' | 'failed'>[] = [];
  for (const r of rows) {
    const n = Number(r.n);
    const open = r.status === 'leased';
    jobs.push({ status: open ? 'running' : 'completed', n });
    tasks.push({ status: open ? 'assigned' : 'completed', n });
    assignments.push({ status: shadowLeaseStatus(r), n });
  }
  // Stocked ones (0068): a queued job with one queued task, submitted when it was stocked.
  const queued = await countPending(db);
  if (queued > 0) {
    jobs.push({ status: 'queued', n: queued });
    tasks.push({ status: 'queued', n: queued });
  }
  const stockedAt = (
    await db.selectFrom('shadow_pending').select('created_at').where('created_at', '>=', since).execute()
  ).map((r) => r.created_at);
  const recent = await db
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .select(['s.created_at', 'ca.status', 'ca.finished_at'])
    .where((eb) => eb.or([eb('s.created_at', '>=', since), eb('ca.finished_at', '>=', since)]))
    .execute();
  const perMinute = (times: number[]) => {
    const m = new Map<number, number>();
    for (const t of times)
      m.set(Math.floor((t - since) / 60_000), (m.get(Math.floor((t - since) / 60_000)) ?? 0) + 1);
    return [...m].map(([minute, n]) => ({ minute, n }));
  };
  return {
    jobs,
    tasks,
    assignments,
    submitted: perMinute([
      ...recent.filter((r) => r.created_at >= since).map((r) => r.created_at),
      ...stockedAt,
    ]),
    completed: perMinute(
      recent
        .filter((r) => r.status !== 'leased' && (r.finished_at ?? 0) >= since)
        .map((r) => r.finished_at ?? 0),
    ),
  };
}

/**
 * Rows per status (or per minute) of two sources, summed.
 *
 * @example sumRows([{ status: 'running', n: 1 }], [{ status: 'running', n: 2 }]) // [{ status: 'running', n: 3 }]
 */
export function sumRows<K extends string, R extends Record<K, string | number> & { n: number | bigint }>(
  key: K,
  a: readonly R[],
  b: readonly R[],
): R[] {
  const m = new Map<string | number, R>();
  for (const r of [...a, ...b]) {
    const k = r[key];
    const had = m.get(k);
    m.set(k, had ? { ...had, n: Number(had.n) + Number(r.n) } : { ...r, n: Number(r.n) });
  }
  return [...m.values()];
}

/**
 * Whether a stored spec (JSON) opted into public data: such a job's task views are anyone's.
 *
 * @example isPublicJob(job.spec) // false for a private job and for every shadow job
 */
export function isPublicJob(spec: string): boolean {
  return (JSON.parse(spec) as { public?: unknown }).public === true;
}

/**
 * The shadow job a canary lease of task `taskId` went out under (a canary's fault is published as
 * a fault on it: work/faults.ts), or undefined.
 *
 * @example const jobId = await shadowJobOfCanaryTask(trx, canary.task_id);
 */
export async function shadowJobOfCanaryTask(
  ex: Kysely<Database> | Transaction<Database>,
  taskId: string,
): Promise<string | undefined> {
  const r = await ex
    .selectFrom('canary_assignments as ca')
    .innerJoin('shadow_jobs as s', 's.lease_id', 'ca.id')
    .select('s.id')
    .where('ca.task_id', '=', taskId)
    .executeTakeFirst();
  return r?.id;
}
