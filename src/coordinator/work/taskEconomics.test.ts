import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Market } from '../market/createMarket.ts';
import { economicAuditBound, valueAuditFloor } from '../verification/auditPolicy.ts';
import { ALWAYS_AUDIT_UNITS, VALUE_FLOOR_HALF_RECORD } from '../verification/constants.ts';
import { rewardForUnits } from '../verification/renderValue.ts';
import { newReputation } from '../verification/reputation.ts';
import { jobInfo } from './jobs.ts';
import { handleResult } from './results.ts';
import { providerConnected } from './sessions.ts';
import { lockAmount } from './stakeLocks.ts';
import {
  medianBig,
  noteVerifiedSize,
  slashCapOf,
  taskEconomics,
  taskUnitsMilli,
  upperMedianBig,
} from './taskEconomics.ts';
import { output, workFixture } from './workFixture.ts';
import type { WorkDeps } from './workState.ts';

test('medianBig', () => {
  assert.equal(medianBig([]), undefined);
  assert.equal(medianBig([5n]), 5n);
  assert.equal(medianBig([9n, 1n, 4n]), 4n);
  assert.equal(medianBig([9n, 1n, 4n, 2n]), 2n);
});

test('a task is priced by its job: the worst case until a verdict verified an execution, then the median of the verified ones; R, C and the slash (the lease’s lock) scale with it, and large tasks are audited more by the value floor', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const { jobId } = await f.submitJob({
      tasks: 2,
      verification: { policy: 'redundant', k: 2 },
      taskTimeoutSec: 60,
    });
    const job = { ...(await jobInfo(f.state, f.work, jobId))!, id: jobId };
    const units = () => f.db.transaction().execute((trx) => taskUnitsMilli(f.state, f.work, trx, job));
    // 60 s × 4 billed cores, in milli-units.
    assert.equal(await units(), 240_000n);
    await f.work.dispatch();
    await f.idle();
    const [ta] = a.assigned();
    const [tb] = b.assigned();
    assert.ok(ta && tb && a.taskOf(ta) === b.taskOf(tb), 'both execute the one task');
    assert.notEqual(ta.assignmentId, tb.assignmentId, 'under ids of their own');
    await handleResult(f.state, f.work, a.address, await a.result(ta, output(3)));
    await handleResult(f.state, f.work, b.address, await b.result(tb, output(3)));
    await f.idle();
    // The verified verdict dropped the job's cached estimate: the scripted agents report 10 cpu-ms.
    assert.equal(await units(), 10n);

    // With a market, R, C and F (the stake a lease locks, k × R_task) scale with the size.
    const market = { ...f.work, market: {} } as unknown as WorkDeps;
    const small = await f.db.transaction().execute((trx) => taskEconomics(f.state, market, trx, job));
    assert.deepEqual(small, {
      reward: f.state.econ.reward,
      honestCost: f.state.econ.honestCost,
      slashable: lockAmount(f.state.econ.reward),
    });
    const { jobId: bigId } = await f.submitJob({ taskTimeoutSec: 600 });
    const bigJob = { ...(await jobInfo(f.state, f.work, bigId))!, id: bigId };
    const big = await f.db.transaction().execute((trx) => taskEconomics(f.state, market, trx, bigJob));
    assert.equal(big.reward, f.state.econ.reward * 2400n);
    assert.equal(big.slashable, lockAmount(f.state.econ.reward * 2400n));
    const bound = (e: typeof big) =>
      economicAuditBound({ cost: e.honestCost, reward: e.reward, slashable: e.slashable });
    // The economic bound is C / (21·R) whatever the size; the value floor audits large tasks more.
    assert.ok(Math.abs(bound(big) - bound(small)) < 1e-9, `${bound(big)} vs ${bound(small)}`);
    const always = f.state.econ.reward * ALWAYS_AUDIT_UNITS;
    assert.equal(valueAuditFloor(big.reward, always), 1);
    assert.equal(valueAuditFloor(small.reward, always), 0.02);
    // The loop's audit policy applies it, earned down by a provider's trusted-checked record
    // (VALUE_FLOOR_HALF_RECORD): a large task is always audited for a provider without one, at a
    // tenth of the floor after 90 checked results in a row, at the 4% floor after 500.
    const rate = (e: typeof big) => f.work.audits.rateFor(a.address, e).rate;
    const withRecord = (consecutiveValid: number) =>
      f.state.reputations.set(a.address, { ...newReputation(f.clock.t), alpha: 60, consecutiveValid });
    withRecord(0);
    assert.equal(rate(big), 1);
    withRecord(10 * (VALUE_FLOOR_HALF_RECORD - 1));
    assert.ok(Math.abs(rate(big) - 0.1) < 1e-12, String(rate(big)));
    withRecord(500);
    assert.equal(rate(small), 0.04);
    assert.equal(rate(big), 0.04);
    // Without a market the fixed placeholders stay.
    const none = await f.db.transaction().execute((trx) => taskEconomics(f.state, f.work, trx, bigJob));
    assert.equal(none.reward, f.state.econ.reward);
  } finally {
    await f.close();
  }
});

