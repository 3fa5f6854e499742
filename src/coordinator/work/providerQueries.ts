/**
 * The work loop's queries on providers and their standing: sessions (the provider row, its
 * leases, the disconnect grace), reputation, faults and slashes. Each returns the Kysely query's
 * own promise, built and run exactly as the loop ran it inline.
 */
import type { Insertable, Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { ProviderHello } from './workState.ts';

type Executor = Kysely<Database>;

/**
 * A provider's stored reputation (JSON or null).
 *
 * @example
 * const row = await storedReputation(trx, address);
 * const locked = await storedReputation(trx, address, true); // FOR UPDATE (PostgreSQL)
 */
export function storedReputation(ex: Executor, address: string, forUpdate = false) {
  const q = ex.selectFrom('providers').select('reputation').where('address', '=', address);
  return (forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/**
 * Records a proven fault with its evidence.
 *
 * @example
 * await insertFault(trx, { task_id, job_id: '', provider, kind: 'canary', evidence: '{}', created_at: Date.now() });
 */
export function insertFault(ex: Executor, row: Insertable<Database['verification_faults']>) {
  return ex.insertInto('verification_faults').values(row).execute();
}

/**
 * Records a slash entry (settled at the epoch's close).
 *
 * @example
 * await insertSlash(trx, { task_id, provider, amount: '100', evidence: '{}', created_at: Date.now() });
 */
export function insertSlash(ex: Executor, row: Insertable<Database['slashes']>) {
  return ex.insertInto('slashes').values(row).execute();
}

/**
 * A provider's open task leases.
 *
 * @example
 * const leased = await leasesOf(db, address);
 */
export function leasesOf(ex: Executor, address: string) {
  return ex
    .selectFrom('assignments')
    .select(['id', 'task_id', 'job_id', 'provider', 'created_at'])
    .where('provider', '=', address)
    .where('status', '=', 'leased')
    .execute();
}

/**
 * A provider's open canary leases.
 *
 * @example
 * const kept = await canaryLeasesOf(db, address);
 */
export function canaryLeasesOf(ex: Executor, address: string) {
  return ex
    .selectFrom('canary_assignments')
    .select('id')
    .where('provider', '=', address)
    .where('status', '=', 'leased')
    .execute();
}

/**
 * Inserts a connecting provider, or updates its hardware, slots and region and marks it connected.
 *
 * @example
 * await upsertConnected(trx, address, hello, Date.now());
 */
export function upsertConnected(ex: Executor, address: string, hello: ProviderHello, t: number) {
  return ex
    .insertInto('providers')
    .values({
      address,
      hardware: JSON.stringify(hello.hardware),
      slots: hello.slots,
      region: hello.region,
      agent_version: hello.agentVersion,
      connected: 1,
      first_seen: t,
      last_seen: t,
      tasks_completed: 0,
      tasks_failed: 0,
      reputation: null,
    })
    .onConflict((oc) =>
      oc.column('address').doUpdateSet({
        hardware: JSON.stringify(hello.hardware),
        slots: hello.slots,
        region: hello.region,
        agent_version: hello.agentVersion,
        connected: 1,
        last_seen: t,
      }),
    )
    .execute();
}

/**
 * Marks a provider disconnected.
 *
 * @example
 * await markDisconnected(trx, address, Date.now());
 */
export function markDisconnected(ex: Executor, address: string, t: number) {
  return ex
    .updateTable('providers')
    .set({ connected: 0, last_seen: t })
    .where('address', '=', address)
    .execute();
}

/**
 * Shortens a provider's open task leases to expire at `until` (those that would end later).
 *
 * @example
 * await shortenLeases(trx, address, Date.now() + 30_000);
 */
export function shortenLeases(ex: Executor, address: string, until: number) {
  return ex
    .updateTable('assignments')
    .set({ lease_expires_at: until })
    .where('provider', '=', address)
    .where('status', '=', 'leased')
    .where('lease_expires_at', '>', until)
    .execute();
}

/**
 * Shortens a provider's open canary leases to expire at `until` (those that would end later).
 *
 * @example
 * await shortenCanaryLeases(trx, address, Date.now() + 30_000);
 */
export function shortenCanaryLeases(ex: Executor, address: string, until: number) {
  return ex
    .updateTable('canary_assignments')
    .set({ lease_expires_at: until })
    .where('provider', '=', address)
    .where('status', '=', 'leased')
    .where('lease_expires_at', '>', until)
    .execute();
}

/**
 * Gives a provider's open canary leases among `ids` their deadline back (created + the canary's
 * timeout) when a disconnect had shortened them to the reconnect grace.
 *
 * @example
 * await restoreCanaryLeases(trx, address, ['0xab…']);
 */
export async function restoreCanaryLeases(ex: Executor, address: string, ids: readonly string[]) {
  if (ids.length === 0) return;
  await ex
    .updateTable('canary_assignments')
    .set((eb) => ({
      lease_expires_at: eb(
        'created_at',
        '+',
        eb
          .selectFrom('canary_tasks')
          .select('canary_tasks.timeout_ms')
          .whereRef('canary_tasks.id', '=', 'canary_assignments.canary_id'),
      ),
    }))
    .where('provider', '=', address)
    .where('status', '=', 'leased')
    .where('id', 'in', ids)
    .execute();
}

/**
 * When a provider was first seen (its first session), or undefined if never.
 *
 * @example
 * const first = await firstSeenOf(trx, address);
 */
export async function firstSeenOf(ex: Executor, address: string): Promise<number | undefined> {
  const row = await ex
    .selectFrom('providers')
    .select('first_seen')
    .where('address', '=', address)
    .executeTakeFirst();
  return row?.first_seen;
}
