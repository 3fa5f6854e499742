import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { boundLeaseId } from '../../protocol/taskRef.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { newReputation } from '../verification/reputation.ts';
import { sweep } from './leases.ts';
import { handleCommit, handleResult } from './results.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { output, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/** A reputation past the trust bar (score ≥ 0.9, ≥ 10 verified-valid in a row). */
const trusted = (t: number) => ({ ...newReputation(t), alpha: 40, consecutiveValid: 20, verifiedValid: 20 });

/** A known-answer task in the pool: its expected output is `output(7)`. */
async function addCanary(f: Fixture, timeoutMs = 60_000): Promise<string> {
  const id = `canary-${randomBytes(4).toString('hex')}`;
  await f.db
    .insertInto('canary_tasks')
    .values({
      id,
      source_task_id: `0x${randomBytes(32).toString('hex')}`,
      source_job_id: `0x${randomBytes(32).toString('hex')}`,
      model: f.put(randomBytes(8)),
      input_cid: f.put(randomBytes(8)),
      gpu: 0,
      timeout_ms: timeoutMs,
      expected_digest: tensorSetDigest(output(7)),
      expected_cid: f.put(encodeSafetensors(output(7))),
      issued: 0,
      retired: 0,
      created_at: f.clock.t,
    })
    .execute();
  return id;
}

test('a task two providers agreed on, one already trusted, is seeded as a canary (its input and the agreed output)', async () => {
  // A rate above zero keeps the pool; this small it never draws an injection.
  const f = await workFixture({ canaries: { rate: 1e-12 } });
  try {
    const a = await f.connected();
    const b = await f.connected();
    f.state.reputations.set(a.address, trusted(f.clock.t));
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    const ra = await a.result(a.assigned()[0]!, output(3));
    await handleResult(f.state, f.work, a.address, ra);
    await handleResult(f.state, f.work, b.address, await b.result(b.assigned()[0]!, output(3)));
    await f.idle();
    const pool = await f.db.selectFrom('canary_tasks').selectAll().execute();
    assert.equal(pool.length, 1);
    assert.equal(pool[0]?.source_task_id, taskIds[0]);
    assert.equal(pool[0]?.source_job_id, jobId);
    assert.equal(pool[0]?.expected_digest, tensorSetDigest(output(3)));
    assert.equal(pool[0]?.expected_cid, ra.outputCid);
    assert.equal(pool[0]?.input_cid, (await f.task(taskIds[0]!)).input_cid);
  } finally {
    await f.close();
  }
});

test('agreement among untrusted providers never seeds a canary (a colluding pair cannot plant an answer)', async () => {
  const f = await workFixture({ canaries: { rate: 1e-12 } });
  try {
    const a = await f.connected();
    const b = await f.connected();
    // b is one verified result short of trusted: this very verdict must not count.
    f.state.reputations.set(b.address, { ...trusted(f.clock.t), consecutiveValid: 9 });
    const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await handleResult(f.state, f.work, a.address, await a.result(a.assigned()[0]!, output(3)));
    await handleResult(f.state, f.work, b.address, await b.result(b.assigned()[0]!, output(3)));
    await f.idle();
    assert.equal((await f.task(taskIds[0]!)).status, 'completed');
    assert.deepEqual(await f.db.selectFrom('canary_tasks').selectAll().execute(), []);
  } finally {
    await f.close();
  }
});

test('a canary takes a slot like any task; a right answer is valid, a wrong one a fault, no job touched', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const canaryId = await addCanary(f);
    const c = await f.connected();
    const first = await f.submitJob();
    await f.work.dispatch();
    const [assign] = c.assigned();
    assert.ok(assign, 'assign');
    assert.notEqual(c.taskOf(assign), first.taskIds[0], 'the slot went to the canary');
    assert.equal((await f.task(first.taskIds[0]!)).status, 'queued');
    const lease = await f.db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', assign.assignmentId)
      .executeTakeFirstOrThrow();
    assert.equal(lease.canary_id, canaryId);
    assert.equal(lease.status, 'leased');
    // A canary lease is bound to its (fresh) task like any lease (0066).
    assert.equal(lease.id, boundLeaseId(lease.task_id, c.address, lease.lease_salt as string));
    // v2: a lone execution is told to reveal as soon as it committed.
    const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
    await handleCommit(f.state, f.work, c.address, await c.commit(assign, output(7), salt));
    assert.deepEqual(c.sent.at(-1), { type: 'reveal', assignmentId: assign.assignmentId });
    await handleResult(f.state, f.work, c.address, await c.result(assign, output(7), { salt }));
    await f.idle();
    const passed = await f.db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', assign.assignmentId)
      .executeTakeFirstOrThrow();
    assert.equal(passed.status, 'passed');
    assert.equal(f.state.reputations.get(c.address)?.verifiedValid, 1);
    // The freed slot took the real task (this provider already had the only canary).
    assert.equal(c.taskOf(c.assigned()[1]), first.taskIds[0]);

    const d = await f.provider();
    const second = await f.submitJob();
    await providerConnected(f.state, f.work, d.link, d.hello(1));
    await f.idle();
    const [wrong] = d.assigned();
    assert.ok(wrong, 'wrong');
    await handleResult(f.state, f.work, d.address, await d.result(wrong, output(8)));
    const failed = await f.db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', wrong.assignmentId)
      .executeTakeFirstOrThrow();
    assert.equal(failed.status, 'failed');
    const faults = await f.db.selectFrom('verification_faults').selectAll().execute();
    assert.deepEqual(
      faults.map((x) => [x.provider, x.kind, x.job_id]),
      [[d.address, 'canary', '']],
    );
    assert.equal((await f.db.selectFrom('slashes').selectAll().execute())[0]?.provider, d.address);
    assert.equal(f.state.reputations.get(d.address)?.faults, 1);
    // No real job saw any of it; in public the fault is a verdict's fault on the canary's shadow
    // job (kind `outvoted`, on that job's stream, not the network's: issue 15).
    const shadow = await f.db
      .selectFrom('shadow_jobs')
      .select('id')
      .where('lease_id', '=', wrong.assignmentId)
      .executeTakeFirstOrThrow();
    const faulted = await f.db
      .selectFrom('events')
      .select(['job_id', 'data'])
      .where('type', '=', 'provider.faulted')
      .execute();
    assert.deepEqual(
      faulted.map((e) => [e.job_id, (JSON.parse(e.data) as { kind: string }).kind]),
      [[shadow.id, 'outvoted']],
    );
    await f.idle();
    // Caught at once, with no record: suspended (isSuspended), so the freed slot takes nothing.
    assert.equal((await f.job(second.jobId)).status, 'queued');
    assert.equal(d.assigned().length, 1);
    // A canary result from a provider it is not leased to is stale.
    await assert.rejects(handleResult(f.state, f.work, c.address, await c.result(wrong, output(7))), {
      code: 'PLX_STALE_ASSIGNMENT',
    });
  } finally {
    await f.close();
  }
});

