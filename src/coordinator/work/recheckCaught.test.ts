/**
 * A caught provider's unchecked outputs (recheckCaught.ts, market/deferredBilling.ts): an
 * unverified task of an audited job (a sampled-out render frame, an unaudited inference task) is
 * billed only when its job ends; when its provider is proven faulty on any task first — of the same
 * job, another job, a canary — the task is reopened (queued again, output and verification cleared,
 * the job's done count lowered) for a fresh primary, and the client was never billed for it.
 * Outputs an audit vouched for, other providers' outputs and ended jobs' outputs stand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import { createMarket, type Market } from '../market/createMarket.ts';
import { openStore } from '../store/openStore.ts';
import { newReputation } from '../verification/reputation.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import { recordFault } from './faults.ts';
import { loadVerification } from './openVerifications.ts';
import { billDeferredOutputs, reopenCaughtOutputs } from './recheckCaught.ts';
import { handleCommit, handleResult } from './results.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { settleVerdict } from './verdicts.ts';
import { commitAndReveal, output, workFixture } from './workFixture.ts';

const verdictOf = (taskId: string, provider: string, verified: boolean) =>
  ({
    taskId,
    status: 'accepted',
    acceptedDigest: undefined,
    acceptedFrom: provider,
    verified,
    outcomes: [{ provider, outcome: verified ? 'valid' : 'unverified' }],
    faults: [],
    slashes: [],
    executions: 1,
  }) as unknown as Verdict;

test("a caught provider's unverified frames are reopened and queued again; checked frames and others' stand", async () => {
  const billed: Array<{ taskId: string; jobEnded: boolean }> = [];
  const market = {
    async onVerdict(_trx: unknown, _jobId: string, v: Verdict, known: { jobEnded?: boolean } = {}) {
      billed.push({ taskId: v.taskId, jobEnded: known.jobEnded === true });
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
    const cheater = await f.connected();
    const honest = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ tasks: 4, verification: { policy: 'audit' } });
    const spec = JSON.parse((await f.job(jobId)).spec) as Record<string, unknown>;
    await f.db
      .updateTable('jobs')
      .set({
        kind: 'blender.render',
        spec: JSON.stringify({ ...spec, kind: 'blender.render' }),
      })
      .where('id', '=', jobId)
      .execute();
    await f.setTasksDone(jobId, 3);
    // Frames 0 and 1 by the cheater (0 sampled out, 1 audited and agreed), 2 by the honest provider
    // sampled out; frame 3 is the one the cheater was just caught on.
    const done: Array<[number, string, boolean]> = [
      [0, cheater.address, false],
      [1, cheater.address, true],
      [2, honest.address, false],
    ];
    for (const [i, provider, verified] of done) {
      await f.db
        .updateTable('tasks')
        .set({ status: 'completed', provider, output_cid: 'ab'.repeat(32), result: '{}', attempts: 1 })
        .where('id', '=', taskIds[i]!)
        .execute();
      await f.db
        .insertInto('task_verifications')
        .values({
          task_id: taskIds[i]!,
          job_id: jobId,
          policy: JSON.stringify({ kind: 'audit' }),
          audit: verified ? 1 : 0,
          status: 'accepted',
          verdict: JSON.stringify(verdictOf(taskIds[i]!, provider, verified)),
          log: '[]',
          created_at: 1,
          updated_at: 1,
        })
        .execute();
    }
    const reopened = await f.db
      .transaction()
      .execute((trx) => reopenCaughtOutputs(f.state, f.work, trx, cheater.address, taskIds[3]!));
    assert.deepEqual(reopened, [{ jobId, taskId: taskIds[0] }], 'only the frame nobody checked');
    const t0 = await f.task(taskIds[0]!);
    assert.deepEqual([t0.status, t0.provider, t0.output_cid], ['queued', null, null]);
    assert.equal((await f.task(taskIds[1]!)).status, 'completed', 'an audited frame stands');
    assert.equal((await f.task(taskIds[2]!)).status, 'completed', "another provider's frame stands");
    assert.equal((await f.job(jobId)).tasks_done, 2);
    const rows = await f.db.selectFrom('task_verifications').select('task_id').execute();
    assert.ok(!rows.some((r) => r.task_id === taskIds[0]), 'the reopened frame verifies afresh');
    // Back in the queue dispatch reads, as a fresh primary lease (no verification to resume).
    const queued = await f.work.stmt.all(f.db, f.work.q.queuedPage, { after: -1, afterId: '', limit: 10 });
    assert.ok(
      queued.some((t) => t.id === taskIds[0]),
      'the reopened frame is queued for dispatch',
    );
    assert.equal(await loadVerification(f.state, f.work, taskIds[0]!), undefined);
    // The job's end bills the sampled-out frames still standing (frame 2), never frame 0's old result.
    const renderSpec = {
      ...spec,
      kind: 'blender.render',
      verification: { policy: 'audit' },
    } as unknown as JobSpec;
    await f.db.transaction().execute((trx) => billDeferredOutputs(f.work, trx, jobId, renderSpec));
    assert.deepEqual(billed, [{ taskId: taskIds[2], jobEnded: true }]);
    // The same at the end of an audited inference job (issue 15); a job under `none` was billed at
    // each verdict and a training job by its rounds: nothing waits for their end.
    billed.length = 0;
    const onnxSpec = { ...renderSpec, kind: 'onnx.infer' } as unknown as JobSpec;
    await f.db.transaction().execute((trx) => billDeferredOutputs(f.work, trx, jobId, onnxSpec));
    assert.deepEqual(billed, [{ taskId: taskIds[2], jobEnded: true }]);
    billed.length = 0;
    for (const other of [
      { ...onnxSpec, verification: { policy: 'none' } },
      { ...onnxSpec, kind: 'train.diloco' },
    ] as unknown as JobSpec[])
      await f.db.transaction().execute((trx) => billDeferredOutputs(f.work, trx, jobId, other));
    assert.deepEqual(billed, [], 'nothing deferred for none-policy or training jobs');
  } finally {
    await f.close();
  }
});

test('the market bills a sampled-out render frame only once its job has ended', async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const market = createMarket({
      db: store.db,
      clock: { epochAt: () => 1, startsAt: () => 0, endsAt: () => 1 } as never,
      log: createLogger('test', { level: 'silent' }),
      now: () => 1_000,
    });
    const provider = `0x${'0a'.repeat(20)}`;
    const spec = {
      kind: 'blender.render',
      taskTimeoutSec: 600,
      resources: { gpu: false },
      verification: { policy: 'audit' },
    } as unknown as JobSpec;
    const known = {
      job: { client: `0x${'0c'.repeat(20)}`, spec, maxPrice: 10n ** 18n },
      executions: [
        {
          assignment_id: `0x${'a1'.repeat(32)}`,
          provider,
          result: JSON.stringify({ usage: { wallMs: 9000, cpuMs: 9000, peakRssBytes: 0 } }),
        },
      ],
    };
    const entries = () => store.db.selectFrom('ledger_entries').select('ref').execute();
    const v = verdictOf(`0x${'71'.repeat(32)}`, provider, false);
    await store.db.transaction().execute((trx) => market.onVerdict(trx, `0x${'1d'.repeat(32)}`, v, known));
    assert.equal((await entries()).length, 0, 'not billed while the job runs');
    await store.db
      .transaction()
      .execute((trx) => market.onVerdict(trx, `0x${'1d'.repeat(32)}`, v, { ...known, jobEnded: true }));
    assert.equal((await entries()).length, 1, 'billed at the job end');
    // An audited ONNX job's unverified task waits for its job's end as well (issue 15)…
    const onnx = { ...known, job: { ...known.job, spec: { ...spec, kind: 'onnx.infer' } as JobSpec } };
    onnx.executions = [{ ...known.executions[0]!, assignment_id: `0x${'a2'.repeat(32)}` }];
    const v2 = { ...v, taskId: `0x${'72'.repeat(32)}` };
    await store.db.transaction().execute((trx) => market.onVerdict(trx, `0x${'1e'.repeat(32)}`, v2, onnx));
    assert.equal((await entries()).length, 1, 'an audited inference task is not billed while its job runs');
    // …while a job that asked for no verification is billed at once: nothing will check it later.
    const none = {
      ...onnx,
      job: { ...onnx.job, spec: { ...onnx.job.spec, verification: { policy: 'none' } } as JobSpec },
    };
    await store.db.transaction().execute((trx) => market.onVerdict(trx, `0x${'1e'.repeat(32)}`, v2, none));
    assert.equal((await entries()).length, 2, 'a none-policy task is billed at its verdict');
  } finally {
    await store.close();
  }
});

test('settling a verdict that faults a render provider reopens its unchecked frames, with an event', async () => {
  const f = await workFixture();
  try {
    const cheater = await f.connected();
    const honest = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const spec = JSON.parse((await f.job(jobId)).spec) as Record<string, unknown>;
    await f.db
      .updateTable('jobs')
      .set({
        kind: 'blender.render',
        spec: JSON.stringify({ ...spec, kind: 'blender.render' }),
      })
      .where('id', '=', jobId)
      .execute();
    await f.setTasksDone(jobId, 1);
    f.state.jobCache.delete(jobId);
    await f.db
      .updateTable('tasks')
      .set({
        status: 'completed',
        provider: cheater.address,
        output_cid: 'ab'.repeat(32),
        result: '{}',
        attempts: 1,
      })
      .where('id', '=', taskIds[0]!)
      .execute();
    await f.db
      .insertInto('task_verifications')
      .values({
        task_id: taskIds[0]!,
        job_id: jobId,
        policy: JSON.stringify({ kind: 'audit' }),
        audit: 0,
        status: 'accepted',
        verdict: JSON.stringify(verdictOf(taskIds[0]!, cheater.address, false)),
        log: '[]',
        created_at: 1,
        updated_at: 1,
      })
      .execute();
    // Frame 1: the cheater outvoted by the honest auditor and a tie-breaker.
    await f.db
      .insertInto('task_executions')
      .values({
        assignment_id: `0x${'e1'.repeat(32)}`,
        task_id: taskIds[1]!,
        provider: honest.address,
        output_cid: 'cd'.repeat(32),
        output_digest: `0x${'cd'.repeat(32)}`,
        salt: `0x${'00'.repeat(32)}`,
        result: JSON.stringify({ usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 0 } }),
        created_at: 1,
      })
      .execute();
    const caught = {
      ...verdictOf(taskIds[1]!, honest.address, false),
      outcomes: [
        { provider: honest.address, outcome: 'unverified' },
        { provider: cheater.address, outcome: 'fault' },
      ],
      faults: [
        { provider: cheater.address, evidence: { kind: 'outvoted', taskId: taskIds[1], agreeing: [] } },
      ],
    } as unknown as Verdict;
    const r = await f.db.transaction().execute((trx) =>
      settleVerdict(f.state, f.work, trx, jobId, caught, [], {
        row: { policy: { kind: 'audit' }, audit: true },
      }),
    );
    assert.equal(r.jobDone, false, 'the reopened frame keeps the job running');
    assert.equal((await f.task(taskIds[0]!)).status, 'queued', "the cheater's unchecked frame is reopened");
    assert.equal((await f.task(taskIds[1]!)).status, 'completed');
    assert.equal((await f.job(jobId)).tasks_done, 1);
    assert.ok((await f.eventTypes(jobId)).includes('task.reopened'), 'a task.reopened event');
  } finally {
    await f.close();
  }
});

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/** Marks task `taskId` of `jobId` completed by `provider` with an accepted verdict, checked or not. */
async function completedBy(f: Fixture, jobId: string, taskId: string, provider: string, verified: boolean) {
  await f.db
    .updateTable('tasks')
    .set({ status: 'completed', provider, output_cid: 'ab'.repeat(32), result: '{}', attempts: 1 })
    .where('id', '=', taskId)
    .execute();
  const spec = JSON.parse((await f.job(jobId)).spec) as { verification?: unknown };
  await f.db
    .insertInto('task_verifications')
    .values({
      task_id: taskId,
      job_id: jobId,
      policy: JSON.stringify(spec.verification ?? { kind: 'audit' }),
      audit: verified ? 1 : 0,
      status: 'accepted',
      verdict: JSON.stringify(verdictOf(taskId, provider, verified)),
      log: '[]',
      created_at: 1,
      updated_at: 1,
    })
    .execute();
  await f.db.updateTable('jobs').set({ status: 'running' }).where('id', '=', jobId).execute();
  await f.setTasksDone(jobId, (await f.job(jobId)).tasks_done + 1);
}

