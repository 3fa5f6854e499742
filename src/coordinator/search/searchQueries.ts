/**
 * Reads behind `GET /v1/search` (api/searchRoutes.ts): every lookup goes through an index (job id,
 * the (client, nonce) unique index, tasks' input and output cids, the jobs_model expression index,
 * provider and device primary keys), and each returns at most `limit` rows.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * A 32-byte hash: a job id, or the transaction that settled an epoch.
 *
 * @example const { jobs, epochs } = await findByHash(db, '0x…', 20);
 */
export async function findByHash(db: Kysely<Database>, hash: string, limit: number) {
  const jobs = await db
    .selectFrom('jobs')
    .select(['id', 'status', 'tasks_total'])
    .where('id', '=', hash)
    .limit(limit)
    .execute();
  const epochs = await db
    .selectFrom('epochs')
    .select(['epoch', 'status'])
    .where('tx_hash', '=', hash)
    .limit(limit)
    .execute();
  return { jobs, epochs };
}

/**
 * An address: a provider, a sensor device (or the devices it owns), and the jobs it submitted.
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
  const jobs = await db
    .selectFrom('jobs')
    .select(['id', 'status', 'tasks_total'])
    .where('client', '=', address)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  return { providers, devices, jobs };
}

/**
 * A content id: jobs using it as their model, or holding it as a task's input or output.
 *
 * @example const rows = await findByCid(db, 'ab…', 20); // [{ id, status, tasks_total, role }]
 */
export async function findByCid(db: Kysely<Database>, cid: string, limit: number) {
  const asModel = await db
    .selectFrom('jobs')
    .select(['id', 'status', 'tasks_total', sql<string>`'model'`.as('role')])
    .where(sql`json_extract(spec, '$.model')`, '=', cid)
    .limit(limit)
    .execute();
  const viaTask = (col: 'input_cid' | 'output_cid', role: string) =>
    db
      .selectFrom('tasks as t')
      .innerJoin('jobs as j', 'j.id', 't.job_id')
      .select(['j.id', 'j.status', 'j.tasks_total', sql<string>`${role}`.as('role')])
      .where(`t.${col}`, '=', cid)
      .groupBy('j.id')
      .limit(limit)
      .execute();
  return [...asModel, ...(await viaTask('input_cid', 'input')), ...(await viaTask('output_cid', 'output'))];
}
