/**
 * The writes of closing an epoch: `computeEpoch`'s outcome (epochComputation.ts) into the store, in
 * the caller's transaction — ledger entries, the slash cursor, the sensor scores of the epoch,
 * this epoch's utilization and next epoch's base prices, and the epoch row itself (`closing`,
 * with its payload, tree and figures). Nothing here decides an amount.
 */
import type { Kysely, Transaction } from 'kysely';
import type { DeviceScore } from '../../sensors/scoring/scoreSensors.ts';
import { storeScores } from '../../sensors/scoring/scoreSensors.ts';
import { payloadToJson } from '../ledger/epochPayload.ts';
import { postEntry } from '../ledger/postEntry.ts';
import type { Database } from '../store/schema.ts';
import type { EpochOutcome } from './epochComputation.ts';
import type { EpochWindow } from './readEpochInputs.ts';

/**
 * Writes a closed epoch. `now` stamps the rows (ledger entries' `created_at`, `updated_at`).
 *
 * @example
 * await db.transaction().execute(async (trx) => {
 *   const outcome = computeEpoch({ ...pre, ...(await readStoreInputs(trx, market, w)), … });
 *   await writeEpoch(trx, w, outcome, pre.sensorScores, now);
 * });
 */
export async function writeEpoch(
  trx: Transaction<Database>,
  w: EpochWindow,
  outcome: EpochOutcome,
  sensorScores: readonly DeviceScore[],
  now: number,
): Promise<void> {
  const { epoch, startsAt, endsAt } = w;
  for (const entry of outcome.entries) await postEntry(trx, entry, now);
  if (outcome.slashesAppliedThrough !== null) {
    const value = String(outcome.slashesAppliedThrough);
    await trx
      .insertInto('market_meta')
      .values({ key: 'slashes_applied_through', value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }
  await storeScores(trx as unknown as Kysely<Database>, 'epoch', startsAt, endsAt, sensorScores, now);
  for (const p of outcome.prices) {
    await trx
      .insertInto('prices')
      .values({ class: p.class, epoch, base_price: p.basePrice.toString(), utilization: p.utilization })
      .onConflict((oc) => oc.columns(['class', 'epoch']).doUpdateSet({ utilization: p.utilization }))
      .execute();
    await trx
      .insertInto('prices')
      .values({ class: p.class, epoch: epoch + 1, base_price: p.nextBasePrice.toString(), utilization: null })
      .onConflict((oc) =>
        oc.columns(['class', 'epoch']).doUpdateSet({ base_price: p.nextBasePrice.toString() }),
      )
      .execute();
  }
  const payload = payloadToJson(outcome.payload);
  const summary = JSON.stringify(outcome.summary);
  await trx
    .insertInto('epochs')
    .values({
      epoch,
      status: 'closing',
      starts_at: startsAt,
      ends_at: endsAt,
      payload,
      tree: outcome.tree,
      summary,
      signatures: null,
      tx_hash: null,
      settled_at: null,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .column('epoch')
        .doUpdateSet({ status: 'closing', payload, tree: outcome.tree, summary, updated_at: now }),
    )
    .execute();
}
