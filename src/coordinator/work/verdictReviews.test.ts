import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { newReputation } from '../verification/reputation.ts';
import { reverseFault, reviewToCheck } from './canaryReviews.ts';
import { recordFault } from './faults.ts';
import { handleResult } from './results.ts';
import { providerConnected } from './sessions.ts';
import { checkReview, commitAndReveal, output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

const trustedRecord = (t: number) => ({
  ...newReputation(t),
  alpha: 40,
  consecutiveValid: 25,
  verifiedValid: 25,
});

async function trustedProvider(f: Fixture): Promise<ScriptedProvider> {
  const p = await f.provider();
  f.state.reputations.set(p.address, trustedRecord(f.clock.t));
  await providerConnected(f.state, f.work, p.link, p.hello(1));
  return p;
}

const answer = commitAndReveal;

for (const truth of ['the outvoted provider', 'the verdict'] as const) {
  test(`an outvoted verdict is reviewed once a provider that outvoted is proven faulty: a trusted check that agrees with ${truth} ${truth === 'the verdict' ? 'leaves the fault standing' : 'makes the outvoted provider whole'}`, async () => {
    const f = await workFixture({ canaries: { rate: 1e-12 } });
    try {
      // The pool is full: the verdict is kept as a review-only handle, never issued as a canary.
      (f.state as { canaryPoolSize: number }).canaryPoolSize = 0;
      // A trusted provider turned liar (`t`) and a ring member (`r`) outvote the honest `h`.
      const t = await trustedProvider(f);
      const r = await f.connected();
      const h = await f.connected();
      const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 3 } });
      await f.work.dispatch();
      await f.idle();
      for (const [p, o] of [
        [t, 9],
        [r, 9],
        [h, 1],
      ] as const) {
        const [a] = p.assigned();
        assert.equal(f.taskOf(a), taskIds[0]);
        // v1 results (the coordinator commits for them): one round, in any order.
        await handleResult(f.state, f.work, p.address, await p.result(a!, output(o)));
      }
      await f.idle();
      assert.equal((await f.task(taskIds[0]!)).status, 'completed');
      const [fault] = await f.db.selectFrom('verification_faults').selectAll().execute();
      assert.deepEqual([fault?.provider, fault?.kind], [h.address, 'outvoted']);
      assert.equal(f.state.reputations.get(h.address)?.faults, 1);
      const handle = await f.db
        .selectFrom('canary_tasks')
        .selectAll()
        .where('source_task_id', '=', taskIds[0]!)
        .executeTakeFirstOrThrow();
      assert.deepEqual([handle.retired, handle.issued], [1, f.state.canaryMaxIssues], 'never issued');
      const sources = await f.db.selectFrom('canary_sources').select('provider').execute();
      assert.deepEqual(sources.map((x) => x.provider).sort(), [r.address, t.address].sort());

      // `t` is proven faulty elsewhere: the verdict it vouched for is re-verified.
      await f.db.transaction().execute((trx) =>
        recordFault(f.state, f.work, trx, {
          provider: t.address,
          taskId: `0x${randomBytes(32).toString('hex')}`,
          jobId: null,
          kind: 'capability',
          evidence: {},
        }),
      );
      const [opened] = await f.db.selectFrom('canary_reviews').selectAll().execute();
      assert.deepEqual([opened?.canary_id, opened?.reason], [handle.id, 'source-faulted']);
      // A trusted checker (independent of the verdict) takes the check with its next slot.
      const x = await trustedProvider(f);
      await f.submitJob({ tasks: 4 });
      await f.work.dispatch();
      await f.idle();
      const [check] = x.assigned();
      assert.ok(check, 'check');
      const lease = await f.db
        .selectFrom('canary_assignments')
        .selectAll()
        .where('id', '=', check.assignmentId)
        .executeTakeFirstOrThrow();
      assert.equal(lease.canary_id, handle.id, 'the trusted slot went to the check');
      await answer(f, x, check, output(truth === 'the verdict' ? 9 : 1));
      // Overturning needs a second independent check that agrees with the first.
      if (truth !== 'the verdict') await checkReview(f, output(1));

      const review = await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow();
      const reversals = await f.db.selectFrom('fault_reversals').selectAll().execute();
      const slash = await f.db
        .selectFrom('slashes')
        .selectAll()
        .where('provider', '=', h.address)
        .executeTakeFirstOrThrow();
      if (truth === 'the verdict') {
        assert.equal(review.status, 'confirmed');
        assert.deepEqual(reversals, []);
        assert.equal(f.state.reputations.get(h.address)?.faults, 1);
        assert.equal(
          (
            await f.db
              .selectFrom('canary_tasks')
              .select('retired')
              .where('id', '=', handle.id)
              .executeTakeFirst()
          )?.retired,
          1,
          'a review handle never goes into circulation',
        );
        return;
      }
      assert.equal(review.status, 'poisoned');
      assert.deepEqual(
        reversals.map((v) => [v.provider, v.task_id, v.slash_id, v.withdrawn, v.reason]),
        [[h.address, taskIds[0], slash.id, 1, 'overturned verdict']],
      );
      const rep = f.state.reputations.get(h.address);
      assert.equal(rep?.faults, 0);
      assert.ok((rep?.beta ?? 99) < 1.01, `the fault's weight is off beta (${rep?.beta})`);
      assert.ok(
        (await f.eventTypes(jobId)).includes('task.overturned'),
        "(await f.eventTypes(jobId)).includes('task.overturned')",
      );
      assert.ok(
        (await f.eventTypes()).includes('provider.reinstated'),
        "(await f.eventTypes()).includes('provider.reinstated')",
      );
      const hRow = await f.db
        .selectFrom('providers')
        .select('tasks_failed')
        .where('address', '=', h.address)
        .executeTakeFirstOrThrow();
      assert.equal(hRow.tasks_failed, 0);
    } finally {
      await f.close();
    }
  });
}

