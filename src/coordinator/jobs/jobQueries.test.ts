import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { LOST_LEASE_ALLOWANCE } from '../work/countedFailures.ts';
import { sweep } from '../work/leases.ts';
import { handleResult } from '../work/results.ts';
import { providerConnected, providerDisconnected } from '../work/sessions.ts';
import { output, workFixture } from '../work/workFixture.ts';
import { attemptsOf, executionCounts } from './jobQueries.ts';

test('attemptsOf counts failures and lost leases past the allowance, and one for the try that ran', () => {
  const e = { failed: 0, lost: 0, running: 0, completed: 0 };
  assert.equal(attemptsOf(e), 0);
  assert.equal(attemptsOf({ ...e, running: 2 }), 1, 'two replicas running are one attempt');
  assert.equal(attemptsOf({ ...e, lost: 2, completed: 1 }), 1, 'lost leases are not attempts');
  assert.equal(attemptsOf({ ...e, failed: 1, completed: 1 }), 2);
  assert.equal(attemptsOf({ ...e, lost: LOST_LEASE_ALLOWANCE + 1, completed: 1 }), 2, 'past the allowance');
});

test("the job view's attempts leave out leases lost with their session, as maxAttempts does", async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ maxAttempts: 1, taskTimeoutSec: 600 });
    await f.work.dispatch();
    // Twice the session closes and the provider does not come back within the grace.
    let link = p.link;
    for (let i = 0; i < 2; i++) {
      await providerDisconnected(f.state, f.work, link);
      f.clock.t += DISCONNECT_GRACE_SEC * 1000 + 1000;
      await sweep(f.state, f.work);
      link = { ...p.link };
      await providerConnected(f.state, f.work, link, p.hello(1, []));
      await f.idle();
    }
    const leases = p.assigned();
    assert.equal(leases.length, 3, 'leased three times');
    await handleResult(f.state, f.work, p.address, await p.result(leases[2]!, output(1)));
    await f.idle();
    assert.equal((await f.job(jobId)).status, 'completed', 'maxAttempts 1 was enough');
    const e = (await executionCounts(f.db, jobId)).get(taskIds[0]!);
    assert.deepEqual(e, { failed: 0, lost: 2, running: 0, completed: 1 });
    assert.equal(attemptsOf(e!), 1, 'one attempt: the one that produced the output');
  } finally {
    await f.close();
  }
});
