import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { handleCommit, handleResult } from './results.ts';
import { providerConnected } from './sessions.ts';
import { output, workFixture } from './workFixture.ts';

const salt = () => `0x${randomBytes(32).toString('hex')}` as Hex;

test('a result for a leased task is accepted: the task and its job complete, the slot is free', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob();
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    const msg = await p.result(a, output(1));
    await handleResult(f.state, f.work, p.address, msg);
    await f.idle();
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'completed');
    assert.equal(task.output_cid, msg.outputCid);
    assert.equal(task.provider, p.address);
    const job = await f.job(jobId);
    assert.equal(job.status, 'completed');
    assert.equal(job.tasks_done, 1);
    assert.equal((await f.assignments(taskIds[0]!))[0]?.status, 'completed');
    assert.deepEqual(await f.eventTypes(jobId), [
      'job.running',
      'task.assigned',
      'task.completed',
      'job.completed',
      'task.result',
    ]);
    assert.equal(f.work.scheduler.active(p.address), 0);
    assert.equal(f.state.jobCache.has(jobId), false, 'a finished job leaves the cache');
    const row = await f.db
      .selectFrom('providers')
      .selectAll()
      .where('address', '=', p.address)
      .executeTakeFirst();
    assert.equal(row?.tasks_completed, 1);
  } finally {
    await f.close();
  }
});

test('a result from another provider or after the lease ended is PLX_STALE_ASSIGNMENT; one naming another task PLX_TASK_REF_MISMATCH', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const other = await f.provider();
    const { taskIds } = await f.submitJob({ tasks: 2 });
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    await providerConnected(f.state, f.work, other.link, other.hello(1));
    await f.idle();
    const stale = { code: 'PLX_STALE_ASSIGNMENT' };
    // Someone else's lease.
    await assert.rejects(
      handleResult(f.state, f.work, other.address, await other.result(a, output(1))),
      stale,
    );
    // The right lease named with another assignment's id, or with its real task id (signed so:
    // the scheme before protocol v3), is refused: a provider signs over its own opaque id only.
    const b = other.assigned()[0]!;
    const ref = { code: 'PLX_TASK_REF_MISMATCH' };
    await assert.rejects(
      handleResult(f.state, f.work, p.address, await p.result({ ...a, taskId: b.taskId }, output(1))),
      ref,
    );
    await assert.rejects(
      handleResult(f.state, f.work, p.address, await p.result({ ...a, taskId: taskIds[0]! }, output(1))),
      ref,
    );
    // A lease that never existed (named by its own reference: a wrong one is refused first).
    const none = salt();
    await assert.rejects(
      handleResult(
        f.state,
        f.work,
        p.address,
        await p.result({ assignmentId: none, taskId: none }, output(1)),
      ),
      stale,
    );
    assert.equal((await f.task(taskIds[0]!)).status, 'assigned', 'nothing changed');
    // Accepted once; the same result again finds the lease completed.
    const msg = await p.result(a, output(1));
    await handleResult(f.state, f.work, p.address, msg);
    await assert.rejects(handleResult(f.state, f.work, p.address, msg), stale);
  } finally {
    await f.close();
  }
});

