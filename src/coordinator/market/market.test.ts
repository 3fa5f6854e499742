import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { PLX } from '../../chain/constants.ts';
import { createLogger } from '../../logger.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import { openStore } from '../store/openStore.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import {
  BILLED_LEASE_SLACK_MS,
  DEFAULT_CPU_BASE_PRICE,
  MIN_BASE_PRICE,
  PROTOCOL_FEE_BPS,
} from './constants.ts';
import { createMarket } from './createMarket.ts';
import { nextBasePrice } from './nextBasePrice.ts';
import {
  billedUnitsMilli,
  medianBilledUnits,
  paidExecutionsPerTask,
  priceExecution,
  worstCaseCost,
} from './priceExecution.ts';
import { gpuClassOf, taskClass } from './resourceClass.ts';
import { shareEmission } from './shareEmission.ts';

test('base price moves toward the target utilization by at most 12.5% per epoch', () => {
  const p = 8_000_000n;
  assert.equal(nextBasePrice(p, 0.5), p);
  assert.equal(nextBasePrice(p, 1), 9_000_000n);
  assert.equal(nextBasePrice(p, 0), 7_000_000n);
  assert.equal(nextBasePrice(p, 0.75), 8_500_000n);
  // A target below one half would step further than 1/8 when full: clamped.
  assert.equal(nextBasePrice(p, 1, 0.1), 9_000_000n);
  assert.equal(nextBasePrice(MIN_BASE_PRICE, 0), MIN_BASE_PRICE);
  assert.equal(nextBasePrice(p, Number.NaN), 7_000_000n);
  // Repeated full epochs compound but every step stays within the bound.
  let x = DEFAULT_CPU_BASE_PRICE;
  for (let i = 0; i < 20; i++) {
    const y = nextBasePrice(x, 1);
    assert.ok(y * 8n <= x * 9n && y > x, 'y * 8n <= x * 9n && y > x');
    x = y;
  }
});

test('an execution is charged measured usage × price in force, never above the cap, minus the fee', () => {
  const usage = { wallMs: 2000, cpuMs: 3000, peakRssBytes: 0 };
  assert.equal(billedUnitsMilli('cpu', usage, 120), 3000n);
  assert.equal(billedUnitsMilli('cpu', { ...usage, cpuMs: 50_000 }, 120), 8000n); // 4 cores × 2 s
  assert.equal(billedUnitsMilli('cpu', { wallMs: 1e6, cpuMs: 1e7, peakRssBytes: 0 }, 10), 40_000n);
  assert.equal(billedUnitsMilli('gpu:x', usage, 1), 1000n);
  const base = priceExecution({
    cls: 'cpu',
    usage,
    timeoutSec: 120,
    basePrice: 1000n,
    floor: 10n,
    maxPrice: 5000n,
  });
  assert.equal(base.unitPrice, 1000n);
  assert.equal(base.charge, 3000n);
  assert.equal(base.fee, (3000n * PROTOCOL_FEE_BPS) / 10_000n);
  assert.equal(base.fee + base.providerAmount, base.charge);
  assert.equal(
    priceExecution({ cls: 'cpu', usage, timeoutSec: 120, basePrice: 1000n, floor: 2000n, maxPrice: 5000n })
      .unitPrice,
    2000n,
  );
  assert.equal(
    priceExecution({ cls: 'cpu', usage, timeoutSec: 120, basePrice: 9000n, floor: 0n, maxPrice: 5000n })
      .unitPrice,
    5000n,
  );
});

test('median billing: the agreeing executions are billed the median of their units, so one inflated report moves no bill', () => {
  // Three agreeing replicas; one claims 50× the CPU time the others measured.
  const units = [1800n, 90_000n, 1750n];
  assert.equal(medianBilledUnits(units), 1800n);
  // Two (primary and auditor): the lower one; one execution: its own; none: nothing to bill.
  assert.equal(medianBilledUnits([1800n, 90_000n]), 1800n);
  assert.equal(medianBilledUnits([4000n]), 4000n);
  assert.equal(medianBilledUnits([]), undefined);
  const inflated = { wallMs: 30_000, cpuMs: 90_000, peakRssBytes: 0 };
  const billed = priceExecution({
    cls: 'cpu',
    usage: inflated,
    timeoutSec: 120,
    basePrice: 1000n,
    floor: 0n,
    maxPrice: 5000n,
    unitsMilli: medianBilledUnits(units)!,
  });
  assert.equal(billed.unitsMilli, 1800n);
  assert.equal(billed.charge, 1800n);
});

