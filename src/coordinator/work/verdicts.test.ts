import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobSpec } from '../../protocol/schemas.ts';
import { defersBilling } from '../market/deferredBilling.ts';
import { newReputation } from '../verification/reputation.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import { sweep } from './leases.ts';
import { handleResult } from './results.ts';
import { providerConnected, providerDraining } from './sessions.ts';
import { verdictJson } from './verdicts.ts';
import { output, workFixture } from './workFixture.ts';

/** A record past the trust bar (isTrusted). */
const trustedRecord = (t: number) => ({
  ...newReputation(t),
  alpha: 40,
  consecutiveValid: 20,
  verifiedValid: 20,
});

test('a tie-breaker decides a split round: the odd one out is faulted and slashed, the others paid', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await handleResult(f.state, f.work, a.address, await a.result(a.assigned()[0]!, output(1)));
    await handleResult(f.state, f.work, b.address, await b.result(b.assigned()[0]!, output(2)));
    await f.idle();
    // One against one: no verdict, the task is queued for a tie-breaker nobody can take yet.
    assert.equal((await f.task(taskIds[0]!)).status, 'queued');
    // A trusted tie-breaker (an untrusted one would make a head count without ground truth).
    const c = await f.provider();
    f.state.reputations.set(c.address, trustedRecord(f.clock.t));
    await providerConnected(f.state, f.work, c.link, c.hello(1));
    await f.idle();
    const [tie] = c.assigned();
    assert.equal(f.taskOf(tie), taskIds[0]);
    // Before the verdict the public events name no provider, and the tie-breaker's lease does not
    // show at all (a primary would learn its output is being checked; publicExecution.ts).
    const open = await f.db
      .selectFrom('events')
      .select(['type', 'data'])
      .where('job_id', '=', jobId)
      .execute();
    assert.equal(open.filter((e) => e.type === 'task.assigned').length, 2, 'the two replicas only');
    assert.equal(open.filter((e) => e.type === 'task.result').length, 2, 'the two replicas only');
    for (const e of open)
      for (const who of [a.address, b.address, c.address])
        assert.ok(!e.data.toLowerCase().includes(who.toLowerCase()), `${e.type} names ${who}`);
    await handleResult(f.state, f.work, c.address, await c.result(tie!, output(1)));
    await f.idle();
    const results = (await f.eventTypes(jobId)).filter((t) => t === 'task.result');
    assert.equal(results.length, 2, "the tie-breaker's result is told by the verdict, not by task.result");
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'completed');
    assert.equal(task.provider, a.address);
    assert.equal((await f.job(jobId)).status, 'completed');
    const faults = await f.db.selectFrom('verification_faults').selectAll().execute();
    assert.deepEqual(
      faults.map((x) => [x.provider, x.task_id]),
      [[b.address, taskIds[0]]],
    );
    const slashes = await f.db.selectFrom('slashes').selectAll().execute();
    assert.deepEqual(
      slashes.map((x) => x.provider),
      [b.address],
    );
    assert.ok(BigInt(slashes[0]!.amount) > 0n, 'BigInt(slashes[0]!.amount) > 0n');
    const providers = await f.db.selectFrom('providers').selectAll().orderBy('address').execute();
    const byAddress = new Map(providers.map((p) => [p.address, p]));
    assert.equal(byAddress.get(a.address)?.tasks_completed, 1);
    assert.equal(byAddress.get(c.address)?.tasks_completed, 1);
    assert.equal(byAddress.get(b.address)?.tasks_failed, 1);
    assert.equal(f.state.reputations.get(b.address)?.faults, 1);
    assert.equal(f.state.reputations.get(a.address)?.verifiedValid, 1);
    const types = await f.eventTypes(jobId);
    assert.ok(types.includes('task.verified'), "types.includes('task.verified')");
    assert.ok(types.includes('provider.faulted'), "types.includes('provider.faulted')");
    assert.ok(
      types.indexOf('task.verified') < types.indexOf('task.completed'),
      "types.indexOf('task.verified') < types.indexOf('task.completed')",
    );
  } finally {
    await f.close();
  }
});

