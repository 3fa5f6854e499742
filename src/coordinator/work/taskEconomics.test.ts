import assert from 'node:assert/strict';
import { test } from 'node:test';
import { economicAuditBound, valueAuditFloor } from '../verification/auditPolicy.ts';
import { ALWAYS_AUDIT_UNITS } from '../verification/constants.ts';
import { newReputation } from '../verification/reputation.ts';
import { jobInfo } from './jobs.ts';
import { handleResult } from './results.ts';
import { lockAmount } from './stakeLocks.ts';
import { medianBig, taskEconomics, taskUnitsMilli } from './taskEconomics.ts';
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
    assert.ok(ta && tb && ta.taskId === tb.taskId);
    await handleResult(f.state, f.work, a.address, await a.result(ta, output(3)));
    await handleResult(f.state, f.work, b.address, await b.result(tb, output(3)));
    await f.idle();
    assert.equal(await units(), 240_000n, 'cached for 30 s');
    f.clock.t += 31_000;
    // The scripted agents report 10 cpu-ms per task.
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
    // The loop's audit policy applies it: an established provider is audited at the 4% floor on a
    // small task and always on the large one.
    f.state.reputations.set(a.address, { ...newReputation(f.clock.t), alpha: 60, consecutiveValid: 500 });
    const rate = (e: typeof big) => f.work.audits.rateFor(a.address, e).rate;
    assert.equal(rate(small), 0.04);
    assert.equal(rate(big), 1);
    // Without a market the fixed placeholders stay.
    const none = await f.db.transaction().execute((trx) => taskEconomics(f.state, f.work, trx, bigJob));
    assert.equal(none.reward, f.state.econ.reward);
  } finally {
    await f.close();
  }
});