test("a provider faulted on another job's task loses its unchecked outputs of every running audited job; checked, ended and unverified-by-choice outputs stand", async () => {
  const f = await workFixture();
  try {
    const cheater = await f.connected();
    const honest = await f.connected();
    const running = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const ended = await f.submitJob({ tasks: 1, verification: { policy: 'audit' } });
    const none = await f.submitJob({ tasks: 2, verification: { policy: 'none' } });
    const checked = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const caughtIn = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    await completedBy(f, running.jobId, running.taskIds[0]!, cheater.address, false);
    await completedBy(f, ended.jobId, ended.taskIds[0]!, cheater.address, false);
    await f.db.updateTable('jobs').set({ status: 'completed' }).where('id', '=', ended.jobId).execute();
    await completedBy(f, none.jobId, none.taskIds[0]!, cheater.address, false);
    await completedBy(f, checked.jobId, checked.taskIds[0]!, cheater.address, true);
    // The cheater is outvoted on a task of yet another job.
    await f.db
      .insertInto('task_executions')
      .values({
        assignment_id: `0x${'e2'.repeat(32)}`,
        task_id: caughtIn.taskIds[0]!,
        provider: honest.address,
        output_cid: 'cd'.repeat(32),
        output_digest: `0x${'cd'.repeat(32)}`,
        salt: `0x${'00'.repeat(32)}`,
        result: JSON.stringify({ usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 0 } }),
        created_at: 1,
      })
      .execute();
    const caught = {
      ...verdictOf(caughtIn.taskIds[0]!, honest.address, false),
      outcomes: [
        { provider: honest.address, outcome: 'unverified' },
        { provider: cheater.address, outcome: 'fault' },
      ],
      faults: [
        {
          provider: cheater.address,
          evidence: { kind: 'outvoted', taskId: caughtIn.taskIds[0], agreeing: [] },
        },
      ],
    } as unknown as Verdict;
    await f.db.transaction().execute((trx) =>
      settleVerdict(f.state, f.work, trx, caughtIn.jobId, caught, [], {
        row: { policy: { kind: 'audit' }, audit: true },
      }),
    );
    const statusOf = async (id: string) => (await f.task(id)).status;
    assert.equal(
      await statusOf(running.taskIds[0]!),
      'queued',
      "a running audited job's unchecked output is reopened",
    );
    assert.equal((await f.job(running.jobId)).tasks_done, 0, 'its done count drops');
    assert.equal(
      await statusOf(ended.taskIds[0]!),
      'completed',
      "an ended job's output stands (delivered, billed)",
    );
    assert.equal(
      await statusOf(none.taskIds[0]!),
      'completed',
      'a job that asked for no verification is not re-run',
    );
    assert.equal(await statusOf(checked.taskIds[0]!), 'completed', 'an output an audit vouched for stands');
    const [event] = await f.db
      .selectFrom('events')
      .select(['data'])
      .where('type', '=', 'task.reopened')
      .where('job_id', '=', running.jobId)
      .execute();
    assert.deepEqual(
      JSON.parse(event!.data),
      { taskId: running.taskIds[0], provider: cheater.address, caughtOn: null },
      "another job's client is told the provider was caught, not on which task",
    );
  } finally {
    await f.close();
  }
});

