import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from '../store/openStore.ts';
import { accounts } from './accounts.ts';
import { assertBalanced, postEntry } from './postEntry.ts';
import { readBalances } from './readBalances.ts';
import { verifyLedger } from './verifyLedger.ts';

const PLX = 10n ** 18n;

test('entries must balance; a replayed ref writes nothing; the books are append-only', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const { db } = store;
    assert.throws(() => assertBalanced([{ account: 'a', amount: 1n }]), /at least two/);
    assert.throws(
      () =>
        assertBalanced([
          { account: 'a', amount: 1n },
          { account: 'b', amount: -2n },
        ]),
      /sum to -1/,
    );
    await assert.rejects(
      postEntry(db, {
        ref: 'x',
        kind: 'charge',
        epoch: 1,
        postings: [
          { account: 'a', amount: 5n },
          { account: 'b', amount: -4n },
        ],
      }),
      (e: { code?: string }) => e.code === 'PLX_LEDGER_UNBALANCED',
    );
    const client = '0x00000000000000000000000000000000000000c1';
    const provider = '0x00000000000000000000000000000000000000a1';
    // Amounts far above SQLite's 64-bit integers stay exact.
    const big = 123_456_789n * PLX + 1n;
    const charge = {
      ref: 'exec:1',
      kind: 'charge' as const,
      epoch: 1,
      postings: [
        { account: accounts.clientUnsettled(client), amount: big },
        { account: accounts.providerEarnings(provider), amount: -(big - 7n) },
        { account: accounts.protocolFees, amount: -7n },
      ],
    };
    assert.equal(await postEntry(db, charge), true);
    assert.equal(await postEntry(db, charge), false);
    const b = await readBalances(db);
    assert.equal(b.get(accounts.clientUnsettled(client)), big);
    assert.equal(b.get(accounts.providerEarnings(provider)), -(big - 7n));
    assert.equal(
      [...b.values()].reduce((x, y) => x + y, 0n),
      0n,
    );
    await assert.rejects(db.updateTable('ledger_postings').set({ amount: '1' }).execute(), /append-only/);
    await assert.rejects(db.deleteFrom('ledger_entries').execute(), /append-only/);
    assert.deepEqual((await verifyLedger(db)).problems, []);
    // A settled epoch whose stored root is not the ledger's is reported.
    const payload = {
      epoch: '1',
      rewardsRoot: `0x${'11'.repeat(32)}`,
      totalEarned: (big - 7n).toString(),
      charges: [],
      slashes: [],
      emission: '0',
    };
    await db
      .insertInto('epochs')
      .values({
        epoch: 1,
        status: 'settled',
        starts_at: 0,
        ends_at: 1,
        payload: JSON.stringify(payload),
        tree: null,
        summary: null,
        signatures: null,
        tx_hash: null,
        settled_at: 1,
        updated_at: 1,
      })
      .execute();
    const problems = (await verifyLedger(db)).problems;
    assert.deepEqual(
      problems.map((p) => p.check),
      ['rewards'],
    );
  } finally {
    await store.close();
  }
});
