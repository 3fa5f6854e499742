/**
 * Shadow jobs stocked ahead of their canary lease (issue 15; docs/verification.md "Canaries look
 * like work"). A shadow job made at its lease appeared, to anyone polling the job list or
 * `/v1/stats`, already running at that moment — counted neither as submitted nor as queued before,
 * while a real job's first lease turns a job and a task that were queued into running ones. Now
 * the loop keeps a small stock of shadow jobs (`SHADOW_STOCK`), each stocked by its own timer at
 * the recent rate of real submissions (shadowStockTimer.ts: Poisson arrivals, never at a real
 * submission's instant) for a live canary drawn at random, listed
 * and counted as a queued job with one queued task; a canary draw on a provider that has not seen
 * a stocked job's canary claims it, and the lease turns it running exactly as a real first lease
 * does. When no stocked job fits the provider, the lease gets a job of its own as before.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { EventLog } from '../events/createEventLog.ts';
import { shadowSpecOf } from '../jobs/shadowJobs.ts';
import type { Database } from '../store/schema.ts';
import { unseenBy } from './canaryQueries.ts';

/** How many shadow jobs wait stocked at most (each a queued job in public until its lease). */
export const SHADOW_STOCK = 2;

/**
 * Stocks one shadow job when fewer than `stock` wait and the pool has a live canary: a fresh id
 * and client address, the public spec of the canary's source job, submitted `at`.
 *
 * @example await stockShadowJob(db, events, Date.now()); // from shadowStockTimer.ts
 */
export async function stockShadowJob(
  db: Kysely<Database>,
  events: EventLog,
  at: number,
  stock = SHADOW_STOCK,
): Promise<boolean> {
  const waiting = await db
    .selectFrom('shadow_pending')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  if (Number(waiting?.n ?? 0) >= stock) return false;
  const canary = await db
    .selectFrom('canary_tasks')
    .select(['id', 'source_job_id', 'model'])
    .where('retired', '=', 0)
    .orderBy(({ fn }) => fn('random', []))
    .limit(1)
    .executeTakeFirst();
  if (!canary) return false;
  const { kind, spec } = await shadowSpecOf(db, canary.source_job_id, canary.model);
  const id = `0x${randomBytes(32).toString('hex')}`;
  const client = `0x${randomBytes(20).toString('hex')}`;
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('shadow_pending')
      .values({ id, canary_id: canary.id, client, kind, spec, created_at: at })
      .execute();
    // What a real submission appends (insertJobRow.ts): the public event ids advance alike.
    await events.append(trx, id, 'job.submitted', { client, tasks: 1, model: canary.model, label: null });
  });
  return true;
}

/**
 * The oldest `limit` stocked shadow jobs whose canary is live and unseen by `provider` (never
 * issued to it, source task not executed by it), oldest first, each with its canary.
 *
 * @example const stocked = await stockedFor(db, provider, 32);
 */
export async function stockedFor(
  db: Kysely<Database>,
  provider: string,
  limit = 1,
): Promise<{ pendingId: string; canary: Selectable<Database['canary_tasks']> }[]> {
  const rows = await db
    .selectFrom('shadow_pending as p')
    .innerJoin('canary_tasks as c', 'c.id', 'p.canary_id')
    .selectAll('c')
    .select('p.id as pending_id')
    .where('c.retired', '=', 0)
    .where((eb) => unseenBy(eb as never, provider))
    .orderBy('p.created_at')
    .limit(limit)
    .execute();
  return rows.map(({ pending_id, ...canary }) => ({ pendingId: pending_id, canary }));
}

/**
 * Claims stocked shadow job `pendingId` for canary lease `leaseId` in the caller's transaction:
 * it becomes the lease's shadow job under the same id and submission time. Undefined when it was
 * claimed meanwhile (another replica, another slot).
 *
 * @example const jobId = await claimStocked(trx, pendingId, leaseId);
 */
export async function claimStocked(
  trx: Transaction<Database>,
  pendingId: string,
  leaseId: string,
): Promise<string | undefined> {
  const p = await trx.selectFrom('shadow_pending').selectAll().where('id', '=', pendingId).executeTakeFirst();
  if (!p) return undefined;
  const gone = await trx.deleteFrom('shadow_pending').where('id', '=', pendingId).executeTakeFirst();
  if (gone.numDeletedRows === 0n) return undefined;
  await trx
    .insertInto('shadow_jobs')
    .values({
      id: p.id,
      lease_id: leaseId,
      client: p.client,
      kind: p.kind,
      spec: p.spec,
      created_at: p.created_at,
    })
    .execute();
  return p.id;
}
