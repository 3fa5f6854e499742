/**
 * Closing an epoch, the first step of settlement (docs/market.md, "Settlement state machine"):
 * read (readEpochInputs.ts), compute (epochComputation.ts, pure), write (writeEpoch.ts).
 */
import type { Kysely } from 'kysely';
import type { PlexusReader } from '../../chain/types.ts';
import type { Market } from '../market/createMarket.ts';
import type { Database } from '../store/schema.ts';
import { computeEpoch } from './epochComputation.ts';
import { readChainInputs, readStoreInputs } from './readEpochInputs.ts';
import { writeEpoch } from './writeEpoch.ts';

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
