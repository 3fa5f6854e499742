import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertLeasedTo, leaseById, leasedAssignment } from './assignments.ts';
import { workFixture } from './workFixture.ts';

test('assertLeasedTo accepts only the open lease of that provider, named by its opaque reference (any case)', () => {
  const lease = { provider: '0xabc', task_id: 't1', status: 'leased' };
  // Protocol v3: the task reference a provider sends and signs is its assignment's own id.
  assertLeasedTo(lease, '0xABC', '0xa1', '0xA1');
  const stale = { code: 'PLX_STALE_ASSIGNMENT' };
  assert.throws(() => assertLeasedTo(undefined, '0xabc', '0xa1', '0xa1'), stale);
  assert.throws(() => assertLeasedTo(lease, '0xdef', '0xa1', '0xa1'), stale);
  assert.throws(() => assertLeasedTo({ ...lease, status: 'expired' }, '0xabc', '0xa1', '0xa1'), stale);
  const ref = { code: 'PLX_TASK_REF_MISMATCH' };
  // The real task id (the scheme before v3), or another assignment's id, is refused.
  assert.throws(() => assertLeasedTo(lease, '0xabc', '0xa1', 't1'), ref);
  assert.throws(() => assertLeasedTo(lease, '0xabc', '0xa1', '0xa2'), ref);
});

test('leaseById names a task assignment or a canary lease; leasedAssignment checks it', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob();
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    assert.deepEqual(await leaseById(f.work, a.assignmentId), {
      task: { task_id: taskIds[0], job_id: jobId },
      canary: undefined,
    });
    assert.deepEqual(await leaseById(f.work, '0xnone'), { task: undefined, canary: undefined });
    const row = await f.db
      .transaction()
      .execute((trx) => leasedAssignment(f.work, trx, p.address, a.assignmentId, a.taskId));
    assert.equal(row.id, a.assignmentId);
    await assert.rejects(
      f.db
        .transaction()
        .execute((trx) =>
          leasedAssignment(
            f.work,
            trx,
            '0x0000000000000000000000000000000000000001',
            a.assignmentId,
            a.taskId,
          ),
        ),
      { code: 'PLX_STALE_ASSIGNMENT' },
    );
  } finally {
    await f.close();
  }
});
