import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterSettle, failJob, jobInfo, revoke } from './jobs.ts';
import { workFixture } from './workFixture.ts';

test('jobInfo reads a job once and serves it from the cache after', async () => {
  const f = await workFixture();
  try {
    const { jobId } = await f.submitJob({ maxAttempts: 5 });
    const info = await jobInfo(f.state, f.work, jobId);
    assert.equal(info?.status, 'queued');
    assert.equal(info?.spec.maxAttempts, 5);
    await f.db.deleteFrom('tasks').execute();
    await f.db.deleteFrom('jobs').execute();
    assert.equal(await jobInfo(f.state, f.work, jobId), info, 'cached');
    assert.equal(await jobInfo(f.state, f.work, '0xmissing'), undefined);
  } finally {
    await f.close();
  }
});

test('failJob fails a running job once, cancels its tasks and returns its leases; revoke cancels them', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ tasks: 2 });
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    const fail = () =>
      f.db
        .transaction()
        .execute((trx) =>
          failJob(f.state, f.work, trx, jobId, 'PLX_TASK_FAILED', 'broken', { taskIndex: 0 }),
        );
    const leases = await fail();
    assert.deepEqual(leases, [{ id: a.assignmentId, provider: p.address }]);
    assert.deepEqual(await fail(), [], 'a failed job is not failed again');
    const job = await f.job(jobId);
    assert.equal(job.status, 'failed');
    assert.equal(job.error_code, 'PLX_TASK_FAILED');
    assert.equal((await jobInfo(f.state, f.work, jobId))?.status, 'failed', 'the cache follows');
    assert.equal((await f.task(taskIds[0]!)).status, 'cancelled');
    assert.equal((await f.task(taskIds[1]!)).status, 'cancelled');
    assert.equal((await f.assignments(taskIds[0]!))[0]?.error_code, 'PLX_JOB_CANCELLED');
    assert.equal(f.work.scheduler.active(p.address), 1);
    revoke(f.state, f.work, leases, 'job failed');
    assert.equal(f.work.scheduler.active(p.address), 0);
    assert.deepEqual(p.sent.at(-1), { type: 'cancel', assignmentId: a.assignmentId, reason: 'job failed' });
    // After a completed job's verdict: it leaves the cache.
    afterSettle(f.state, f.work, jobId, { jobDone: true, cancelled: [] });
    assert.equal(f.state.jobCache.has(jobId), false);
  } finally {
    await f.close();
  }
});
