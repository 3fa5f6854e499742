/**
 * The per-client lock of escrow admission (docs/scaling.md, "Replicas and escrow"). Admission reads
 * a client's available escrow (its on-chain balance less what open jobs, stored terms and unsettled
 * charges hold) and then stores what spends it (a job, a dataset purchase, a storage term). Within
 * one process a promise chain orders admissions, but replicas on one PostgreSQL database each have
 * their own: two of them could read the same available escrow and both admit (security review s13,
 * F5). So admission runs in one transaction that first takes a transaction-scoped advisory lock on
 * the client (`pg_advisory_xact_lock`), then reads what is reserved and stores the spend: a second
 * replica's admission for the same client waits for the first's commit and reads its job. Other
 * clients' admissions do not wait (their keys differ; a hash collision only makes two wait in turn).
 * SQLite has one writer and one connection: the transaction alone orders admissions there.
 */
import { createHash } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { dialectOf } from '../store/dialect.ts';
import type { Database } from '../store/schema.ts';

/** The first key of the two-key advisory lock: "PLXE" in ASCII (escrow). */
export const ESCROW_LOCK_CLASS = 0x504c5845;

/** The second key: 32 bits of sha256 of the lower-cased client address (a signed int4). */
export function escrowLockKey(client: string): number {
  return createHash('sha256').update(client.toLowerCase()).digest().readInt32BE(0);
}

/**
 * Waits for, then holds until `trx` ends, the client's admission lock (PostgreSQL; nothing on
 * SQLite, where the transaction already runs alone).
 *
 * @example
 * await db.transaction().execute(async (trx) => { await lockClientEscrow(trx, client); … });
 */
export async function lockClientEscrow(trx: Transaction<Database>, client: string): Promise<void> {
  if (dialectOf(trx) !== 'postgres') return;
  await sql`SELECT pg_advisory_xact_lock(${ESCROW_LOCK_CLASS}::int4, ${escrowLockKey(client)}::int4)`.execute(
    trx,
  );
}