test('an audit nobody else can run is waived: the primary result is accepted unverified', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    // Default policy: a newcomer's result is always audited while another provider is online.
    const { jobId, taskIds } = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    await f.work.dispatch();
    const [x, y] = a.taskOf(a.assigned()[0]) === taskIds[0] ? [a, b] : [b, a];
    await handleResult(f.state, f.work, x.address, await x.result(x.assigned()[0]!, output(1)));
    await f.idle();
    // Audited: queued for an auditor, but the only other provider is busy with the second task.
    assert.equal((await f.task(taskIds[0]!)).status, 'queued');
    await providerDraining(f.state, f.work, y.address);
    await f.work.dispatch();
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'completed');
    const v = await f.db
      .selectFrom('task_verifications')
      .selectAll()
      .where('task_id', '=', taskIds[0]!)
      .executeTakeFirstOrThrow();
    assert.equal(v.audit, 0);
    assert.equal(v.status, 'accepted');
    const types = await f.eventTypes(jobId);
    assert.ok(
      types.indexOf('task.audit-waived') < types.lastIndexOf('task.completed'),
      "types.indexOf('task.audit-waived') < types.lastIndexOf('task.completed')",
    );
    assert.equal(types.includes('task.verified'), false, 'accepted unverified');
  } finally {
    await f.close();
  }
});

test('verdictJson writes bigints as decimal strings', () => {
  const json = verdictJson({ slashes: [{ amount: 12345678901234567890n }] } as never);
  assert.equal(json, '{"slashes":[{"amount":"12345678901234567890"}]}');
});

test('trust is earned only from checks by trusted providers: untrusted agreement and own jobs do not count', async () => {
  const f = await workFixture();
  try {
    const [a, b, t] = [await f.provider(), await f.provider(), await f.provider()];
    for (const p of [a, b, t]) await providerConnected(f.state, f.work, p.link, p.hello(1));
    const run = async (ps: (typeof a)[], client?: string) => {
      const { taskIds } = await f.submitJob({
        verification: { policy: 'redundant', k: 2 },
        ...(client ? { client } : {}),
      });
      await f.work.dispatch();
      for (const p of ps) {
        const mine = p.assignedTo(taskIds[0]!)[0];
        assert.ok(mine, 'each provider got a replica');
        await handleResult(f.state, f.work, p.address, await p.result(mine, output(5)));
      }
      await f.idle();
      assert.equal((await f.task(taskIds[0]!)).status, 'completed');
    };
    await providerDraining(f.state, f.work, t.address);
    // Two untrusted providers agree: a verified result, but no step towards trust.
    await run([a, b]);
    for (const p of [a, b]) {
      const rep = f.state.reputations.get(p.address)!;
      assert.deepEqual([rep.verifiedValid, rep.consecutiveValid], [1, 0]);
    }
    // A trusted provider checks a: a's trust counter moves; a job b submitted itself does not count for b.
    f.state.draining.delete(t.address);
    f.state.reputations.set(t.address, { ...newReputation(f.clock.t), alpha: 40, consecutiveValid: 20 });
    await providerDraining(f.state, f.work, b.address);
    await run([a, t]);
    assert.equal(f.state.reputations.get(a.address)?.consecutiveValid, 1);
    assert.equal(
      f.state.reputations.get(t.address)?.consecutiveValid,
      20,
      'an untrusted partner credits nothing',
    );
    f.state.draining.delete(b.address);
    await providerDraining(f.state, f.work, a.address);
    await run([b, t], b.address);
    assert.equal(f.state.reputations.get(b.address)?.consecutiveValid, 0, 'its own job');
    assert.equal(f.state.reputations.get(b.address)?.verifiedValid, 2);
  } finally {
    await f.close();
  }
});

