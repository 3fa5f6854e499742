/**
 * The writes of closing an epoch: `computeEpoch`'s outcome (epochComputation.ts) into the store, in
 * the caller's transaction — ledger entries, the slash cursor, the sensor scores of the epoch,
 * this epoch's utilization and next epoch's base prices, and the epoch row itself (`closing`,
 * with its payload, tree and figures). Nothing here decides an amount.
 */
import type { Kysely, Transaction } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { DeviceScore } from '../../sensors/scoring/scoreSensors.ts';
import { storeScores } from '../../sensors/scoring/scoreSensors.ts';
import { payloadToJson } from '../ledger/epochPayload.ts';
import { type EntryInput, postEntry } from '../ledger/postEntry.ts';
import { EPOCH_CLOSE_KINDS } from '../ledger/readBalances.ts';
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
  for (const entry of outcome.entries) {
    if (!(await postEntry(trx, entry, now))) await assertSamePostings(trx, entry);
  }
  await assertNoStaleCloseEntries(trx, epoch, outcome.entries);
  await markSlashesApplied(trx, epoch, outcome.slashesApplied);
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

/**
 * A re-close of a reopened epoch (reopenEpochs.ts) computes the settlement entries again; the
 * ledger is append-only, so an entry the first close posted stays. That is right only when it is
 * the same entry: otherwise the first close's books (not only its claim) were wrong, and the
 * re-close stops here, writing nothing.
 */
async function assertSamePostings(trx: Transaction<Database>, entry: EntryInput): Promise<void> {
  const stored = await trx
    .selectFrom('ledger_postings as p')
    .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
    .select(['p.account', 'p.amount'])
    .where('e.ref', '=', entry.ref)
    .execute();
  const want = new Map<string, bigint>();
  for (const p of entry.postings) want.set(p.account, (want.get(p.account) ?? 0n) + p.amount);
  for (const [a, v] of want) if (v === 0n) want.delete(a);
  const same = stored.length === want.size && stored.every((p) => want.get(p.account) === BigInt(p.amount));
  if (!same)
    throw new PlexusError(
      'PLX_EPOCH_REOPEN',
      `re-closing epoch ${entry.epoch} computes entry ${entry.ref} differently from the one its first close posted`,
      { details: { ref: entry.ref } },
    );
}

/**
 * The other half of a re-close's check: an entry its first close posted that the re-close does not
 * compute at all (an emission nobody is eligible for now, a slash no longer requested) would stay
 * in the books and in the next epoch's cumulative earnings while this epoch's claim leaves it out —
 * the chain would then hold less than the claims (InsufficientBacking). Stop instead.
 */
async function assertNoStaleCloseEntries(
  trx: Transaction<Database>,
  epoch: number,
  entries: readonly EntryInput[],
): Promise<void> {
  const computed = new Set(entries.map((e) => e.ref));
  const stale = (
    await trx
      .selectFrom('ledger_entries')
      .select('ref')
      .where('epoch', '=', epoch)
      .where('kind', 'in', EPOCH_CLOSE_KINDS)
      .execute()
  ).filter((r) => !computed.has(r.ref));
  if (stale.length > 0)
    throw new PlexusError(
      'PLX_EPOCH_REOPEN',
      `re-closing epoch ${epoch} no longer computes entry ${stale[0]!.ref} that its first close posted`,
      { details: { ref: stale[0]!.ref } },
    );
}

/**
 * Marks slashes as applied by `epoch` (slashCursor.ts): pending ones only.
 *
 * @example await markSlashesApplied(trx, 12, [7, 9]);
 */
export async function markSlashesApplied(
  trx: Transaction<Database>,
  epoch: number,
  ids: readonly number[],
): Promise<void> {
  // In chunks: an epoch after an outage can apply many (SQLite's bound-parameter limit).
  for (let i = 0; i < ids.length; i += 500)
    await trx
      .updateTable('slashes')
      .set({ applied_epoch: epoch })
      .where('id', 'in', ids.slice(i, i + 500))
      .where('applied_epoch', 'is', null)
      .execute();
}
