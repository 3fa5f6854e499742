import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGroupCommit } from '../store/groupCommit.ts';
import { openStore } from '../store/openStore.ts';
import { accounts } from './accounts.ts';
import { ALL_EPOCHS, rebuildBalances } from './ledgerBalances.ts';
import { postEntry } from './postEntry.ts';

const PLX = 10n ** 18n;
const client = '0x00000000000000000000000000000000000000c1';
const providers = [
  '0x00000000000000000000000000000000000000a1',
  '0x00000000000000000000000000000000000000a2',
];

const charge = (ref: string, provider: string, amount: bigint, epoch = 1) => ({
  ref,
  kind: 'charge' as const,
  epoch,
  postings: [
    { account: accounts.clientUnsettled(client), amount },
    { account: accounts.providerEarnings(provider), amount: -(amount - 7n) },
    { account: accounts.protocolFees, amount: -7n },
  ],
});

test('a group commit writes the ledger balances of all its bodies once, exactly, without a refused body’s', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const { db, raw } = store;
    // Every statement that touches ledger_balances, by the raw connection (templates run there).
    let balanceStatements = 0;
    const prepare = raw.prepare;
    raw.prepare = (text: string) => {
      if (text.includes('ledger_balances')) balanceStatements++;
      return prepare(text);
    };
    const commits = createGroupCommit(db);
    // Above SQLite's 64-bit integers: the sums stay exact.
    const big = 123_456_789n * PLX + 1n;
    const results = await Promise.allSettled([
      commits.run((trx) => postEntry(trx, charge('exec:1', providers[0]!, big), 1, raw)),
      commits.run(async (trx) => {
        await postEntry(trx, charge('exec:2', providers[1]!, 5n * PLX), 1, raw);
        throw new Error('refused after its entry');
      }),
      commits.run((trx) => postEntry(trx, charge('exec:3', providers[1]!, 3n * PLX), 1, raw)),
      commits.run((trx) => postEntry(trx, charge('exec:4', providers[0]!, 2n * PLX, 2), 1, raw)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    // One read and one upsert for the four bodies (per entry, it was a read and an upsert each).
    assert.equal(balanceStatements, 2);

    const rows = async () =>
      (
        await db
          .selectFrom('ledger_balances')
          .selectAll()
          .orderBy('account')
          .orderBy('epoch')
          .orderBy('closing')
          .execute()
      ).map((r) => `${r.account} ${r.epoch} ${r.closing} ${r.balance}`);
    const grouped = await rows();
    const fees = (epoch: number) =>
      grouped.find((r) => r.startsWith(`${accounts.protocolFees} ${epoch} 0 `))?.split(' ')[3];
    assert.equal(fees(1), '-14', 'two entries of epoch 1 (the refused one not counted)');
    assert.equal(fees(ALL_EPOCHS), '-21');
    const unsettled = grouped.find((r) =>
      r.startsWith(`${accounts.clientUnsettled(client)} ${ALL_EPOCHS} 0 `),
    );
    assert.equal(unsettled?.split(' ')[3], (big + 3n * PLX + 2n * PLX).toString());
    // The same table as rebuilt from the journal (what per-entry writes keep it equal to).
    await rebuildBalances(db);
    assert.deepEqual(await rows(), grouped);

    // A second group adds to the stored rows; an entry outside any group still writes at once.
    await Promise.all([
      commits.run((trx) => postEntry(trx, charge('exec:5', providers[0]!, 11n), 1, raw)),
      commits.run((trx) => postEntry(trx, charge('exec:6', providers[1]!, 13n), 1, raw)),
    ]);
    await postEntry(db, charge('exec:7', providers[1]!, 17n), 1, raw);
    const after = await rows();
    await rebuildBalances(db);
    assert.deepEqual(await rows(), after);
    assert.equal(
      after.find((r) => r.startsWith(`${accounts.protocolFees} ${ALL_EPOCHS} 0 `))?.split(' ')[3],
      '-42',
    );
  } finally {
    await store.close();
  }
});