test('no ground truth: untrusted providers outvoting one fault nobody; the task waits for a trusted provider, which decides', async () => {
  const f = await workFixture();
  try {
    // Three untrusted replicas (no trusted provider online): two of a ring agree on a wrong answer.
    const [h, r1, r2] = [await f.connected(), await f.connected(), await f.connected()];
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 3 } });
    await f.work.dispatch();
    await f.idle();
    for (const [p, o] of [
      [h, 1],
      [r1, 9],
      [r2, 9],
    ] as const) {
      assert.equal(p.taskOf(p.assigned()[0]), taskIds[0]);
      await handleResult(f.state, f.work, p.address, await p.result(p.assigned()[0]!, output(o)));
    }
    await f.idle();
    // Two to one, nobody trusted: no verdict, no fault, no slash; the best-scored untrusted
    // provider online is not asked to break the tie.
    assert.equal((await f.task(taskIds[0]!)).status, 'queued');
    assert.deepEqual(await f.db.selectFrom('verification_faults').selectAll().execute(), []);
    assert.deepEqual(await f.db.selectFrom('slashes').selectAll().execute(), []);
    const u = await f.connected();
    await f.work.dispatch();
    await f.idle();
    assert.equal(u.assigned().length, 0, 'an untrusted newcomer does not decide the tie');
    assert.equal(f.state.reputations.get(h.address)?.faults ?? 0, 0);
    // Trusted providers come online: two agree with the honest minority, which wins; the ring is
    // faulted with that evidence.
    const trusted = [];
    for (let i = 0; i < 2; i++) {
      const t = await f.provider();
      f.state.reputations.set(t.address, trustedRecord(f.clock.t));
      await providerConnected(f.state, f.work, t.link, t.hello(1));
      await f.idle();
      const [a] = t.assigned();
      assert.equal(f.taskOf(a), taskIds[0], `trusted tie-breaker ${i + 1} got the task`);
      await handleResult(f.state, f.work, t.address, await t.result(a!, output(1)));
      await f.idle();
      trusted.push(t);
    }
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'completed');
    assert.equal((await f.job(jobId)).status, 'completed');
    assert.ok(
      [h.address, ...trusted.map((t) => t.address)].includes(task.provider as `0x${string}`),
      '[h.address, ...trusted.map((t) => t.address)].includes(task.provider as `0x{string}`)',
    );
    const faults = await f.db.selectFrom('verification_faults').selectAll().execute();
    assert.deepEqual(faults.map((x) => x.provider).sort(), [r1.address, r2.address].sort());
    assert.equal(f.state.reputations.get(h.address)?.faults ?? 0, 0);
  } finally {
    await f.close();
  }
});

test('liveness: a trusted execution disagreeing with an untrusted one and no other trusted provider online — past the ground-truth deadline the task is disputed with nobody slashed and nothing paid', async () => {
  const f = await workFixture();
  try {
    const t = await f.provider();
    f.state.reputations.set(t.address, trustedRecord(f.clock.t));
    await providerConnected(f.state, f.work, t.link, t.hello(1));
    const u = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await handleResult(f.state, f.work, t.address, await t.result(t.assigned()[0]!, output(1)));
    await handleResult(f.state, f.work, u.address, await u.result(u.assigned()[0]!, output(2)));
    await f.idle();
    assert.equal((await f.task(taskIds[0]!)).status, 'queued', 'waits for a second trusted provider');
    // Before the deadline the sweep leaves it waiting.
    f.clock.t += f.state.groundTruthWaitMs / 2;
    await sweep(f.state, f.work);
    assert.equal((await f.task(taskIds[0]!)).status, 'queued');
    // Past it: disputed, nobody faulted or slashed, no execution paid (the client is not charged).
    f.clock.t += f.state.groundTruthWaitMs;
    await sweep(f.state, f.work);
    await f.idle();
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'failed');
    const job = await f.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
    assert.deepEqual([job.status, job.error_code], ['failed', 'PLX_NO_GROUND_TRUTH']);
    assert.deepEqual(await f.db.selectFrom('verification_faults').selectAll().execute(), []);
    assert.deepEqual(await f.db.selectFrom('slashes').selectAll().execute(), []);
    const row = await f.db
      .selectFrom('task_verifications')
      .selectAll()
      .where('task_id', '=', taskIds[0]!)
      .executeTakeFirstOrThrow();
    assert.equal(row.status, 'disputed');
    const verdict = JSON.parse(row.verdict!) as { outcomes: { outcome: string }[] };
    assert.ok(
      verdict.outcomes.every((o) => o.outcome !== 'valid' && o.outcome !== 'unverified'),
      "verdict.outcomes.every((o) => o.outcome !== 'valid' && o.outcome !== 'unverified')",
    );
    const disputed = await f.db
      .selectFrom('events')
      .select('data')
      .where('type', '=', 'task.disputed')
      .executeTakeFirstOrThrow();
    assert.equal(JSON.parse(disputed.data).reason, 'no-ground-truth');
    // Nobody's reputation took a fault for it.
    assert.equal(f.state.reputations.get(u.address)?.faults ?? 0, 0);
    assert.equal(f.state.reputations.get(t.address)?.faults ?? 0, 0);
  } finally {
    await f.close();
  }
});