test('worst case covers every paid execution at the cap', () => {
  assert.equal(paidExecutionsPerTask({ kind: 'none' }), 1);
  assert.equal(paidExecutionsPerTask({ kind: 'audit' }), 3);
  assert.equal(paidExecutionsPerTask({ kind: 'redundant', k: 7 }), 7);
  const w = worstCaseCost({ tasks: 2, policy: { kind: 'audit' }, taskTimeoutSec: 10, maxPrice: 7n });
  assert.equal(w, 2n * 3n * 10n * 4n * 7n);
  const most = priceExecution({
    cls: 'cpu',
    usage: { wallMs: 1e9, cpuMs: 1e9, peakRssBytes: 0 },
    timeoutSec: 10,
    basePrice: 10n ** 30n,
    floor: 0n,
    maxPrice: 7n,
  });
  assert.ok(most.charge * 2n * 3n <= w, 'most.charge * 2n * 3n <= w');
});

test('resource classes', () => {
  const h100 = {
    gpus: [{ name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 }],
    executionProviders: ['cuda', 'cpu'],
  };
  assert.equal(gpuClassOf(h100), 'gpu:nvidia-h100-80gb-hbm3');
  assert.equal(gpuClassOf({ ...h100, executionProviders: ['cpu'] }), undefined);
  assert.equal(taskClass(true, h100), 'gpu:nvidia-h100-80gb-hbm3');
  assert.equal(taskClass(false, h100), 'cpu');
  assert.equal(taskClass(true, { gpus: [], executionProviders: ['cpu'] }), 'cpu');
});

test('emission goes to online providers without faults, by capacity × uptime, with a region bonus, summing exactly', () => {
  const epochMs = 60_000;
  const c = (address: string, o: Partial<Parameters<typeof shareEmission>[2][number]> = {}) => ({
    address,
    capacity: 1,
    uptimeMs: epochMs,
    faulted: false,
    region: 'eu',
    ...o,
  });
  const E = 100n * PLX + 7n;
  const even = shareEmission(E, epochMs, [
    c('0xa'),
    c('0xb'),
    c('0xc', { faulted: true }),
    c('0xd', { uptimeMs: 0 }),
  ]);
  assert.deepEqual([...even.keys()].sort(), ['0xa', '0xb']);
  assert.equal(
    [...even.values()].reduce((a, b) => a + b),
    E,
  );
  const diff = even.get('0xa')! - even.get('0xb')!;
  assert.ok(diff <= 1n && diff >= -1n, 'diff <= 1n && diff >= -1n');
  // Twice the capacity, twice the share; half the uptime, half the share.
  const w = shareEmission(300n, epochMs, [
    c('0xa', { capacity: 2 }),
    c('0xb'),
    c('0xc', { capacity: 2, uptimeMs: epochMs / 2 }),
  ]);
  assert.deepEqual([w.get('0xa'), w.get('0xb'), w.get('0xc')], [150n, 75n, 75n]);
  // Three providers in eu, one in af: the af provider gets a bonus, eu gets none.
  const r = shareEmission(1_000_000n, epochMs, [c('0xa'), c('0xb'), c('0xc'), c('0xd', { region: 'af' })]);
  assert.ok(r.get('0xd')! > r.get('0xa')!, "r.get('0xd')! > r.get('0xa')!");
  assert.equal(
    [...r.values()].reduce((a, b) => a + b),
    1_000_000n,
  );
  assert.equal(shareEmission(100n, epochMs, [c('0xa', { faulted: true })]).size, 0);
});