test('a first task is not priced at the worst case once its model has a verified size, and a fault never slashes more than k × what the task really cost', async () => {
  // A market without a chain: the loop prices tasks by size (taskEconomics.ts); nothing billed.
  const market = {
    currentEpoch: async () => undefined,
    clientHeld: () => false,
    ineligible: () => new Set<string>(),
    leaseClass: () => 'cpu',
    onConnected: async () => {},
    onDisconnected: async () => {},
    onVerdict: async () => {},
  } as unknown as Market;
  const R = 1_000_000n;
  const f = await workFixture({ market, verification: { reward: R, stake: 10n ** 13n } });
  try {
    const a = await f.provider();
    f.state.reputations.set(a.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 20,
      verifiedValid: 20,
    });
    await providerConnected(f.state, f.work, a.link, a.hello(1));
    const [b, liar] = [await f.connected(), await f.connected()];
    const model = f.put(new Uint8Array([1, 2, 3]));
    const first = await f.submitJob({
      verification: { policy: 'redundant', k: 3 },
      model,
      taskTimeoutSec: 60,
    });
    await f.work.dispatch();
    await f.idle();
    // The job's first task: no verified size anywhere yet, so the worst case (60 s × 4 cores).
    const locks = await f.db.selectFrom('stake_locks').selectAll().execute();
    assert.equal(locks.length, 3);
    for (const l of locks) assert.equal(BigInt(l.amount), lockAmount(rewardForUnits(R, 240_000n)));
    for (const [p, o] of [
      [a, 3],
      [b, 3],
      [liar, 9],
    ] as const) {
      await handleResult(f.state, f.work, p.address, await p.result(p.assigned()[0]!, output(o)));
    }
    await f.idle();
    assert.equal((await f.task(first.taskIds[0]!)).status, 'completed');
    // The scripted agents report 10 cpu-ms: the slash is k × one unit's pay, not the 240-unit lock.
    const slash = await f.db.selectFrom('slashes').selectAll().executeTakeFirstOrThrow();
    assert.equal(slash.provider, liar.address);
    assert.equal(BigInt(slash.amount), slashCapOf(R, 10n));
    assert.equal(BigInt(slash.amount), lockAmount(R));
    // A new job of the same model is priced from the model's verified size; another model's, not.
    const same = await f.submitJob({ model, taskTimeoutSec: 60 });
    const other = await f.submitJob({ taskTimeoutSec: 60 });
    const units = async (jobId: string) => {
      const job = { ...(await jobInfo(f.state, f.work, jobId))!, id: jobId };
      return f.db.transaction().execute((trx) => taskUnitsMilli(f.state, f.work, trx, job));
    };
    assert.equal(await units(same.jobId), 10n);
    assert.equal(await units(other.jobId), 240_000n);
    // Another client's job of the same model: sizes are reported usage, so one account's tiny tasks
    // never lower the stake at risk (and the audit rate) of another's job: the worst case again.
    const stranger = await f.submitJob({ model, taskTimeoutSec: 60, client: `0x${'5a'.repeat(20)}` });
    assert.equal(await units(stranger.jobId), 240_000n);
  } finally {
    await f.close();
  }
});

for (const allies of [1, 2]) {
  test(`${allies === 1 ? 'an ally' : 'an ally majority'} reporting tiny usage cannot shrink a cheater’s slash cap: the verdict sizes the cap by the largest agreeing report (${allies === 1 ? 'fails with the lower median of two' : 'fails with the upper median of three'})`, async () => {
    const market = {
      currentEpoch: async () => undefined,
      clientHeld: () => false,
      ineligible: () => new Set<string>(),
      leaseClass: () => 'cpu',
      onConnected: async () => {},
      onDisconnected: async () => {},
      onVerdict: async () => {},
    } as unknown as Market;
    const R = 1_000_000n;
    const f = await workFixture({ market, verification: { reward: R, stake: 10n ** 13n } });
    try {
      // A trusted checker that measured 30 core-seconds, the cheater's ally (right answer, 10 cpu-ms
      // reported) and the cheater (wrong answer): one redundant(3) round.
      const trusted = await f.provider();
      f.state.reputations.set(trusted.address, {
        ...newReputation(f.clock.t),
        alpha: 40,
        consecutiveValid: 20,
        verifiedValid: 20,
      });
      await providerConnected(f.state, f.work, trusted.link, trusted.hello(1));
      const ring = [];
      for (let i = 0; i < allies; i++) ring.push(await f.connected());
      const cheater = await f.connected();
      const { taskIds } = await f.submitJob({
        verification: { policy: 'redundant', k: 2 + allies },
        taskTimeoutSec: 60,
      });
      await f.work.dispatch();
      await f.idle();
      const usage = (cpuMs: number) => ({ wallMs: cpuMs, cpuMs, peakRssBytes: 1000 });
      for (const [p, o, u] of [
        [trusted, 3, usage(30_000)],
        ...ring.map((ally) => [ally, 3, usage(10)] as const),
        [cheater, 9, usage(30_000)],
      ] as const) {
        await handleResult(
          f.state,
          f.work,
          p.address,
          await p.result(p.assigned()[0]!, output(o), undefined, u),
        );
      }
      await f.idle();
      assert.equal((await f.task(taskIds[0]!)).status, 'completed');
      const slash = await f.db.selectFrom('slashes').selectAll().executeTakeFirstOrThrow();
      assert.equal(slash.provider, cheater.address);
      // 30 units of pay × k, not one unit's (what the lower median of 10 cpu-ms and 30 s gave).
      assert.equal(BigInt(slash.amount), slashCapOf(R, 30_000n));
      assert.ok(BigInt(slash.amount) > lockAmount(R), 'BigInt(slash.amount) > lockAmount(R)');
    } finally {
      await f.close();
    }
  });
}

