/**
 * Reads behind a provider's timeline (GET /v1/providers/:address/timeline): its session intervals
 * and the postings to its earnings account within a window. Both indexed (provider_sessions by
 * provider and time, migration 0016_provider_uptime; ledger postings by account).
 */
import type { Kysely } from 'kysely';
import { accounts } from '../ledger/accounts.ts';
import type { Database } from '../store/schema.ts';

/**
 * Sessions of `address` that overlap [from, to): started before `to` and not ended before `from`.
 *
 * @example const sessions = await listSessionIntervals(db, address, from, to);
 */
export async function listSessionIntervals(db: Kysely<Database>, address: string, from: number, to: number) {
  const rows = await db
    .selectFrom('provider_sessions')
    .select(['connected_at', 'disconnected_at'])
    .where('provider', '=', address)
    .where('connected_at', '<', to)
    .where((eb) => eb.or([eb('disconnected_at', 'is', null), eb('disconnected_at', '>', from)]))
    .orderBy('connected_at')
    .limit(100_000)
    .execute();
  return rows.map((r) => ({ start: r.connected_at, end: r.disconnected_at }));
}

/**
 * Postings to the provider's earnings account of ledger entries created in [from, to), with the
 * entry's time.
 *
 * @example const postings = await listEarningPostings(db, address, from, to);
 */
export async function listEarningPostings(db: Kysely<Database>, address: string, from: number, to: number) {
  const rows = await db
    .selectFrom('ledger_postings as p')
    .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
    .select(['e.created_at', 'p.amount'])
    .where('p.account', '=', accounts.providerEarnings(address))
    .where('e.created_at', '>=', from)
    .where('e.created_at', '<', to)
    .execute();
  return rows.map((r) => ({ at: r.created_at, amount: r.amount }));
}
