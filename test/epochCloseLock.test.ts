/**
 * An epoch's close and the pricing of charges agree (market/epochCloseLock.ts, docs/validators.md
 * "Unit price"), on SQLite and on PostgreSQL (every case its own database): a charge priced at the
 * closing epoch while the close runs commits before the close's time is stamped, so a validator can
 * check "the result came before the price epoch closed" exactly. Before evidence version 10 the
 * close took its time when it began (before its chain reads and its transaction), and a charge
 * billed meanwhile read the epoch as open after its recorded close (test/failoverReplicas.test.ts
 * on a busy machine: 349 ms).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import type { PlexusReader } from '../src/chain/types.ts';
import { createMarket } from '../src/coordinator/market/createMarket.ts';
import { closeEpoch } from '../src/coordinator/settlement/closeEpoch.ts';
import { decodeEvidence } from '../src/coordinator/settlement/evidence.ts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import type { Verdict } from '../src/coordinator/verification/taskVerificationTypes.ts';
import { createLogger } from '../src/logger.ts';
import type { JobSpec } from '../src/protocol/schemas.ts';
import { seedCloseEpochs } from './helpers/closeEpochs.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const pgSkip = await postgresSkip();

const JOB = `0x${'1d'.repeat(32)}`;
const CLIENT = `0x${'0c'.repeat(20)}`;
const PROVIDER = `0x${'0a'.repeat(20)}`;

async function seed(store: Store, t0: number): Promise<void> {
  await seedCloseEpochs(store, t0);
  await store.db
    .insertInto('jobs')
    .values({
      id: JOB,
      client: CLIENT,
      nonce: '1',
      kind: 'inference',
      spec: '{}',
      status: 'running',
      tasks_total: 1,
      deadline_ms: t0 + 3_600_000,
      issued_at: t0,
      signature: '0xsig',
      error_code: null,
      error_message: null,
      created_at: t0,
      updated_at: t0,
    })
    .execute();
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(`${dialect}: a charge priced at the closing epoch commits before the close time is stamped`, {
    skip: dialect === 'postgres' ? pgSkip : false,
  }, async () => {
    const dir = dialect === 'sqlite' ? mkdtempSync(join(tmpdir(), 'plexus-close-lock-')) : undefined;
    const loc = dir ? { url: join(dir, 'plexus.db'), drop: async () => {} } : await createTestDatabase();
    const store = await openStore({ url: loc.url, poolSize: 4 });
    const watcher = dialect === 'postgres' ? new pg.Client({ connectionString: loc.url }) : undefined;
    try {
      await watcher?.connect();
      // Epoch 2 ended a second ago: its close is due, a verdict now accrues to epoch 3 and is
      // priced at epoch 2's price until 2 closes (market/createMarket.ts `epochAndPriceEpoch`).
      const t0 = Date.now() - 3000;
      await seed(store, t0);
      const market = createMarket({
        db: store.db,
        clock: {
          epochAt: (t: number) => Math.floor((t - t0) / 1000) + 1,
          startsAt: (e: number) => t0 + (e - 1) * 1000,
          endsAt: (e: number) => t0 + e * 1000,
        } as never,
        log: createLogger('test', { level: 'silent' }),
        now: () => Date.now(),
      });
      const spec = {
        kind: 'onnx',
        taskTimeoutSec: 600,
        resources: { gpu: false },
        verification: { policy: 'none' },
      } as unknown as JobSpec;
      const verdict = {
        taskId: `0x${'77'.repeat(32)}`,
        status: 'accepted',
        outcomes: [{ provider: PROVIDER, outcome: 'unverified' }],
        faults: [],
      } as unknown as Verdict;
      const aid = `0x${'aa'.repeat(32)}`;
      const waiting = async () => {
        // PostgreSQL: until the server shows the close waiting on a lock.
        for (let i = 0; watcher && i < 2400; i++) {
          const r = await watcher.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
          );
          if (r.rows[0].n > 0) return;
          await new Promise((res) => setTimeout(res, 25));
        }
        if (watcher) throw new Error('the close never waited for the pricing transaction');
      };
      let close: Promise<void> | undefined;
      let calledAt = 0;
      let committedAt = 0;
      await store.db.transaction().execute(async (trx) => {
        await market.onVerdict(trx, JOB, verdict, {
          job: { client: CLIENT, spec, maxPrice: 10n ** 16n },
          executions: [
            {
              assignment_id: aid,
              provider: PROVIDER,
              result: JSON.stringify({ usage: { wallMs: 1000, cpuMs: 1000, peakRssBytes: 0 } }),
            },
          ],
        });
        // Priced at epoch 2 (still open); the close of epoch 2 begins now, as settlement's does.
        calledAt = Date.now();
        close = closeEpoch({
          db: store.db,
          market,
          chain: {
            addresses: { settlement: `0x${'5e'.repeat(20)}` },
            publicClient: { chain: { id: 31337 } },
          } as unknown as PlexusReader,
          epoch: 2,
          emissionPerEpoch: 0n,
          now: calledAt,
          clock: () => Date.now(),
        });
        await waiting();
        // SQLite: one connection, so the close waits for this transaction whatever it does; the
        // result "comes" after the time the old close stamped.
        while (Date.now() <= calledAt) await new Promise((res) => setImmediate(res));
        committedAt = Date.now();
      });
      await close;
      const charge = await store.db
        .selectFrom('ledger_entries')
        .select(['epoch', 'memo'])
        .where('ref', '=', `exec:${aid}`)
        .executeTakeFirstOrThrow();
      assert.equal(
        (JSON.parse(charge.memo) as { priceEpoch?: number }).priceEpoch,
        2,
        'the charge was priced at epoch 2, open when it was billed',
      );
      const { body } = await store.db
        .selectFrom('epoch_evidence')
        .select('body')
        .where('epoch', '=', 2)
        .executeTakeFirstOrThrow();
      const closedAt = decodeEvidence(body).bundle.inputs.closedAt;
      assert.ok(
        closedAt >= committedAt,
        `epoch 2's close is stamped after the charge priced at it committed (closedAt ${closedAt}, charge committed ${committedAt}, close called ${calledAt})`,
      );
    } finally {
      await watcher?.end();
      await store.close();
      await loc.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
}
