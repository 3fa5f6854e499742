import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { LOST_LEASE_ALLOWANCE } from './countedFailures.ts';
import { jobInfo } from './jobs.ts';
import { handleFailure, sweep } from './leases.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { workFixture } from './workFixture.ts';

test('an expired lease is cancelled on its provider and the task re-queued, then leased again', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ taskTimeoutSec: 10 });
    await f.work.dispatch();
    const [first] = p.assigned();
    assert.ok(first, 'first');
    // Not yet expired: the sweep changes nothing.
    f.clock.t += 9_000;
    await sweep(f.state, f.work);
    assert.equal((await f.assignments(taskIds[0]!))[0]?.status, 'leased');
    f.clock.t += 2_000;
    await sweep(f.state, f.work);
    await f.idle();
    const leases = await f.assignments(taskIds[0]!);
    assert.equal(leases[0]?.status, 'expired');
    assert.equal(leases[0]?.error_code, 'PLX_LEASE_EXPIRED');
    assert.deepEqual(
      p.sent.filter((m) => m.type === 'cancel'),
      [{ type: 'cancel', assignmentId: first.assignmentId, reason: 'lease expired' }],
    );
    const types = await f.eventTypes(jobId);
    assert.ok(
      types.indexOf('task.retry') > types.indexOf('task.assigned'),
      "types.indexOf('task.retry') > types.indexOf('task.assigned')",
    );
    // The sweep dispatched: the only provider gets the task again (a second attempt).
    assert.equal(leases[1]?.status, 'leased');
    assert.equal(p.assigned().length, 2);
    assert.equal((await f.task(taskIds[0]!)).attempts, 2);
    const row = await f.db
      .selectFrom('providers')
      .selectAll()
      .where('address', '=', p.address)
      .executeTakeFirst();
    assert.equal(row?.tasks_failed, 1);
  } finally {
    await f.close();
  }
});

test('a failure report re-queues the task; after maxAttempts failures the job fails', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ tasks: 2, maxAttempts: 2 });
    await f.work.dispatch();
    const first = p.assigned()[0]!;
    assert.equal(f.taskOf(first), taskIds[0]);
    // Someone else's report for this lease is refused.
    const other = await f.provider();
    await assert.rejects(handleFailure(f.state, f.work, other.address, await other.failure(first)), {
      code: 'PLX_STALE_ASSIGNMENT',
    });
    await handleFailure(f.state, f.work, p.address, await p.failure(first));
    await f.idle();
    assert.equal((await f.job(jobId)).status, 'running');
    const retried = await f.task(taskIds[0]!);
    assert.equal(retried.last_error, 'PLX_RUNTIME_FAILED: the model crashed');
    // The task kept its place in the queue: it is leased again before the second task.
    const second = p.assigned()[1]!;
    assert.equal(f.taskOf(second), taskIds[0]);
    await handleFailure(f.state, f.work, p.address, await p.failure(second, 'PLX_RUNTIME_FAILED', 'again'));
    await f.idle();
    const job = await f.job(jobId);
    assert.equal(job.status, 'failed');
    assert.equal(job.error_code, 'PLX_TASK_FAILED');
    assert.equal((await f.task(taskIds[0]!)).status, 'failed');
    assert.equal((await f.task(taskIds[1]!)).status, 'cancelled');
    const types = await f.eventTypes(jobId);
    assert.equal(types.filter((t) => t === 'task.retry').length, 1);
    assert.equal(types.at(-1), 'job.failed');
    assert.equal(p.assigned().length, 2, 'nothing more to lease');
    assert.equal(f.work.scheduler.active(p.address), 0);
  } finally {
    await f.close();
  }
});

test('a job past its deadline fails and its leases are cancelled on their providers', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ deadlineSec: 30, taskTimeoutSec: 600 });
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    f.clock.t += 31_000;
    await sweep(f.state, f.work);
    const job = await f.job(jobId);
    assert.equal(job.status, 'failed');
    assert.equal(job.error_code, 'PLX_DEADLINE_EXCEEDED');
    const [lease] = await f.assignments(taskIds[0]!);
    assert.equal(lease?.status, 'failed');
    assert.equal(lease?.error_code, 'PLX_JOB_CANCELLED');
    assert.deepEqual(p.sent.at(-1), {
      type: 'cancel',
      assignmentId: a.assignmentId,
      reason: 'deadline exceeded',
    });
  } finally {
    await f.close();
  }
});

