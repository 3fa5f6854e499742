import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlenderRenderSpec } from '../../protocol/schemas.ts';
import { valueAuditFloor } from '../verification/auditPolicy.ts';
import { ALWAYS_AUDIT_UNITS } from '../verification/constants.ts';
import { RENDER_JOB_AUDIT_SAMPLE, RENDER_SAMPLE_MIN_RECORD } from '../verification/renderAuditRate.ts';
import { renderFrameUnits } from '../verification/renderValue.ts';
import { newReputation, updateReputation } from '../verification/reputation.ts';
import { jobInfo } from './jobs.ts';
import { sampledRenderDecision } from './renderAudits.ts';
import { renderValueReward, renderValueUnits } from './renderValueFloor.ts';
import { handleResult } from './results.ts';
import { lockAmount } from './stakeLocks.ts';
import { output, workFixture } from './workFixture.ts';
import type { JobInfo, WorkDeps } from './workState.ts';

test('renderFrameUnits: the largest agreeing report, a region scaled to the whole task, capped', () => {
  // A cheater reporting 1 ms never lowers the honest primary's 900 ms.
  assert.equal(renderFrameUnits([{ unitsMilli: 900n }, { unitsMilli: 1n }], 3072, 10_000n), 900n);
  // A region auditor's 100 ms over 192 of 3,072 pixels prices the frame at 1,600 ms, above a
  // primary that claims 5 ms.
  assert.equal(
    renderFrameUnits([{ unitsMilli: 5n }, { unitsMilli: 100n, regionPixels: 192 }], 3072, 10_000n),
    1600n,
  );
  assert.equal(renderFrameUnits([{ unitsMilli: 100n, regionPixels: 192 }], 3072, 1000n), 1000n, 'capped');
  assert.equal(renderFrameUnits([], 3072, 1000n), undefined);
});

/** Makes a job of the fixture a render job of these settings (in the store and as JobInfo). */
async function asRender(
  f: Awaited<ReturnType<typeof workFixture>>,
  jobId: string,
  render: Partial<BlenderRenderSpec['render']> = {},
): Promise<JobInfo & { id: string }> {
  const info = (await jobInfo(f.state, f.work, jobId))!;
  const spec = {
    ...info.spec,
    kind: 'blender.render',
    model: 'bafy-scene',
    render: {
      frameStart: 1,
      frameEnd: 'inputs' in info.spec ? info.spec.inputs.length : 1,
      width: 64,
      height: 48,
      samples: 16,
      seed: 0,
      tiles: { x: 1, y: 1 },
      format: 'png',
      ...render,
    },
  } as BlenderRenderSpec;
  await f.db
    .updateTable('jobs')
    .set({ kind: 'blender.render', spec: JSON.stringify(spec) })
    .where('id', '=', jobId)
    .execute();
  return { ...info, spec, id: jobId };
}

test('a render task’s value floor is priced from the job’s verified frames (largest report, a cheater cannot lower it), then the client’s same scene and settings, else the worst case', async () => {
  const f = await workFixture();
  try {
    const market = { ...f.work, market: {} } as unknown as WorkDeps;
    const a = await f.connected();
    const b = await f.connected();
    const { jobId } = await f.submitJob({
      tasks: 48,
      verification: { policy: 'redundant', k: 2 },
      taskTimeoutSec: 600,
    });
    const job = await asRender(f, jobId);
    const units = (j: JobInfo & { id: string }) =>
      f.db.transaction().execute((trx) => renderValueUnits(f.state, market, trx, j));
    // No verified frame, no history: 600 s × 4 billed cores.
    assert.equal(await units(job), 2_400_000n);

    await f.work.dispatch();
    await f.idle();
    const [ta] = a.assigned();
    const tb = b.assignedTo(a.taskOf(ta)!)[0];
    assert.ok(ta && tb, 'ta && tb');
    // The honest provider measured 9 s; the other (a cheater wanting cheap frames) reports 10 ms.
    await handleResult(
      f.state,
      f.work,
      a.address,
      await a.result(ta, output(3), undefined, {
        wallMs: 9000,
        cpuMs: 9000,
        peakRssBytes: 1000,
      }),
    );
    await handleResult(f.state, f.work, b.address, await b.result(tb, output(3)));
    await f.idle();
    f.clock.t += 10_000; // past the estimate's cache
    // The median (what billing and the stake use) would be 10 ms; the value floor takes 9 s.
    assert.equal(await units(job), 9000n);

    // The value floor of a clean-record provider on this 48-frame job: 9 units of 50, not 1.
    let rep = newReputation(f.clock.t);
    for (let i = 0; i < RENDER_SAMPLE_MIN_RECORD; i++) rep = updateReputation(rep, 'agreed', f.clock.t);
    f.state.reputations.set(a.address, rep);
    const adaptive = f.work.audits.shouldAudit(a.address, {
      taskId: '0x01',
      reward: f.state.econ.reward * 2400n, // the worst case the recorded economics carry
      honestCost: f.state.econ.honestCost * 2400n,
      slashable: lockAmount(f.state.econ.reward * 2400n),
    });
    assert.equal(adaptive.rate, 1, 'the worst case audits every frame');
    const reward = await f.db
      .transaction()
      .execute((trx) => renderValueReward(f.state, market, trx, job, f.state.econ.reward * 2400n));
    assert.equal(reward, f.state.econ.reward * 9n);
    const sampled = sampledRenderDecision(f.state, f.work, a.address, 48, adaptive, reward);
    const floor = valueAuditFloor(reward, f.state.econ.reward * ALWAYS_AUDIT_UNITS);
    assert.equal(floor, 0.18);
    assert.equal(sampled.rate, Math.max(adaptive.bound, floor, RENDER_JOB_AUDIT_SAMPLE / 48));
    assert.ok(sampled.rate < 0.2, `rate ${sampled.rate}, bound ${adaptive.bound}`);

    // The client's next job of the same scene and settings starts from this job's frames …
    const { jobId: nextId } = await f.submitJob({ tasks: 4, taskTimeoutSec: 600 });
    assert.equal(await units(await asRender(f, nextId)), 9000n);
    // … not one with other settings (a 1-sample preview says nothing of a 64-sample frame) …
    const { jobId: otherId } = await f.submitJob({ tasks: 4, taskTimeoutSec: 600 });
    assert.equal(await units(await asRender(f, otherId, { samples: 64 })), 2_400_000n);
    // … nor another client's job of the same scene.
    const { jobId: strangerId } = await f.submitJob({
      tasks: 4,
      taskTimeoutSec: 600,
      client: '0x000000000000000000000000000000000000beef',
    });
    assert.equal(await units(await asRender(f, strangerId)), 2_400_000n);
    // Without a market the fixed placeholder stays.
    assert.equal(
      await f.db.transaction().execute((trx) => renderValueReward(f.state, f.work, trx, job, 7n)),
      7n,
    );
  } finally {
    await f.close();
  }
});
