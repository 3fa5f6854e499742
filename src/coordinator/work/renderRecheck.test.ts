/**
 * A caught render provider's unchecked frames (renderRecheck.ts, market/deferredBilling.ts): a
 * sampled-out frame of an audited render job is billed only when its job ends; when its provider is
 * caught on another frame first, the frame is reopened (queued again, output and verification
 * cleared, the job's done count lowered) for a fresh primary, and the client was never billed for
 * it. Frames an audit vouched for and other providers' frames stand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import { createMarket, type Market } from '../market/createMarket.ts';
import { openStore } from '../store/openStore.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import { loadVerification } from './openVerifications.ts';
import { billDeferredFrames, reopenCaughtFrames } from './renderRecheck.ts';
import { settleVerdict } from './verdicts.ts';
import { workFixture } from './workFixture.ts';

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
        tasks_done: 3,
      })
      .where('id', '=', jobId)
      .execute();
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
      .execute((trx) => reopenCaughtFrames(f.state, f.work, trx, jobId, cheater.address, taskIds[3]!));
    assert.deepEqual(reopened, [taskIds[0]], 'only the frame nobody checked');
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
    await f.db.transaction().execute((trx) => billDeferredFrames(f.work, trx, jobId, renderSpec));
    assert.deepEqual(billed, [{ taskId: taskIds[2], jobEnded: true }]);
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
    // An ONNX job's unverified task is billed at once, as before.
    const onnx = { ...known, job: { ...known.job, spec: { ...spec, kind: 'onnx.infer' } as JobSpec } };
    onnx.executions = [{ ...known.executions[0]!, assignment_id: `0x${'a2'.repeat(32)}` }];
    await store.db
      .transaction()
      .execute((trx) =>
        market.onVerdict(trx, `0x${'1e'.repeat(32)}`, { ...v, taskId: `0x${'72'.repeat(32)}` }, onnx),
      );
    assert.equal((await entries()).length, 2);
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
        tasks_done: 1,
      })
      .where('id', '=', jobId)
      .execute();
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
