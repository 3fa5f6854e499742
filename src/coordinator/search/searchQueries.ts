/**
 * Reads behind `GET /v1/search` (api/searchRoutes.ts): every lookup goes through an index (job id,
 * the (client, nonce) unique index, tasks' input and output cids, the jobs_model expression index,
 * provider and device primary keys), and each returns at most `limit` rows.
 */
import { type Kysely, sql } from 'kysely';
import { findShadowJob } from '../jobs/shadowJobs.ts';
import type { Database } from '../store/schema.ts';

/**
 * A 32-byte hash: a job id (a canary's shadow job's too: it is found like any job,
 * docs/verification.md), or the transaction that settled an epoch.
 *
 * @example const { jobs, epochs } = await findByHash(db, '0x…', 20);
 */
export async function findByHash(db: Kysely<Database>, hash: string, limit: number) {
  const real = await db
    .selectFrom('jobs')
    .select(['id', 'status'])
    .where('id', '=', hash)
    .limit(limit)
    .execute();
  const shadow = real.length === 0 ? await findShadowJob(db, hash) : undefined;
  const jobs = shadow ? [{ id: shadow.id, status: shadow.status }] : real;
  const epochs = await db
    .selectFrom('epochs')
    .select(['epoch', 'status'])
    .where('tx_hash', '=', hash)
    .limit(limit)
    .execute();
  return { jobs, epochs };
}

/**
 * An address: a provider, a sensor device (or the devices it owns). Not the jobs a client
 * submitted: whose jobs they are is the client's (docs/verification.md "What the public sees").
 *
 * @example const { providers, devices, jobs } = await findByAddress(db, '0xab…', 20);
 */
export async function findByAddress(db: Kysely<Database>, address: string, limit: number) {
  const providers = await db
    .selectFrom('providers')
    .select(['address', 'region'])
    .where('address', '=', address)
    .execute();
  const devices = await db
    .selectFrom('sensor_devices')
    .select(['address', 'owner', 'model'])
    .where((eb) => eb.or([eb('address', '=', address), eb('owner', '=', address)]))
    .limit(limit)
    .execute();
  return { providers, devices };
}

/**
 * A content id: jobs using it as their model (shadow jobs too). Not the jobs holding it as a
 * task's input or output: those are their clients' (an input found in another job told a canary,
 * which reuses a verified task's input, from new work).
 *
 * @example const rows = await findByCid(db, 'ab…', 20); // [{ id, status, role: 'model' }]
 */
export async function findByCid(db: Kysely<Database>, cid: string, limit: number) {
  const asModel = await db
    .selectFrom('jobs')
    .select(['id', 'status', 'created_at', sql<string>`'model'`.as('role')])
    .where(sql`json_extract(spec, '$.model')`, '=', cid)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  const shadows = await db
    .selectFrom('shadow_jobs as s')
    .innerJoin('canary_assignments as ca', 'ca.id', 's.lease_id')
    .select(['s.id', 'ca.status as lease', 's.created_at'])
    .where(sql`json_extract(s.spec, '$.model')`, '=', cid)
    .orderBy('s.created_at', 'desc')
    .limit(limit)
    .execute();
  // Stocked shadow jobs (0068) are queued jobs of their model like any other.
  const stocked = await db
    .selectFrom('shadow_pending')
    .select(['id', 'created_at'])
    .where(sql`json_extract(spec, '$.model')`, '=', cid)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  const all = [
    ...asModel,
    ...stocked.map((r) => ({ id: r.id, status: 'queued' as const, created_at: r.created_at, role: 'model' })),
    ...shadows.map((r) => ({
      id: r.id,
      status: r.lease === 'leased' ? ('running' as const) : ('completed' as const),
      created_at: r.created_at,
      role: 'model',
    })),
  ];
  return all
    .sort((a, b) => b.created_at - a.created_at)
    .slice(0, limit)
    .map(({ id, status, role }) => ({ id, status, role }));
}
