/**
 * Which base price a charge is priced at (docs/validators.md "Unit price"): the next epoch's price
 * is set when the epoch before it closes, so a verdict in epoch 3 while epoch 2 is still open (its
 * close waits for epoch 1's finalization) is priced at epoch 2's price, and the charge memo names
 * epoch 2 (`priceEpoch`) so a validator re-derives that exact price from bundle 2. After epoch 2
 * closes (setting epoch 3's price) the charge is priced at epoch 3's and names nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { createLogger } from '../../logger.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import { openStore } from '../store/openStore.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import { createMarket } from './createMarket.ts';

test('a charge posted before the previous epoch closed names the epoch whose price it was priced at', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const market = createMarket({
      db: store.db,
      clock: { epochAt: () => 3, startsAt: () => 0, endsAt: () => 1 } as never,
      log: createLogger('test', { level: 'silent' }),
      now: () => 2_000,
    });
    await sql`PRAGMA foreign_keys = OFF`.execute(store.db);
    const row = (epoch: number, status: 'open' | 'closing') => ({
      epoch,
      status,
      starts_at: 0,
      ends_at: 1,
      payload: null,
      tree: null,
      summary: null,
      signatures: null,
      tx_hash: null,
      settled_at: null,
      updated_at: 0,
    });
    await store.db
      .insertInto('epochs')
      .values([row(1, 'closing'), row(2, 'open'), row(3, 'open')])
      .execute();
    // Epoch 1's close set epoch 2's price; epoch 2's close will set epoch 3's.
    await store.db
      .insertInto('prices')
      .values({ class: 'cpu', epoch: 2, base_price: '200000000000000', utilization: null })
      .execute();
    const spec = {
      kind: 'onnx',
      taskTimeoutSec: 600,
      resources: { gpu: false },
      verification: { policy: 'none' },
    } as unknown as JobSpec;
    const provider = `0x${'0a'.repeat(20)}`;
    const bill = async (n: number) => {
      const verdict = {
        taskId: `0x${String(n).padStart(2, '7').repeat(32)}`,
        status: 'accepted',
        outcomes: [{ provider, outcome: 'unverified' }],
        faults: [],
      } as unknown as Verdict;
      const aid = `0x${String(n).padStart(2, 'a').repeat(32)}`;
      await store.db.transaction().execute((trx) =>
        market.onVerdict(trx, `0x${'1d'.repeat(32)}`, verdict, {
          job: { client: `0x${'0c'.repeat(20)}`, spec, maxPrice: 10n ** 16n },
          executions: [
            {
              assignment_id: aid,
              provider,
              result: JSON.stringify({ usage: { wallMs: 1000, cpuMs: 1000, peakRssBytes: 0 } }),
            },
          ],
        }),
      );
      const e = await store.db
        .selectFrom('ledger_entries')
        .select(['epoch', 'memo'])
        .where('ref', '=', `exec:${aid}`)
        .executeTakeFirstOrThrow();
      return { epoch: e.epoch, memo: JSON.parse(e.memo) as { unitPrice: string; priceEpoch?: number } };
    };
    const before = await bill(1);
    assert.equal(before.epoch, 3, 'the charge accrues to the clock epoch');
    assert.equal(
      before.memo.unitPrice,
      '200000000000000',
      "priced at epoch 2's price, in force until 2 closes",
    );
    assert.equal(before.memo.priceEpoch, 2, 'the memo names the epoch whose price it was');
    // Epoch 2 closes and sets epoch 3's price.
    await store.db.updateTable('epochs').set({ status: 'closing' }).where('epoch', '=', 2).execute();
    await store.db
      .insertInto('prices')
      .values({ class: 'cpu', epoch: 3, base_price: '300000000000000', utilization: null })
      .execute();
    const after = await bill(2);
    assert.equal(after.memo.unitPrice, '300000000000000', "priced at epoch 3's price");
    assert.equal(after.memo.priceEpoch, undefined, 'its own epoch: named by the bundle, not the memo');
  } finally {
    await store.close();
  }
});
