import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import { createMarket } from '../market/createMarket.ts';
import { createEpochClock } from '../market/epochClock.ts';
import { createGroupCommit } from './groupCommit.ts';
import { groupRead } from './groupReads.ts';
import { openStore } from './openStore.ts';

async function scratch() {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-group-reads-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  return {
    store,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('a group read runs once per group-committed transaction, every time elsewhere; a failed read is not kept', async () => {
  const s = await scratch();
  try {
    const commits = createGroupCommit(s.store.db);
    let reads = 0;
    const read = async () => ++reads;
    const got = await Promise.all([1, 2, 3].map(() => commits.run((trx) => groupRead(trx, 'k', read))));
    assert.deepEqual(got, [1, 1, 1], 'the three bodies of one group share the first read');
    const next = await Promise.all([1, 2].map(() => commits.run((trx) => groupRead(trx, 'k', read))));
    assert.deepEqual(next, [2, 2], 'the next group reads again');
    await s.store.db.transaction().execute(async (trx) => {
      assert.equal(await groupRead(trx, 'k', read), 3, 'a transaction of its own reads');
      assert.equal(await groupRead(trx, 'k', read), 4, 'and reads each time');
    });
    assert.equal(await groupRead(s.store.db, 'k', read), 5, 'a plain read reads');
    let tries = 0;
    const flaky = async () => {
      tries++;
      if (tries === 1) throw new Error('busy');
      return tries;
    };
    const outcome = await Promise.all(
      [1, 2].map(() => commits.run((trx) => groupRead(trx, 'f', flaky).catch((err: Error) => err.message))),
    );
    assert.deepEqual(outcome, ['busy', 2], 'the body after a failed read reads again');
  } finally {
    await s.close();
  }
});

test('the market reads the last closed epoch and a base price once per group commit', async () => {
  const s = await scratch();
  try {
    const raw = s.store.raw;
    const ran = { epochs: 0, prices: 0 };
    const counting = {
      sqlite: raw.sqlite,
      prepare(text: string) {
        if (text.includes('from "epochs"')) ran.epochs++;
        if (text.includes('from "prices"')) ran.prices++;
        return raw.prepare(text);
      },
    };
    const market = createMarket({
      db: s.store.db,
      clock: createEpochClock(Date.now() - 1000, 3_600_000),
      log: createLogger('test', { level: 'silent' }),
      raw: counting,
    });
    const commits = createGroupCommit(s.store.db);
    const bills = await Promise.all(
      [1, 2, 3].map(() =>
        commits.run(async (trx) => {
          const epoch = await market.currentEpoch(trx);
          return { epoch, price: await market.basePrice(trx, 'cpu', epoch) };
        }),
      ),
    );
    assert.equal(
      new Set(bills.map((b) => `${b.epoch}:${b.price}`)).size,
      1,
      'every body read the same values',
    );
    assert.deepEqual(ran, { epochs: 1, prices: 1 }, 'one read of each for the group of three');
    await market.currentEpoch(s.store.db);
    await market.currentEpoch(s.store.db);
    assert.equal(ran.epochs, 3, 'outside a group commit every call reads');
  } finally {
    await s.close();
  }
});
