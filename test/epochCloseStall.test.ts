/**
 * An epoch's close on PostgreSQL never waits for good (settlement/closeEpoch.ts, store/pgRetry.ts,
 * docs/scaling.md "Locks and retries"), with two coordinator replicas on one database:
 * - behind a transaction of another replica that holds the epoch open (`holdEpochOpen`, as pricing
 *   does) and does not end, the close gives up after its lock timeout on every try with
 *   PLX_EPOCH_CLOSE_BUSY naming the step it waited in (before: it waited as long as the blocker,
 *   holding the epoch-close lock's queue and settlement with it), the lock waits say who blocks
 *   it, and once the blocker ends the close goes through;
 * - while a close waits, the settlement loop logs which step waits and who blocks it;
 * - in a wait cycle with such a transaction (it holds a row the close writes, then waits for the
 *   epoch-close lock the close holds), PostgreSQL aborts the close (40P01: it waited first) and the
 *   close runs again whole and succeeds (before: the close failed with the deadlock error).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import type { PlexusReader } from '../src/chain/types.ts';
import { createMarket } from '../src/coordinator/market/createMarket.ts';
import { holdEpochOpen } from '../src/coordinator/market/epochCloseLock.ts';
import { type CloseStage, closeEpoch } from '../src/coordinator/settlement/closeEpoch.ts';
import { createSettlement } from '../src/coordinator/settlement/createSettlement.ts';
import { readLockWaits } from '../src/coordinator/store/lockWaits.ts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import { createLogger } from '../src/logger.ts';
import { seedCloseEpochs } from './helpers/closeEpochs.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const skip = await postgresSkip();

/** Two replicas (one pool connection each, as coordinators run) on a fresh database, epoch 2 due. */
async function twoReplicas() {
  const database = await createTestDatabase();
  const a = await openStore({ url: database.url });
  const b = await openStore({ url: database.url });
  const watcher = new pg.Client({ connectionString: database.url });
  await watcher.connect();
  const t0 = Date.now() - 3000;
  await seedCloseEpochs(a, t0);
  const market = createMarket({
    db: a.db,
    clock: {
      epochAt: (t: number) => Math.floor((t - t0) / 1000) + 1,
      startsAt: (e: number) => t0 + (e - 1) * 1000,
      endsAt: (e: number) => t0 + e * 1000,
    } as never,
    log: createLogger('test', { level: 'silent' }),
    now: () => Date.now(),
  });
  const chain = {
    addresses: { settlement: `0x${'5e'.repeat(20)}` },
    publicClient: { chain: { id: 31337 } },
  } as unknown as PlexusReader;
  const close = (extra: Partial<Parameters<typeof closeEpoch>[0]> = {}) =>
    closeEpoch({ db: a.db, market, chain, epoch: 2, emissionPerEpoch: 0n, now: Date.now(), ...extra });
  /** Until `n` sessions of the database wait on a lock. */
  const waiting = async (n: number) => {
    for (let i = 0; i < 2400; i++) {
      const r = await watcher.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      if (r.rows[0].n >= n) return;
      await new Promise((res) => setTimeout(res, 25));
    }
    throw new Error(`${n} session(s) never waited on a lock`);
  };
  const status = async () =>
    (await a.db.selectFrom('epochs').select('status').where('epoch', '=', 2).executeTakeFirstOrThrow())
      .status;
  return {
    database,
    b,
    close,
    waiting,
    status,
    async end() {
      await watcher.end();
      await a.close();
      await b.close();
      await database.drop();
    },
  };
}