test('attacker: a cheater that disconnects before it is caught on a canary still loses its unchecked outputs, and the re-run never goes back to it', async () => {
  const f = await workFixture();
  try {
    const cheater = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    await completedBy(f, jobId, taskIds[0]!, cheater.address, false);
    await completedBy(f, jobId, taskIds[1]!, cheater.address, false);
    // Knowing the rule, it leaves as soon as it has delivered, hoping to be gone when it is caught.
    await providerDisconnected(f.state, f.work, cheater.link);
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: cheater.address,
        taskId: `0x${'ca'.repeat(32)}`,
        jobId: null,
        kind: 'canary',
        evidence: { reason: 'wrong known answer' },
      }),
    );
    assert.deepEqual(
      [(await f.task(taskIds[0]!)).status, (await f.task(taskIds[1]!)).status],
      ['queued', 'queued'],
      'both unchecked outputs are reopened while it is offline',
    );
    assert.equal((await f.job(jobId)).tasks_done, 0);
    // It comes back, with an honest provider online: the re-runs are leased to the honest one only.
    await providerConnected(f.state, f.work, cheater.link, cheater.hello(2));
    const honest = await f.provider();
    await providerConnected(f.state, f.work, honest.link, honest.hello(2));
    await f.work.dispatch();
    await f.idle();
    const leasedTo = new Set<string>();
    for (const id of taskIds) for (const a of await f.assignments(id)) leasedTo.add(a.provider);
    assert.ok(
      !leasedTo.has(cheater.address),
      `the caught cheater gets none of the re-runs: ${[...leasedTo]}`,
    );
    assert.ok(leasedTo.has(honest.address), `the honest provider re-runs them: ${[...leasedTo]}`);
  } finally {
    await f.close();
  }
});

