/**
 * Provider reputations across coordinator replicas on one PostgreSQL database: each replica keeps
 * an in-memory copy of the reputations it has seen, and an update must start from the stored row,
 * not from that copy, or it overwrites what another replica wrote since (issue 18).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlobStore } from '../src/coordinator/blobs/createBlobStore.ts';
import { createEventLog } from '../src/coordinator/events/createEventLog.ts';
import { createMetrics } from '../src/coordinator/metrics.ts';
import { createLeastLoadedScheduler } from '../src/coordinator/scheduler/leastLoadedScheduler.ts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import { parseReputation, type ReputationState } from '../src/coordinator/verification/reputation.ts';
import { createWorkContext } from '../src/coordinator/work/createWorkLoop.ts';
import { recordOutcome } from '../src/coordinator/work/faults.ts';
import { refreshReputations } from '../src/coordinator/work/sessions.ts';
import { createLogger } from '../src/logger.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const PROVIDER = '0x00000000000000000000000000000000000000aa';

/** One replica's work loop (its own state, its own connection) on the shared database. */
function replica(store: Store) {
  return createWorkContext({
    db: store.db,
    blobs: {} as BlobStore,
    events: createEventLog(store.db, store.raw),
    scheduler: createLeastLoadedScheduler(),
    chainId: 31337,
    log: createLogger('reputation-replicas', { level: 'silent' }),
    metrics: createMetrics(),
    canaries: { rate: 0 },
    capability: { intervalMs: 3_600_000 },
    ...(store.raw ? { raw: store.raw } : {}),
    shared: true,
  });
}

async function stored(store: Store): Promise<ReputationState> {
  const row = await store.db
    .selectFrom('providers')
    .select('reputation')
    .where('address', '=', PROVIDER)
    .executeTakeFirstOrThrow();
  return parseReputation(JSON.parse(row.reputation!));
}

test('replicas update one provider reputation without losing each other’s updates', {
  skip: await postgresSkip(),
  timeout: 120_000,
}, async () => {
  const { url, drop } = await createTestDatabase();
  const stores: Store[] = [];
  try {
    stores.push(await openStore({ url }), await openStore({ url }));
    const [sa, sb] = stores as [Store, Store];
    const a = replica(sa);
    const b = replica(sb);
    const t = Date.now();
    await sa.db
      .insertInto('providers')
      .values({
        address: PROVIDER,
        hardware: '{}',
        slots: 1,
        region: 'test',
        agent_version: '0',
        connected: 1,
        first_seen: t,
        last_seen: t,
        tasks_completed: 0,
        tasks_failed: 0,
        reputation: null,
      })
      .execute();
    const outcome = (r: typeof a, o: 'valid' | 'fault') =>
      r.work.db.transaction().execute((trx) => recordOutcome(r.state, r.work, trx, PROVIDER, o));

    // A caches the provider's reputation; B proves a fault; A's next update must keep the fault.
    await outcome(a, 'valid');
    await outcome(b, 'fault');
    await outcome(a, 'valid');
    let rep = await stored(sa);
    assert.equal(rep.faults, 1, 'the fault B recorded survives A’s later update');
    assert.equal(rep.verifiedValid, 2);

    // Both at once, each replica on its own connection: every update lands (row lock).
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => [
        outcome(a, 'valid'),
        outcome(b, i % 5 === 0 ? 'fault' : 'valid'),
      ]).flat(),
    );
    rep = await stored(sa);
    assert.equal(rep.verifiedValid, 2 + 10 + 8);
    assert.equal(rep.faults, 1 + 2);

    // A's cached copy (what its scheduler and audit rates read) catches up on its next beat.
    assert.notEqual(a.state.reputations.get(PROVIDER)?.faults, undefined);
    await outcome(b, 'fault');
    assert.notEqual(a.state.reputations.get(PROVIDER)?.faults, 4);
    await refreshReputations(a.state, a.work, [PROVIDER]);
    assert.equal(a.state.reputations.get(PROVIDER)?.faults, 4);
  } finally {
    for (const s of stores) await s.close();
    await drop();
  }
});
