/**
 * `redundant(k)` seats held only by untrusted providers (issue 15; market/deferredBilling.ts,
 * recheckCaught.ts): k agreeing untrusted replicas are accepted `unverified`, and such a task is
 * not billed as verified work — its bill waits for the job's end like an unaudited task's, and if
 * any of its agreeing replicas is proven faulty first, the task is re-run and the client pays only
 * the re-run. On the code before, the verdict billed it at once, and a caught replica that was not
 * the one whose output was kept left it standing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobSpec } from '../../protocol/schemas.ts';
import type { Market } from '../market/createMarket.ts';
import { defersBilling } from '../market/deferredBilling.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import { recordFault } from './faults.ts';
import { handleResult } from './results.ts';
import { output, workFixture } from './workFixture.ts';

test('redundant(2) with only untrusted replicas: accepted unverified, not billed until the job ends, and re-run when a replica that agreed is caught', async () => {
  const billed: Array<{ taskId: string; jobEnded: boolean; verified: boolean }> = [];
  const market = {
    async onVerdict(
      _trx: unknown,
      _jobId: string,
      v: Verdict,
      known: { job?: { spec: JobSpec }; jobEnded?: boolean } = {},
    ) {
      // What the real market does with it (createMarket.ts: a deferred bill waits for the end).
      const spec = known.job?.spec;
      if (spec && !known.jobEnded && defersBilling(spec, v)) return;
      billed.push({ taskId: v.taskId, jobEnded: known.jobEnded === true, verified: v.verified });
    },
    ineligible: () => new Set<string>(),
    leaseClass: () => 'cpu',
    clientHeld: () => false,
    stakeOf: () => undefined,
    standingOf: () => undefined,
    async onConnected() {},
    async onDisconnected() {},
  } as unknown as Market;
  const f = await workFixture({ market });
  try {
    // Two untrusted providers, nobody trusted online: both seats fall back to them.
    const [a, b] = [await f.connected(), await f.connected()];
    const { jobId, taskIds } = await f.submitJob({ tasks: 2, verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await f.idle();
    const first = taskIds[0]!;
    const leaseOf = (p: typeof a) => p.assigned().find((x) => f.taskOf(x) === first)!;
    assert.ok(leaseOf(a) && leaseOf(b), 'both replicas of the first task are seated');
    await handleResult(f.state, f.work, a.address, await a.result(leaseOf(a), output(4)));
    await handleResult(f.state, f.work, b.address, await b.result(leaseOf(b), output(4)));
    await f.idle();
    assert.equal((await f.task(first)).status, 'completed');
    const row = await f.db
      .selectFrom('task_verifications')
      .select('verdict')
      .where('task_id', '=', first)
      .executeTakeFirstOrThrow();
    const verdict = JSON.parse(row.verdict!) as Verdict;
    assert.equal(verdict.verified, false, 'untrusted agreement is not a verification');
    assert.deepEqual(billed, [], 'not billed at the verdict (the job still runs)');
    // The replica whose output was not kept is proven faulty elsewhere (a canary): the task it
    // vouched for goes back to the queue, unbilled.
    const kept = (await f.task(first)).provider;
    const other = kept === a.address.toLowerCase() ? b : a;
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: other.address,
        taskId: `0x${'c1'.repeat(32)}`,
        jobId: null,
        kind: 'canary',
        evidence: { kind: 'canary' },
      }),
    );
    assert.equal((await f.task(first)).status, 'queued', 'reopened: a replica that agreed was caught');
    assert.equal((await f.job(jobId)).tasks_done, 0, 'its done count drops');
    assert.deepEqual(billed, [], 'never billed for the reopened output');
  } finally {
    await f.close();
  }
});
