/**
 * Closing an epoch, the first step of settlement (docs/market.md, "Settlement state machine"):
 * read (readEpochInputs.ts), compute (epochComputation.ts, pure), write (writeEpoch.ts).
 */
import type { Kysely } from 'kysely';
import type { PlexusReader } from '../../chain/types.ts';
import { cumulativeEarnings as earnings } from '../ledger/cumulativeEarnings.ts';
import { payloadFromJson as fromJson, payloadToJson as toJson } from '../ledger/epochPayload.ts';
import { rewardsOf as rewards } from '../ledger/rewardsTree.ts';
import type { Market } from '../market/createMarket.ts';
import type { Database } from '../store/schema.ts';
import { computeEpoch, type EpochSummary as Summary } from './epochComputation.ts';
import { readChainInputs, readStoreInputs } from './readEpochInputs.ts';
import { writeEpoch } from './writeEpoch.ts';

// Names kept where older importers (routes, tests, the devnet check) find them; the ledger owns
// the functions now, so `ledger verify` need not import settlement. New code imports the owners.

/**
 * The stored payload's parser (owned by ledger/epochPayload.ts).
 *
 * @example
 * const payload = payloadFromJson(row.payload!);
 */
export const payloadFromJson = fromJson;

/**
 * The stored payload's serialiser (owned by ledger/epochPayload.ts).
 *
 * @example
 * const json = payloadToJson(payload);
 */
export const payloadToJson = toJson;

/**
 * Cumulative earnings per provider from the ledger (owned by ledger/cumulativeEarnings.ts).
 *
 * @example
 * const earned = await cumulativeEarnings(db, 4);
 */
export const cumulativeEarnings = earnings;

/**
 * The rewards root of cumulative earnings (owned by ledger/rewardsTree.ts).
 *
 * @example
 * const { root } = rewardsOf(await cumulativeEarnings(db, 4));
 */
export const rewardsOf = rewards;

/**
 * Figures of a closed epoch, as GET /v1/epochs shows them (owned by epochComputation.ts).
 *
 * @example
 * const s = JSON.parse(row.summary!) as EpochSummary;
 */
export type EpochSummary = Summary;

/**
 * Closes an epoch: in ONE store transaction it collects the clients' unsettled charges (capped at
 * their on-chain escrow; a shortfall becomes bad debt), applies pending slashes (capped at the
 * provider's on-chain stake), shares the epoch's emission, builds the cumulative rewards tree,
 * sets the next epoch's base prices, and stores the payload with status `closing`. Chain reads
 * happen before the transaction; a crash anywhere leaves either nothing or everything written.
 *
 * @example
 * await closeEpoch({ db, market, chain: writer, epoch: 4, emissionPerEpoch: 100n * PLX, now: Date.now() });
 */
export async function closeEpoch(deps: {
  db: Kysely<Database>;
  market: Market;
  chain: PlexusReader;
  epoch: number;
  emissionPerEpoch: bigint;
  /** Sensor emission of the epoch, shared by device owners by quality (docs/sensors.md). */
  sensorEmissionPerEpoch?: bigint;
  now: number;
}): Promise<void> {
  const { db, market, epoch, now } = deps;
  const w = { epoch, startsAt: market.clock.startsAt(epoch), endsAt: market.clock.endsAt(epoch) };
  const pre = await readChainInputs(db, deps.chain, w);
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('epochs').select('status').where('epoch', '=', epoch).executeTakeFirst();
    if (row && row.status !== 'open') return; // closed already (a replay)
    const outcome = computeEpoch({
      ...w,
      closedAt: now,
      emissionPerEpoch: deps.emissionPerEpoch,
      sensorEmissionPerEpoch: deps.sensorEmissionPerEpoch ?? 0n,
      ...pre,
      ...(await readStoreInputs(trx, market, w)),
    });
    await writeEpoch(trx, w, outcome, pre.sensorScores, now);
  });
}