test('billed usage is capped at the lease time the coordinator measured (+ slack), × 4 cores for CPU', () => {
  const inflated = { wallMs: 600_000, cpuMs: 2_400_000, peakRssBytes: 0 };
  // Security review p9: a lone execution claiming wall = timeout, cpu = 4 × timeout was billed
  // 2,400,000 milli-units for a lease that lasted 50 ms.
  assert.equal(billedUnitsMilli('cpu', inflated, 600), 2_400_000n, 'without a lease time: the timeout cap');
  const slack = BigInt(BILLED_LEASE_SLACK_MS);
  assert.equal(billedUnitsMilli('cpu', inflated, 600, 50), (50n + slack) * 4n, 'cpu: (lease + slack) × 4');
  assert.equal(billedUnitsMilli('gpu:x', inflated, 600, 50), 50n + slack, 'gpu: lease + slack');
  // An honest report inside the lease is billed as it is.
  const honest = { wallMs: 40, cpuMs: 70, peakRssBytes: 0 };
  assert.equal(billedUnitsMilli('cpu', honest, 600, 50), 70n, 'an honest report is not cut');
  assert.equal(billedUnitsMilli('cpu', honest, 600, -5), 70n, 'a negative lease counts as 0 + slack');
});

test('onVerdict caps billed usage at the lease time and writes it in the charge memo', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const market = createMarket({
      db: store.db,
      clock: { epochAt: () => 1, startsAt: () => 0, endsAt: () => 1 } as never,
      log: createLogger('test', { level: 'silent' }),
      now: () => 2_000,
    });
    const provider = `0x${'0a'.repeat(20)}`;
    const taskId = `0x${'71'.repeat(32)}`;
    const jobId = `0x${'1d'.repeat(32)}`;
    const aid = `0x${'a1'.repeat(32)}`;
    // Only the lease row billing reads (no job or task rows: foreign keys off for this store).
    await sql`PRAGMA foreign_keys = OFF`.execute(store.db);
    await store.db
      .insertInto('assignments')
      .values({
        id: aid,
        task_id: taskId,
        job_id: jobId,
        provider,
        status: 'completed',
        lease_expires_at: 601_000,
        created_at: 1_000,
        finished_at: 1_050,
        error_code: null,
        error_message: null,
      })
      .execute();
    const spec = {
      kind: 'onnx',
      taskTimeoutSec: 600,
      resources: { gpu: false },
      verification: { policy: 'none' },
    } as unknown as JobSpec;
    const verdict = {
      taskId,
      status: 'accepted',
      outcomes: [{ provider, outcome: 'unverified' }],
      faults: [],
    } as unknown as Verdict;
    const result = JSON.stringify({ usage: { wallMs: 600_000, cpuMs: 2_400_000, peakRssBytes: 0 } });
    await store.db.transaction().execute((trx) =>
      market.onVerdict(trx, jobId, verdict, {
        job: { client: `0x${'0c'.repeat(20)}`, spec, maxPrice: 10n ** 16n },
        executions: [{ assignment_id: aid, provider, result }],
      }),
    );
    const memo = JSON.parse(
      (await store.db.selectFrom('ledger_entries').select('memo').executeTakeFirstOrThrow()).memo,
    ) as { unitsMilli: string; leaseMs?: number };
    assert.equal(memo.leaseMs, 50, 'the lease time is in the memo (the validator reads it)');
    assert.equal(
      memo.unitsMilli,
      String((50 + BILLED_LEASE_SLACK_MS) * 4),
      'billed (lease + slack) × 4 cores, not the 2,400,000 reported',
    );
  } finally {
    await store.close();
  }
});

