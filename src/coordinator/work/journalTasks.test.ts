/**
 * The reputation journal names the task of each entry about one (migration 0057, evidence version
 * 9): on the coordinator's own work loop (in-memory store), a redundant task two providers agree on
 * and a third provider's lease that runs out; the journal read for a bundle carries the task on each
 * verdict outcome and on the timeout (its cause's task), which validators cross-check with the
 * facts (src/validator/checkJournalTasks.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readReputationJournal } from '../settlement/readRandomFacts.ts';
import { sweep } from './leases.ts';
import { handleResult } from './results.ts';
import { output, workFixture } from './workFixture.ts';

test('each verdict outcome and timeout in the journal names its task', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const c = await f.connected();
    const { taskIds } = await f.submitJob({
      verification: { policy: 'redundant', k: 2 },
      taskTimeoutSec: 10,
    });
    const taskId = taskIds[0]!;
    await f.work.dispatch();
    const leased = [a, b, c].filter((p) => p.assigned().length > 0);
    assert.ok(leased.length >= 2, 'two providers leased the task');
    // The first delivers; the second lets its lease run out; a third provider delivers the same.
    const [first, lapsed] = leased;
    await handleResult(
      f.state,
      f.work,
      first!.address,
      await first!.result(first!.assigned()[0]!, output(1)),
    );
    f.clock.t += 11_000;
    await sweep(f.state, f.work);
    await f.idle();
    await f.work.dispatch();
    const third =
      [a, b, c].find((p) => p !== first && p !== lapsed && p.assigned().length > 0) ?? (await f.connected());
    await f.work.dispatch();
    await handleResult(f.state, f.work, third.address, await third.result(third.assigned()[0]!, output(1)));
    await f.idle();
    assert.equal((await f.task(taskId)).status, 'completed');
    const journal = await f.db.transaction().execute((trx) => readReputationJournal(trx, 1));
    const about = journal.filter((e) => e.kind !== 'state');
    assert.ok(
      about.some((e) => e.kind === 'timeout'),
      `a timeout is journaled: ${JSON.stringify(about)}`,
    );
    assert.ok(
      about.filter((e) => e.kind === 'valid' || e.kind === 'agreed').length >= 2,
      'both agreeing providers credited',
    );
    for (const e of about)
      assert.equal(e.taskId, taskId, `the ${e.kind} entry of ${e.provider} names the task`);
  } finally {
    await f.close();
  }
});
