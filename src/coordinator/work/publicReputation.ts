/**
 * Reputation in public (issue 15; docs/verification.md "Reputation in public"). A provider's
 * reputation, trust and audit rate in `GET /v1/providers` are shown as they stood when the current
 * epoch began: a passed canary raised a provider's own score at once while an unaudited real task
 * left it alone, so a provider reading its own row right after answering knew which task was the
 * canary (and so what its shadow job looked like). Within an epoch nothing verified shows; at the
 * boundary the epoch's outcomes show together, unattributable to any one task, which the epoch's
 * evidence (published at its close) names anyway.
 *
 * How: the first change of a provider's reputation in an epoch first copies the reputation it
 * replaces into `public_reputations` (0072) with that epoch; the public view reads the copy while
 * its epoch is the current one, and the stored reputation otherwise (nothing changed since).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Market } from '../market/createMarket.ts';
import type { Database } from '../store/schema.ts';

/** Window of the public snapshot when the loop runs without a market (unit tests): one hour. */
export const PUBLIC_REPUTATION_WINDOW_MS = 3_600_000;

/**
 * The epoch moment `t` falls in, by the market's epoch clock (hour windows without a market).
 *
 * @example publicEpochAt(undefined, 7_200_000) // 2
 */
export function publicEpochAt(market: Partial<Pick<Market, 'clock'>> | undefined, t: number): number {
  // Test markets built from a partial stub may have no clock: hour windows then, as without one.
  return market?.clock ? market.clock.epochAt(t) : Math.floor(t / PUBLIC_REPUTATION_WINDOW_MS);
}

/**
 * Before a provider's reputation changes at `at`: if this is its first change in that epoch, keeps
 * the reputation it had (the stored one, null for a provider never verified) as its public one
 * for the rest of the epoch. Call in the transaction that writes the change, before the write.
 *
 * @example await rollPublicReputation(deps, trx, address, now); // then setReputation
 */
export async function rollPublicReputation(
  d: { market?: Partial<Pick<Market, 'clock'>> | undefined },
  trx: Transaction<Database>,
  provider: string,
  at: number,
): Promise<void> {
  const address = provider.toLowerCase();
  const epoch = publicEpochAt(d.market, at);
  // One read by key per change (no cache: a transaction rolled back would leave it wrong).
  const row = await trx
    .selectFrom('public_reputations')
    .select('epoch')
    .where('provider', '=', address)
    .executeTakeFirst();
  if (!row || row.epoch < epoch) {
    const stored = await trx
      .selectFrom('providers')
      .select('reputation')
      .where('address', '=', address)
      .executeTakeFirst();
    const values = { provider: address, epoch, reputation: stored?.reputation ?? null };
    await trx
      .insertInto('public_reputations')
      .values(values)
      .onConflict((oc) => oc.column('provider').doUpdateSet({ epoch, reputation: values.reputation }))
      .execute();
  }
}

/**
 * The reputation JSON each of `addresses` shows in public during `epoch`, for those whose
 * reputation changed in it (the others show their stored one: unchanged since the epoch began).
 * A null value: the provider had no reputation when the epoch began (a newcomer's is shown).
 *
 * @example const shown = await publicReputationsIn(db, rows.map((p) => p.address), epoch);
 */
export async function publicReputationsIn(
  db: Kysely<Database>,
  addresses: readonly string[],
  epoch: number,
): Promise<Map<string, string | null>> {
  if (addresses.length === 0) return new Map();
  const rows = await db
    .selectFrom('public_reputations')
    .select(['provider', 'reputation'])
    .where(
      'provider',
      'in',
      addresses.map((a) => a.toLowerCase()),
    )
    .where('epoch', '>=', epoch)
    .execute();
  return new Map(rows.map((r) => [r.provider, r.reputation]));
}
