// Review s13, F5: coordinator replicas on one PostgreSQL database admit against one client's escrow
// in turn (a per-client advisory lock held by the transaction that reads what is reserved and
// stores the spend), so together they never reserve more than the escrow holds.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Kysely, Transaction } from 'kysely';
import type { Address } from 'viem';
import type { PlexusReader } from '../src/chain/types.ts';
import { createMarket } from '../src/coordinator/market/createMarket.ts';
import { createEpochClock } from '../src/coordinator/market/epochClock.ts';
import { worstCaseCost } from '../src/coordinator/market/priceExecution.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import type { Database } from '../src/coordinator/store/schema.ts';
import { isPlexusError } from '../src/errors/PlexusError.ts';
import { createLogger } from '../src/logger.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const log = createLogger('market', { level: 'silent' });

/** A chain whose escrow for every client is `escrow`, each read taking an RPC's round trip. */
const chainWith = (escrow: bigint) =>
  ({
    addresses: { escrow: `0x${'11'.repeat(20)}` },
    publicClient: {
      readContract: async ({ functionName }: { functionName: string }) => {
        await new Promise((r) => setTimeout(r, 20));
        return functionName === 'balanceOf' ? escrow : { amount: 0n, readyAt: 0 };
      },
    },
  }) as unknown as PlexusReader;

/**
 * Stores an open job reserving `worst` for `client`, in the admission's transaction (on `db` when
 * none is given, as a store before the fix was called).
 */
const insertJob =
  (client: string, db: Kysely<Database>) => async (worst: bigint, given?: Transaction<Database>) => {
    const trx = given ?? db;
    const t = Date.now();
    await trx
      .insertInto('jobs')
      .values({
        id: `0x${randomBytes(32).toString('hex')}`,
        client,
        nonce: randomBytes(8).toString('hex'),
        kind: 'onnx.infer',
        spec: '{}',
        signed_spec: '{}',
        status: 'queued',
        tasks_total: 10,
        deadline_ms: t + 600_000,
        issued_at: Math.floor(t / 1000),
        signature: '0x',
        max_price: '1000',
        worst_case: worst.toString(),
        error_code: null,
        error_message: null,
        created_at: t,
        updated_at: t,
      } as never)
      .execute();
  };

const outcome = (r: PromiseSettledResult<void>) => {
  if (r.status === 'fulfilled') return 'admitted';
  assert.ok(isPlexusError(r.reason, 'PLX_INSUFFICIENT_ESCROW'), `refused for escrow: ${String(r.reason)}`);
  return 'refused';
};

async function reservedBy(db: Kysely<Database>, client: string): Promise<bigint> {
  const rows = await db.selectFrom('jobs').select('worst_case').where('client', '=', client).execute();
  return rows.reduce((a, r) => a + BigInt(r.worst_case ?? '0'), 0n);
}

test('two replicas on one PostgreSQL admit one job between them when the escrow covers one', {
  skip: await postgresSkip(),
}, async () => {
  const tdb = await createTestDatabase();
  const [s1, s2] = [await openStore({ url: tdb.url }), await openStore({ url: tdb.url })];
  try {
    const client = `0x${randomBytes(20).toString('hex')}` as Address;
    const args = {
      client,
      tasks: 10,
      policy: { kind: 'none' } as never,
      taskTimeoutSec: 60,
      maxPrice: 1000n,
    };
    const worst = worstCaseCost(args);
    const clock = createEpochClock(Date.now(), 3_600_000);
    const m1 = createMarket({ db: s1.db, clock, chain: chainWith(worst), log });
    const m2 = createMarket({ db: s2.db, clock, chain: chainWith(worst), log });
    for (let round = 0; round < 3; round++) {
      await s1.db.deleteFrom('jobs').execute();
      const both = await Promise.allSettled([
        m1.admit(args, insertJob(client, s1.db)),
        m2.admit(args, insertJob(client, s2.db)),
      ]);
      assert.deepEqual(both.map(outcome).sort(), ['admitted', 'refused'], `round ${round}: one admitted`);
      assert.equal(await reservedBy(s1.db, client), worst, `round ${round}: the escrow reserved once`);
    }
    // A fixed charge (a dataset purchase, a storage term) on one replica and a job on the other.
    await s1.db.deleteFrom('jobs').execute();
    const mixed = await Promise.allSettled([
      m1.admitCharge(client, worst, (trx) => insertJob(client, s1.db)(worst, trx)),
      m2.admit(args, insertJob(client, s2.db)),
    ]);
    assert.deepEqual(mixed.map(outcome).sort(), ['admitted', 'refused'], 'a charge and a job: one admitted');
    assert.equal(await reservedBy(s1.db, client), worst, 'the escrow spent once');
    // Another client is not held up by this one's lock, and still admitted.
    const other = `0x${randomBytes(20).toString('hex')}` as Address;
    await m2.admit({ ...args, client: other }, insertJob(other, s2.db));
    assert.equal(await reservedBy(s1.db, other), worst, 'another client admitted');
  } finally {
    await s1.close();
    await s2.close();
    await tdb.drop();
  }
});

test('on SQLite (one writer) admission still refuses the second job over the escrow', async () => {
  const s = await openStore({ url: ':memory:' });
  try {
    const client = `0x${randomBytes(20).toString('hex')}` as Address;
    const args = {
      client,
      tasks: 10,
      policy: { kind: 'none' } as never,
      taskTimeoutSec: 60,
      maxPrice: 1000n,
    };
    const worst = worstCaseCost(args);
    const m = createMarket({
      db: s.db,
      clock: createEpochClock(Date.now(), 3_600_000),
      chain: chainWith(worst),
      log,
    });
    const both = await Promise.allSettled([
      m.admit(args, insertJob(client, s.db)),
      m.admit(args, insertJob(client, s.db)),
    ]);
    assert.deepEqual(both.map(outcome).sort(), ['admitted', 'refused'], 'one admitted');
    assert.equal(await reservedBy(s.db, client), worst, 'the escrow reserved once');
  } finally {
    await s.close();
  }
});