test('a ring with no trusted provider online audits itself: accepted unverified, no trust credited, billed as unchecked', async () => {
  const f = await workFixture();
  try {
    // Two untrusted providers of one ring, nobody trusted online: the audit falls back to the other.
    const [a, b] = [await f.connected(), await f.connected()];
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'audit' } });
    await f.work.dispatch();
    const primary = a.assigned().length > 0 ? a : b;
    const auditor = primary === a ? b : a;
    await handleResult(
      f.state,
      f.work,
      primary.address,
      await primary.result(primary.assigned()[0]!, output(9)),
    );
    await f.idle();
    await f.work.dispatch();
    await f.idle();
    const [check] = auditor.assigned();
    assert.equal(f.taskOf(check), taskIds[0], 'the untrusted fallback auditor got the task');
    await handleResult(f.state, f.work, auditor.address, await auditor.result(check!, output(9)));
    await f.idle();
    assert.equal((await f.task(taskIds[0]!)).status, 'completed', 'agreement still delivers the output');
    const row = await f.db
      .selectFrom('task_verifications')
      .selectAll()
      .where('task_id', '=', taskIds[0]!)
      .executeTakeFirstOrThrow();
    assert.equal(row.audit, 1, 'the audit was drawn and run');
    const verdict = JSON.parse(row.verdict!) as Verdict;
    assert.equal(verdict.verified, false, 'untrusted agreement is not a verification');
    assert.deepEqual(
      verdict.outcomes.map((o) => o.outcome),
      ['unverified', 'unverified'],
      'both executions agreed, neither is a checked valid result',
    );
    // What the client sees: no task.verified, task.completed with verified: false.
    const types = await f.eventTypes(jobId);
    assert.equal(types.includes('task.verified'), false, 'no task.verified event');
    const completed = await f.db
      .selectFrom('events')
      .select('data')
      .where('job_id', '=', jobId)
      .where('type', '=', 'task.completed')
      .executeTakeFirstOrThrow();
    assert.equal(JSON.parse(completed.data).verified, false, 'task.completed says unverified');
    // Billed as an unchecked output (at the job's end, reopened if its provider is caught first).
    const job = await f.job(jobId);
    assert.equal(defersBilling(JSON.parse(job.spec) as JobSpec, verdict), true, 'billing deferred');
    // No trust from agreement among untrusted providers: exposure (`agreed`) only.
    for (const p of [a, b]) {
      const rep = f.state.reputations.get(p.address)!;
      assert.deepEqual([rep.verifiedValid, rep.consecutiveValid], [1, 0], `${p.address}: agreed, not valid`);
    }
  } finally {
    await f.close();
  }
});