test('attacker: a reopened task is run again to a verdict by someone else, never by the provider that delivered it, even one whose long record keeps it working', async () => {
  const f = await workFixture();
  try {
    const cheater = await f.provider();
    // A long record: after one fault it is back on probation, not suspended.
    f.state.reputations.set(cheater.address, {
      ...newReputation(f.clock.t),
      alpha: 60,
      consecutiveValid: 50,
      verifiedValid: 50,
    });
    await providerConnected(f.state, f.work, cheater.link, cheater.hello(2));
    const { jobId, taskIds } = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    await f.work.dispatch();
    await f.idle();
    // Alone online, its output of task 0 is accepted unchecked (no audit without another provider).
    await commitAndReveal(f, cheater, cheater.assignedTo(taskIds[0]!)[0]!, output(9));
    assert.equal((await f.task(taskIds[0]!)).status, 'completed');
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: cheater.address,
        taskId: `0x${'cb'.repeat(32)}`,
        jobId: null,
        kind: 'canary',
        evidence: { reason: 'wrong known answer' },
      }),
    );
    assert.equal((await f.task(taskIds[0]!)).status, 'queued', 'reopened');
    // Whatever its standing becomes (here: a clean long record again, as if the fault had been
    // reviewed away), it never runs or audits that task again.
    f.state.reputations.set(cheater.address, {
      ...newReputation(f.clock.t),
      alpha: 60,
      consecutiveValid: 50,
      verifiedValid: 50,
    });
    const leasesBefore = cheater.assigned().length;
    await f.work.dispatch();
    await f.idle();
    assert.equal(
      cheater.assigned().length,
      leasesBefore,
      'the re-run is not leased back to it, though it is online and idle',
    );
    const honest = await f.provider();
    await providerConnected(f.state, f.work, honest.link, honest.hello(2));
    await f.work.dispatch();
    await f.idle();
    const rerun = honest.assignedTo(taskIds[0]!)[0];
    assert.ok(rerun, 'the honest provider takes the re-run');
    // Its reveal is judged in the re-run's verification alone (the earlier execution is not part of
    // it). A newcomer is audited; the auditor is a third provider (the caught one may not audit it).
    const auditor = await f.provider();
    await providerConnected(f.state, f.work, auditor.link, auditor.hello(2));
    const salt = `0x${'5a'.repeat(32)}` as const;
    await handleCommit(f.state, f.work, honest.address, await honest.commit(rerun, output(0), salt));
    await handleResult(f.state, f.work, honest.address, await honest.result(rerun, output(0), { salt }));
    await f.work.dispatch();
    await f.idle();
    const audit = auditor.assignedTo(taskIds[0]!)[0];
    assert.ok(audit, 'a third provider audits the re-run');
    assert.equal(
      cheater.assignedTo(taskIds[0]!).length,
      1,
      'the caught provider never audits its own reopened task (its one lease is the first run)',
    );
    await commitAndReveal(f, auditor, audit, output(0));
    await f.idle();
    const t0 = await f.task(taskIds[0]!);
    assert.deepEqual(
      [t0.status, t0.provider],
      ['completed', honest.address],
      "the honest provider's output is accepted",
    );
    assert.equal(
      (
        await f.db
          .selectFrom('verification_faults')
          .select('provider')
          .where('provider', '=', honest.address)
          .execute()
      ).length,
      0,
      'and nobody honest is faulted',
    );
    assert.equal((await f.job(jobId)).tasks_done, 1);
  } finally {
    await f.close();
  }
});