test('a lease lost with its session does not use up an attempt; past the allowance lost leases do', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ maxAttempts: 1, taskTimeoutSec: 600 });
    await f.work.dispatch();
    let link = p.link;
    for (let lost = 1; lost <= LOST_LEASE_ALLOWANCE + 1; lost++) {
      assert.equal(p.assigned().length, lost, `lease ${lost} granted`);
      // The session closes (its socket, or its replica died) and it does not come back in the grace.
      await providerDisconnected(f.state, f.work, link);
      f.clock.t += DISCONNECT_GRACE_SEC * 1000 + 1000;
      await sweep(f.state, f.work);
      await f.idle();
      const leases = await f.assignments(taskIds[0]!);
      assert.equal(leases[lost - 1]?.status, 'expired');
      assert.equal(leases[lost - 1]?.error_code, 'PLX_LEASE_LOST');
      if (lost <= LOST_LEASE_ALLOWANCE) {
        // maxAttempts is 1, yet the task is back in the queue and the job runs on.
        assert.equal((await f.job(jobId)).status, 'running', `after lost lease ${lost}`);
        assert.equal((await f.task(taskIds[0]!)).status, 'queued');
      }
      link = { ...p.link };
      await providerConnected(f.state, f.work, link, p.hello(1, []));
      await f.idle();
    }
    // The bound: the lost lease past the allowance counts, and one attempt was allowed.
    const job = await f.job(jobId);
    assert.equal(job.status, 'failed');
    assert.equal(job.error_code, 'PLX_TASK_FAILED');
    assert.equal(p.assigned().length, LOST_LEASE_ALLOWANCE + 1);
  } finally {
    await f.close();
  }
});

test('a provider back within the grace with its lease keeps it until its deadline', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ maxAttempts: 1, taskTimeoutSec: 600 });
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    const created = (await f.assignments(taskIds[0]!))[0]!.created_at;
    await providerDisconnected(f.state, f.work, p.link);
    f.clock.t += 2000;
    await providerConnected(f.state, f.work, { ...p.link }, p.hello(1, [a.assignmentId]));
    f.clock.t += DISCONNECT_GRACE_SEC * 1000;
    await sweep(f.state, f.work);
    const [lease] = await f.assignments(taskIds[0]!);
    assert.equal(lease?.status, 'leased', 'not expired at the end of the grace');
    assert.equal(lease?.lease_expires_at, created + 600_000);
    // A real expiry at the deadline is a failed attempt as before.
    f.clock.t = created + 601_000;
    await sweep(f.state, f.work);
    await f.idle();
    assert.equal((await f.assignments(taskIds[0]!))[0]?.error_code, 'PLX_LEASE_EXPIRED');
    assert.equal((await f.job(jobId)).status, 'failed');
  } finally {
    await f.close();
  }
});

test('a job another replica started is not failed by a lost lease here (a copy cached while it was queued)', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ taskTimeoutSec: 600 });
    // This replica read the job while it was queued; another one then leased its first task.
    assert.equal((await jobInfo(f.state, f.work, jobId))?.status, 'queued');
    await f.db.updateTable('jobs').set({ status: 'running' }).where('id', '=', jobId).execute();
    await f.work.dispatch();
    assert.equal(p.assigned().length, 1, 'leased here too');
    // The session is lost and not back within the grace: one lost lease, the task goes back.
    await providerDisconnected(f.state, f.work, p.link);
    f.clock.t += DISCONNECT_GRACE_SEC * 1000 + 1000;
    await sweep(f.state, f.work);
    await f.idle();
    assert.equal((await f.assignments(taskIds[0]!))[0]?.error_code, 'PLX_LEASE_LOST');
    assert.equal((await f.job(jobId)).status, 'running', 'the job runs on');
    assert.equal((await f.task(taskIds[0]!)).status, 'queued', 'the task is back in the queue');
  } finally {
    await f.close();
  }
});