test('commit–reveal: reveals are asked for only once the round committed, early reveals are refused', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    const la = a.assigned()[0]!;
    const lb = b.assigned()[0]!;
    const sa = salt();
    const sb = salt();
    await handleCommit(f.state, f.work, a.address, await a.commit(la, output(1), sa));
    assert.equal(a.sent.filter((m) => m.type === 'reveal').length, 0, 'b has not committed yet');
    await assert.rejects(
      handleResult(f.state, f.work, a.address, await a.result(la, output(1), { salt: sa })),
      { code: 'PLX_VERIFICATION_REVEAL_TOO_EARLY' },
    );
    // The same commitment again is idempotent; another one is refused.
    await handleCommit(f.state, f.work, a.address, await a.commit(la, output(1), sa));
    await assert.rejects(handleCommit(f.state, f.work, a.address, await a.commit(la, output(2), sa)), {
      code: 'PLX_VERIFICATION_DUPLICATE',
    });
    await handleCommit(f.state, f.work, b.address, await b.commit(lb, output(1), sb));
    assert.deepEqual(
      a.sent.filter((m) => m.type === 'reveal'),
      [{ type: 'reveal', assignmentId: la.assignmentId }],
    );
    assert.deepEqual(
      b.sent.filter((m) => m.type === 'reveal'),
      [{ type: 'reveal', assignmentId: lb.assignmentId }],
    );
    // A committed execution must reveal; a reveal must open its commitment.
    await assert.rejects(handleResult(f.state, f.work, a.address, await a.result(la, output(1))), {
      code: 'PLX_REVEAL_MISMATCH',
    });
    await assert.rejects(
      handleResult(f.state, f.work, a.address, await a.result(la, output(1), { salt: sb })),
      { code: 'PLX_REVEAL_MISMATCH' },
    );
    await handleResult(f.state, f.work, a.address, await a.result(la, output(1), { salt: sa }));
    assert.equal((await f.task(taskIds[0]!)).status, 'assigned', 'one reveal of two: no verdict');
    await handleResult(f.state, f.work, b.address, await b.result(lb, output(1), { salt: sb }));
    await f.idle();
    assert.equal((await f.task(taskIds[0]!)).status, 'completed');
    const types = await f.eventTypes(jobId);
    // Two untrusted replicas agreeing: completed, not verified (no trusted member).
    assert.ok(types.includes('task.completed'), "types.includes('task.completed')");
    assert.equal(types.at(-1), 'task.result');
    const v = await f.db
      .selectFrom('task_verifications')
      .selectAll()
      .where('task_id', '=', taskIds[0]!)
      .executeTakeFirstOrThrow();
    assert.equal(v.status, 'accepted');
    assert.equal(f.state.verifications.has(taskIds[0]!), false, 'a decided verification leaves memory');
  } finally {
    await f.close();
  }
});

test('a result for a lease the sender does not hold is refused before its output blob is read', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const other = await f.provider();
    await f.submitJob();
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    let reads = 0;
    const read = f.work.blobs.read.bind(f.work.blobs);
    f.work.blobs.read = (cid: string) => {
      reads++;
      return read(cid);
    };
    // Issue 16: the output was read, decoded and hashed before the lease was looked at.
    await assert.rejects(handleResult(f.state, f.work, other.address, await other.result(a, output(1))), {
      code: 'PLX_STALE_ASSIGNMENT',
    });
    const none = salt();
    await assert.rejects(
      handleResult(
        f.state,
        f.work,
        p.address,
        await p.result({ assignmentId: none, taskId: none }, output(2)),
      ),
      { code: 'PLX_STALE_ASSIGNMENT' },
    );
    assert.equal(reads, 0, 'no blob was read for a lease the sender does not hold');
    await handleResult(f.state, f.work, p.address, await p.result(a, output(1)));
    assert.equal(reads, 1, 'the holder of the lease is served');
  } finally {
    await f.close();
  }
});

test('a result reads its lease once in its transaction: the completion is the read (one conditional update)', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { taskIds } = await f.submitJob();
    await f.work.dispatch();
    const [a] = p.assigned();
    assert.ok(a, 'a');
    const msg = await p.result(a, output(1));
    const ran: string[] = [];
    const prepare = f.raw.prepare;
    f.raw.prepare = (text: string) => {
      if (/"assignments"/.test(text) && /^(select \*|select "id", "task_id", job_id|update)/.test(text))
        ran.push(text.slice(0, 6));
      return prepare(text);
    };
    await handleResult(f.state, f.work, p.address, msg);
    f.raw.prepare = prepare;
    // One read before the output is touched (openLeaseOf: task and canary leases in one statement),
    // one update that reads and completes.
    assert.deepEqual(ran, ['select', 'update']);
    assert.equal((await f.assignments(taskIds[0]!))[0]?.status, 'completed');
  } finally {
    await f.close();
  }
});
