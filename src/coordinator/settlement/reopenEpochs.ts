/**
 * Reopening disputed epochs (docs/validators.md, "After a dispute"). Validators refuse an epoch
 * whose claim its evidence does not give; the contract finalizes epochs in order, so that epoch and
 * every later one wait in `closing` for good. Once the operator has fixed the coordinator, this
 * puts the epochs from the disputed one on back to `open`; the settlement loop then closes them
 * again from the store, publishing new evidence that validators check afresh.
 *
 * The ledger is append-only: the entries the first closes posted stay. A re-close reads the books
 * around them (`readBalances(…, { beforeCloseOf })`) and posts nothing new when it computes the same
 * entries; when it computes a different one it stops (`PLX_EPOCH_REOPEN`, writeEpoch.ts), because
 * then the books themselves were wrong and need a correcting entry, not a new claim.
 */
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Database } from '../store/schema.ts';

/** Statuses an epoch can be reopened from: nothing about it was sent to the chain. */
const REOPENABLE = new Set(['open', 'closing', 'signed']);

/**
 * Reopens every epoch from `from` on, in one store transaction, and returns the epochs whose close
 * was undone. Refuses (PLX_EPOCH_REOPEN) when `from` is not closed or any of them was sent to
 * or finalized on chain. Run it with the coordinator stopped.
 *
 * @example
 * await reopenEpochs(store.db, { from: 7, now: Date.now() }); // → [7, 8]
 */
export async function reopenEpochs(
  db: Kysely<Database>,
  opts: { from: number; now: number },
): Promise<number[]> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('epochs')
      .select(['epoch', 'status'])
      .where('epoch', '>=', opts.from)
      .orderBy('epoch')
      .execute();
    const first = rows[0];
    if (!first || first.epoch !== opts.from || first.status === 'open')
      throw new PlexusError('PLX_EPOCH_REOPEN', `epoch ${opts.from} is not closed: nothing to reopen`);
    const sent = rows.find((r) => !REOPENABLE.has(r.status));
    if (sent)
      throw new PlexusError(
        'PLX_EPOCH_REOPEN',
        `epoch ${sent.epoch} is ${sent.status}: the chain has (or may have) it, so epochs from ${opts.from} cannot change`,
        { details: { epoch: sent.epoch, status: sent.status } },
      );
    const closed = rows.filter((r) => r.status !== 'open').map((r) => r.epoch);
    // The slashes the reopened closes applied are pending again: the re-closes take them anew.
    await trx
      .updateTable('slashes')
      .set({ applied_epoch: null })
      .where('applied_epoch', '>=', opts.from)
      .execute();
    // Seeds a reopened bundle revealed are revealed again by the re-close.
    await trx
      .updateTable('epoch_seeds')
      .set({ revealed_in: null })
      .where('revealed_in', '>=', opts.from)
      .execute();
    // And the canary leases, sensor batches, reputation changes and ended leases they reported are reported again.
    await trx
      .updateTable('canary_assignments')
      .set({ reported_in: null })
      .where('reported_in', '>=', opts.from)
      .execute();
    await trx
      .updateTable('sensor_batches')
      .set({ reported_in: null })
      .where('reported_in', '>=', opts.from)
      .execute();
    await trx
      .updateTable('reputation_journal')
      .set({ reported_in: null })
      .where('reported_in', '>=', opts.from)
      .execute();
    await trx
      .updateTable('assignments')
      .set({ reported_in: null })
      .where('reported_in', '>=', opts.from)
      .execute();
    await trx.deleteFrom('epoch_evidence').where('epoch', '>=', opts.from).execute();
    await trx
      .updateTable('epochs')
      .set({
        status: 'open',
        payload: null,
        tree: null,
        summary: null,
        signatures: null,
        tx_hash: null,
        settled_at: null,
        updated_at: opts.now,
      })
      .where('epoch', '>=', opts.from)
      .execute();
    return closed;
  });
}