test('a job is sized only by executions that agreed with their verdict: faulted executions’ usage reports never count', async () => {
  const f = await workFixture();
  try {
    const { jobId, taskIds } = await f.submitJob({ taskTimeoutSec: 60 });
    const job = { ...(await jobInfo(f.state, f.work, jobId))!, id: jobId };
    const taskId = taskIds[0]!;
    const addr = (n: number) => `0x${String(n).repeat(40)}`;
    // One verified task: two agreeing executions that measured 20 core-seconds, and three faulted
    // ones (a ring reporting 1 cpu-ms each, enough to be the median of all five).
    const outcomes = [1, 2, 3, 4, 5].map((n) => ({ provider: addr(n), outcome: n <= 2 ? 'valid' : 'fault' }));
    await f.db
      .insertInto('task_verifications')
      .values({
        task_id: taskId,
        job_id: jobId,
        policy: '{}',
        audit: 0,
        log: '[]',
        status: 'accepted',
        verdict: JSON.stringify({ verified: true, outcomes }),
        created_at: f.clock.t,
        updated_at: f.clock.t,
      })
      .execute();
    for (const [i, o] of outcomes.entries()) {
      const cpuMs = o.outcome === 'valid' ? 20_000 : 1;
      await f.db
        .insertInto('task_executions')
        .values({
          assignment_id: `a-${i}`,
          task_id: taskId,
          provider: o.provider,
          output_cid: 'c',
          output_digest: '0x',
          salt: '0x',
          result: JSON.stringify({ usage: { wallMs: cpuMs, cpuMs, peakRssBytes: 0 } }),
          created_at: f.clock.t,
        })
        .execute();
    }
    const units = await f.db.transaction().execute((trx) => taskUnitsMilli(f.state, f.work, trx, job));
    assert.equal(units, 20_000n, 'the agreeing executions’ size, not the faulted majority’s');
  } finally {
    await f.close();
  }
});

test('a cheap preview render does not lower the recorded size of a large render of the same scene (render settings are part of the model key)', async () => {
  const f = await workFixture();
  try {
    const render = (samples: number, width: number) =>
      ({
        spec: {
          kind: 'blender.render',
          model: 'scene',
          resources: { gpu: false, minMemoryMiB: 0 },
          taskTimeoutSec: 600,
          render: { width, height: width, samples, tiles: { x: 1, y: 1 }, format: 'png' },
        },
        status: 'running',
        maxPrice: undefined,
        client: '0xc',
      }) as unknown as Parameters<typeof noteVerifiedSize>[1];
    noteVerifiedSize(f.state, { ...render(1, 64), id: 'preview' }, 5n);
    const big = { ...render(4096, 4096), id: 'final' };
    const units = await f.db.transaction().execute((trx) => taskUnitsMilli(f.state, f.work, trx, big));
    assert.ok(units > 5n, `the large render is not sized by the preview (${units})`);
    noteVerifiedSize(f.state, { ...render(4096, 4096), id: 'other-final' }, 900_000n);
    const again = await f.db
      .transaction()
      .execute((trx) => taskUnitsMilli(f.state, f.work, trx, { ...big, id: 'final-2' }));
    assert.equal(again, 900_000n, 'the same settings share the estimate');
  } finally {
    await f.close();
  }
});

test('upperMedianBig takes the larger middle value', () => {
  assert.equal(upperMedianBig([]), undefined);
  assert.equal(upperMedianBig([10n, 30_000n]), 30_000n);
  assert.equal(upperMedianBig([9n, 1n, 4n, 2n]), 4n);
  assert.equal(upperMedianBig([9n, 1n, 4n]), 4n);
});