test("onVerdict bills from the lease row its caller already holds, as from the store's", async () => {
  const run = async (stored: boolean) => {
    const store = await openStore({ path: ':memory:' });
    try {
      const market = createMarket({
        db: store.db,
        clock: { epochAt: () => 1, startsAt: () => 0, endsAt: () => 1 } as never,
        log: createLogger('test', { level: 'silent' }),
        now: () => 2_000,
      });
      const provider = `0x${'0a'.repeat(20)}`;
      const aid = `0x${'a1'.repeat(32)}`;
      const lease = { created_at: 1_000, finished_at: 1_050, lease_class: 'cpu', size_cap_milli: null };
      await sql`PRAGMA foreign_keys = OFF`.execute(store.db);
      if (stored) {
        await store.db
          .insertInto('assignments')
          .values({
            ...lease,
            id: aid,
            task_id: `0x${'71'.repeat(32)}`,
            job_id: `0x${'1d'.repeat(32)}`,
            provider,
            status: 'completed',
            lease_expires_at: 601_000,
            error_code: null,
            error_message: null,
          })
          .execute();
      }
      const spec = {
        kind: 'onnx',
        taskTimeoutSec: 600,
        resources: { gpu: false },
        verification: { policy: 'none' },
      };
      const verdict = {
        taskId: `0x${'71'.repeat(32)}`,
        status: 'accepted',
        outcomes: [{ provider, outcome: 'unverified' }],
        faults: [],
      };
      const result = JSON.stringify({ usage: { wallMs: 600_000, cpuMs: 2_400_000, peakRssBytes: 0 } });
      await store.db.transaction().execute((trx) =>
        market.onVerdict(trx, `0x${'1d'.repeat(32)}`, verdict as unknown as Verdict, {
          job: { client: `0x${'0c'.repeat(20)}`, spec: spec as unknown as JobSpec, maxPrice: 10n ** 16n },
          executions: [{ assignment_id: aid, provider, result }],
          ...(stored ? {} : { leases: new Map([[aid, lease]]) }),
        }),
      );
      return (await store.db.selectFrom('ledger_entries').select('memo').executeTakeFirstOrThrow()).memo;
    } finally {
      await store.close();
    }
  };
  const fromStore = await run(true);
  assert.match(fromStore, /"leaseMs":50/, 'the stored lease capped the bill');
  assert.equal(
    await run(false),
    fromStore,
    'the lease row passed in bills the same, with no row in the store',
  );
});

test("a provider's floor only decides which jobs it takes, never the price it is billed", async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const market = createMarket({
      db: store.db,
      clock: { epochAt: () => 1, startsAt: () => 0, endsAt: () => 1 } as never,
      log: createLogger('test', { level: 'silent' }),
      now: () => 2_000,
    });
    await sql`PRAGMA foreign_keys = OFF`.execute(store.db);
    const cap = 10n ** 16n; // the client's default cap, 100× the base price
    const greedy = `0x${'0a'.repeat(20)}`;
    const hardware = { cpuModel: 'x', cpuCores: 4, memoryBytes: 1, gpus: [], executionProviders: ['cpu'] };
    const hello = (floor: bigint) => ({
      address: greedy,
      hardware,
      slots: 1,
      floorPrices: { cpu: floor.toString() },
    });
    // Security review p9: a floor at the cap was billed at the cap; a floor above it is still ineligible.
    await store.db.transaction().execute((trx) => market.onConnected(trx, hello(cap), 1_000));
    assert.equal(market.ineligible(cap, false).has(greedy), false, 'floor = cap: eligible');
    assert.equal(market.ineligible(cap - 1n, false).has(greedy), true, 'floor above the cap: not eligible');
    const taskId = `0x${'71'.repeat(32)}`;
    const jobId = `0x${'1d'.repeat(32)}`;
    const spec = {
      kind: 'onnx',
      taskTimeoutSec: 600,
      resources: { gpu: false },
      verification: { policy: 'none' },
    } as unknown as JobSpec;
    const verdict = {
      taskId,
      status: 'accepted',
      outcomes: [{ provider: greedy, outcome: 'unverified' }],
      faults: [],
    } as unknown as Verdict;
    const result = JSON.stringify({ usage: { wallMs: 1000, cpuMs: 1000, peakRssBytes: 0 } });
    await store.db.transaction().execute((trx) =>
      market.onVerdict(trx, jobId, verdict, {
        job: { client: `0x${'0c'.repeat(20)}`, spec, maxPrice: cap },
        executions: [{ assignment_id: `0x${'a1'.repeat(32)}`, provider: greedy, result }],
      }),
    );
    const memo = JSON.parse(
      (await store.db.selectFrom('ledger_entries').select('memo').executeTakeFirstOrThrow()).memo,
    ) as { unitPrice: string };
    assert.equal(memo.unitPrice, DEFAULT_CPU_BASE_PRICE.toString(), 'billed the base price, not its floor');
  } finally {
    await store.close();
  }
});