test('a fault is reversed at most once: a second reversal of the same fault (two reviews settled at once) changes nothing', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const taskId = `0x${randomBytes(32).toString('hex')}`;
    for (const id of [taskId, `0x${randomBytes(32).toString('hex')}`]) {
      // Two faults: the one to reverse, and a real one that must stay.
      await f.db.transaction().execute((trx) =>
        recordFault(f.state, f.work, trx, {
          provider: p.address,
          taskId: id,
          jobId: null,
          kind: 'capability',
          evidence: {},
        }),
      );
    }
    assert.equal(f.state.reputations.get(p.address)?.faults, 2);
    const miss = { task_id: taskId, provider: p.address, rep_before: null, reason: 'overturned verdict' };
    for (let i = 0; i < 2; i++)
      await f.db.transaction().execute((trx) => reverseFault(f.state, f.work, trx, miss, { check: i }));
    const rows = await f.db.selectFrom('fault_reversals').selectAll().execute();
    assert.equal(rows.length, 1, 'one reversal row');
    assert.equal(f.state.reputations.get(p.address)?.faults, 1, 'the real fault stands');
  } finally {
    await f.close();
  }
});

test('the check of a review never goes to a network kin of a provider it would clear', async () => {
  const f = await workFixture();
  try {
    const from = async (ip: string, trusted: boolean) => {
      const p = await f.provider();
      if (trusted) f.state.reputations.set(p.address, trustedRecord(f.clock.t));
      await providerConnected(f.state, f.work, p.link, { ...p.hello(1), remoteAddress: ip });
      f.clock.t += 11 * 60_000; // apart in time: no registration-burst kinship
      return p;
    };
    const outvoted = await from('203.0.113.7', false);
    const kin = await from('203.0.113.99', true); // same /24 as the outvoted provider
    const independent = await from('198.51.100.4', true);
    const sourceTask = `0x${randomBytes(32).toString('hex')}`;
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: outvoted.address,
        taskId: sourceTask,
        jobId: null,
        kind: 'outvoted',
        evidence: {},
      }),
    );
    const t = f.clock.t;
    await f.db
      .insertInto('canary_tasks')
      .values({
        id: 'canary-1',
        source_task_id: sourceTask,
        source_job_id: 'job-1',
        model: 'm'.repeat(64),
        input_cid: 'i'.repeat(64),
        gpu: 0,
        timeout_ms: 60_000,
        expected_digest: 'd',
        expected_cid: 'e'.repeat(64),
        issued: 0,
        retired: 1,
        created_at: t,
      })
      .execute();
    await f.db
      .insertInto('canary_reviews')
      .values({
        id: 'review-1',
        canary_id: 'canary-1',
        reason: 'source-faulted',
        lease_id: null,
        provider: null,
        evidence: null,
        status: 'open',
        check_lease_id: null,
        checked_by: null,
        created_at: t,
        resolved_at: null,
      })
      .execute();
    assert.equal(await reviewToCheck(f.state, f.work, kin.address), undefined, 'not to a kin checker');
    assert.equal((await reviewToCheck(f.state, f.work, independent.address))?.review_id, 'review-1');
  } finally {
    await f.close();
  }
});