/** `p`'s outcome, or 'pending' if it has none within `ms`. */
async function settledWithin<T>(p: Promise<T>, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ pending: true }>((r) => {
    timer = setTimeout(() => r({ pending: true }), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test('postgres: a close behind a transaction that holds the epoch open gives up in bounded time, then closes', {
  skip,
}, async () => {
  const r = await twoReplicas();
  let release = () => {};
  let blocker: Promise<void> | undefined;
  try {
    // Replica B's pricing transaction holds the epoch open and does not end (stuck, or a killed
    // replica's backend that PostgreSQL has not noticed yet).
    const holding = new Promise<void>((held) => {
      blocker = r.b.db.transaction().execute(async (trx) => {
        await holdEpochOpen(trx);
        held();
        await new Promise<void>((res) => {
          release = res;
        });
      });
    });
    await holding;
    const stages: CloseStage[] = [];
    const retries: (string | undefined)[] = [];
    const closing = r.close({
      lockTimeoutMs: 400,
      attempts: 2,
      onStage: (s) => stages.push(s),
      onRetry: (x) => retries.push(x.sqlState),
    });
    await r.waiting(1);
    const waits = await readLockWaits(r.database.url);
    assert.ok(
      waits.some((w) => w.app.startsWith('plexus-coordinator pid=') && w.blockedBy.length > 0),
      `the lock waits name the close and its blocker: ${JSON.stringify(waits)}`,
    );
    const outcome = await settledWithin(closing, 20_000);
    assert.ok(!('pending' in outcome), 'the close gave up within 20 s instead of waiting for the blocker');
    assert.ok('error' in outcome, 'the close failed while the blocker held the epoch open');
    const err = outcome.error as { code?: string; details?: { stage?: string } };
    assert.equal(err.code, 'PLX_EPOCH_CLOSE_BUSY', `the close's error: ${String(outcome.error)}`);
    assert.equal(err.details?.stage, 'epoch-close lock', 'the error names the step that waited');
    assert.deepEqual(retries, ['55P03'], 'one retry after the first lock timeout');
    assert.equal(await r.status(), 'open', 'nothing of the abandoned close was written');
    release();
    await blocker;
    await r.close({ onStage: (s) => stages.push(s) });
    assert.equal(await r.status(), 'closing', 'the close went through once the blocker ended');
    assert.equal(stages.at(-1), 'commit', 'the last stage of a close is its commit');
  } finally {
    release();
    await blocker?.catch(() => {});
    await r.end();
  }
});

test('postgres: a close that PostgreSQL aborts to break a wait cycle runs again and closes', {
  skip,
}, async () => {
  const r = await twoReplicas();
  let blocker: Promise<void> | undefined;
  try {
    let wrote = () => {};
    const written = new Promise<void>((res) => {
      wrote = res;
    });
    let goOn = () => {};
    const proceed = new Promise<void>((res) => {
      goOn = res;
    });
    // Replica B's transaction writes a row the close writes too (epoch 3's cpu price), then asks
    // for the epoch-close lock: the lock order opposite to the close's.
    blocker = r.b.db.transaction().execute(async (trx) => {
      await sql`INSERT INTO prices (class, epoch, base_price, utilization) VALUES ('cpu', 3, '1', NULL)`.execute(
        trx,
      );
      wrote();
      await proceed;
      await holdEpochOpen(trx);
    });
    await written;
    const retries: (string | undefined)[] = [];
    const closing = r.close({ onRetry: (x) => retries.push(x.sqlState) });
    // The close holds the epoch-close lock and waits for B's row; then B waits for the close.
    await r.waiting(1);
    goOn();
    const outcome = await settledWithin(closing, 30_000);
    assert.ok(!('pending' in outcome), 'the close ended within 30 s');
    assert.ok(
      !('error' in outcome),
      `the close succeeded: ${'error' in outcome ? String(outcome.error) : ''}`,
    );
    await blocker;
    assert.deepEqual(retries, ['40P01'], 'PostgreSQL broke the cycle by aborting the close, which ran again');
    assert.equal(await r.status(), 'closing', 'epoch 2 closed');
  } finally {
    await blocker?.catch(() => {});
    await r.end();
  }
});

test('postgres: a settlement step that waits past the threshold is logged with its step and its blockers', {
  skip,
}, async () => {
  const database = await createTestDatabase();
  const a = await openStore({ url: database.url });
  const b = await openStore({ url: database.url });
  let release = () => {};
  let blocker: Promise<void> | undefined;
  let settlement: ReturnType<typeof createSettlement> | undefined;
  try {
    // Epoch 1 ended two seconds ago; no row yet (the loop makes them).
    const t0 = Date.now() - 3000;
    const clock = {
      epochAt: (t: number) => Math.floor((t - t0) / 1000) + 1,
      startsAt: (e: number) => t0 + (e - 1) * 1000,
      endsAt: (e: number) => t0 + e * 1000,
    } as never;
    const silent = createLogger('test', { level: 'silent' });
    const market = createMarket({ db: a.db, clock, log: silent, now: () => Date.now() });
    const warnings: { msg: string; obj: Record<string, unknown> }[] = [];
    const log = {
      warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }),
      info: () => {},
      debug: () => {},
      error: () => {},
    };
    const holding = new Promise<void>((held) => {
      blocker = b.db.transaction().execute(async (trx) => {
        await holdEpochOpen(trx);
        held();
        await new Promise<void>((res) => {
          release = res;
        });
      });
    });
    await holding;
    settlement = createSettlement({
      db: a.db,
      market,
      writer: {
        addresses: { settlement: `0x${'5e'.repeat(20)}` },
        publicClient: { chain: { id: 31337 }, readContract: async () => 0n },
      } as never,
      signer: { threshold: 1, collect: async () => [] },
      chainId: 31337,
      emissionPerEpoch: 0n,
      log: log as never,
      slowStepMs: 300,
      lockWaits: () => readLockWaits(database.url),
    });
    const tick = settlement.tick();
    const deadline = Date.now() + 20_000;
    while (!warnings.some((w) => w.msg === 'settlement step slow') && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    const slow = warnings.find((w) => w.msg === 'settlement step slow');
    assert.ok(slow, `a slow-step warning within 20 s (warnings: ${JSON.stringify(warnings)})`);
    assert.equal(slow.obj.epoch, 1, 'the warning names the epoch');
    assert.equal(slow.obj.step, 'close: epoch-close lock', 'the warning names the step that waits');
    const locks = slow.obj.locks as { blockedBy: unknown[] }[];
    assert.ok(
      Array.isArray(locks) && locks.some((l) => l.blockedBy.length > 0),
      `the warning names the blocking sessions: ${JSON.stringify(slow.obj)}`,
    );
    release();
    await blocker;
    await tick;
    const row = await a.db
      .selectFrom('epochs')
      .select('status')
      .where('epoch', '=', 1)
      .executeTakeFirstOrThrow();
    assert.equal(row.status, 'closing', 'epoch 1 closed once the blocker ended');
  } finally {
    release();
    await blocker?.catch(() => {});
    await settlement?.stop();
    await a.close();
    await b.close();
    await database.drop();
  }
});