test('an expired canary lease is a timeout, never a fault, and is cancelled on its provider', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f, 5_000);
    const c = await f.connected();
    await f.submitJob();
    await f.work.dispatch();
    const [assign] = c.assigned();
    assert.ok(assign, 'assign');
    f.clock.t += 6_000;
    await sweep(f.state, f.work);
    await f.idle();
    const lease = await f.db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', assign.assignmentId)
      .executeTakeFirstOrThrow();
    assert.equal(lease.status, 'expired');
    assert.ok(
      c.sent.some((m) => m.type === 'cancel' && m.assignmentId === assign.assignmentId),
      "c.sent.some((m) => m.type === 'cancel' && m.assignmentId === assign.assignmentId)",
    );
    assert.equal(f.state.reputations.get(c.address)?.timeouts, 1);
    assert.equal(f.state.reputations.get(c.address)?.faults, 0);
    assert.deepEqual(await f.db.selectFrom('verification_faults').selectAll().execute(), []);
  } finally {
    await f.close();
  }
});

test('a provider back within the grace with its canary lease keeps it until its deadline', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f, 600_000);
    const c = await f.connected();
    await f.submitJob();
    await f.work.dispatch();
    const [assign] = c.assigned();
    assert.ok(assign, 'a canary lease');
    const lease = () =>
      f.db
        .selectFrom('canary_assignments')
        .selectAll()
        .where('id', '=', assign.assignmentId)
        .executeTakeFirstOrThrow();
    const created = (await lease()).created_at;
    await providerDisconnected(f.state, f.work, c.link);
    assert.equal((await lease()).lease_expires_at, f.clock.t + DISCONNECT_GRACE_SEC * 1000, 'shortened');
    f.clock.t += 2000;
    await providerConnected(f.state, f.work, { ...c.link }, c.hello(1, [assign.assignmentId]));
    assert.equal((await lease()).lease_expires_at, created + 600_000, 'its deadline back');
    f.clock.t += DISCONNECT_GRACE_SEC * 1000;
    await sweep(f.state, f.work);
    await f.idle();
    assert.equal((await lease()).status, 'leased', 'not expired at the end of the grace');
    assert.equal(f.state.reputations.get(c.address)?.timeouts ?? 0, 0, 'no timeout recorded');
  } finally {
    await f.close();
  }
});

test('probation: a newcomer’s slot goes to a canary even at a tiny canary rate, a provider with a verified record’s does not, and a fault puts a provider back on probation', async () => {
  const f = await workFixture({ canaries: { rate: 1e-12 } });
  try {
    await addCanary(f);
    await addCanary(f);
    const veteran = await f.connected();
    f.state.reputations.set(veteran.address, {
      ...newReputation(f.clock.t),
      alpha: 4,
      consecutiveValid: 3,
      verifiedValid: 3,
    });
    const { taskIds } = await f.submitJob();
    await f.work.dispatch();
    await f.idle();
    assert.equal(
      veteran.taskOf(veteran.assigned()[0]),
      taskIds[0],
      'a provider with a record gets the real task',
    );
    const newcomer = await f.connected();
    await f.submitJob();
    await f.work.dispatch();
    await f.idle();
    const [first] = newcomer.assigned();
    assert.ok(first, 'first');
    const lease = await f.db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', first.assignmentId)
      .execute();
    assert.equal(lease.length, 1, 'the newcomer’s first slot is a canary');
    // It passes: a verified result, off probation. The veteran misses once: a record survives one
    // fault (not suspended), back on probation, so its next slot is a canary (one it has not seen).
    await handleResult(f.state, f.work, newcomer.address, await newcomer.result(first, output(7)));
    await f.idle();
    assert.equal(f.state.reputations.get(newcomer.address)?.consecutiveValid, 1);
    f.state.reputations.set(veteran.address, {
      ...newReputation(f.clock.t),
      alpha: 4,
      beta: 2,
      faults: 1,
      consecutiveValid: 0,
      verifiedValid: 3,
    });
    f.work.scheduler.refresh(veteran.address);
    await f.submitJob();
    await handleResult(
      f.state,
      f.work,
      veteran.address,
      await veteran.result(veteran.assigned()[0]!, output(1)),
    );
    await f.idle();
    const second = veteran.assigned()[1];
    assert.ok(second, 'second');
    const again = await f.db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', second.assignmentId)
      .execute();
    assert.equal(again.length, 1, 'after a fault the next slot is a canary');
  } finally {
    await f.close();
  }
});
