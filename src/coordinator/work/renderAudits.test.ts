import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRenderTask, renderOutputTensors, renderTasksOf } from '../../protocol/render.ts';
import { encodeExr } from '../../protocol/renderExr.ts';
import { RENDER_JOB_AUDIT_SAMPLE, RENDER_SAMPLE_MIN_RECORD } from '../verification/renderAuditRate.ts';
import { renderAuditRegion } from '../verification/renderAuditRegion.ts';
import { newReputation, updateReputation } from '../verification/reputation.ts';
import { openVerification } from './openVerifications.ts';
import { checkRenderOutputRegion, renderAuditRegionFor, sampledRenderDecision } from './renderAudits.ts';
import { workFixture } from './workFixture.ts';

test('render audits: a provider with a clean record is drawn at the job sample, a newcomer and a faulted one at the adaptive rate', async () => {
  const f = await workFixture();
  try {
    const p = '0x00000000000000000000000000000000000000aa';
    const now = f.work.now();
    // The loop's own adaptive decision for a newcomer: rate 1.
    const adaptive = f.work.audits.shouldAudit(p, {
      taskId: '0x01',
      reward: f.state.econ.reward,
      honestCost: f.state.econ.honestCost,
      slashable: f.state.slashable,
    });
    assert.equal(adaptive.rate, 1);
    const decide = () => sampledRenderDecision(f.state, f.work, p, 48, adaptive, f.state.econ.reward);
    assert.equal(decide().rate, 1, 'a newcomer is audited on every frame');

    let rep = newReputation(now);
    for (let i = 0; i < RENDER_SAMPLE_MIN_RECORD; i++) rep = updateReputation(rep, 'agreed', now);
    f.state.reputations.set(p, rep);
    const sampled = decide();
    assert.equal(sampled.rate, Math.max(adaptive.bound, RENDER_JOB_AUDIT_SAMPLE / 48));
    assert.equal(sampled.draw, adaptive.draw, 'the draw is the same');
    assert.equal(sampled.audit, adaptive.draw < sampled.rate);

    f.state.reputations.set(p, updateReputation(rep, 'fault', now));
    assert.equal(decide().rate, 1, 'a provider with a fault is back on every frame');
  } finally {
    await f.close();
  }
});

test('openVerification draws a render job of a provider with a clean record at the job sample, a newcomer on every task', async () => {
  const f = await workFixture();
  try {
    const [p] = [await f.connected(), await f.connected()]; // another provider online: audits can run
    const tasks = 48;
    const draw = async (): Promise<number> => {
      const { jobId, taskIds } = await f.submitJob({ tasks, verification: { policy: 'audit' } });
      // The job as a render job (the sampling reads its kind and task count from the spec).
      const spec = JSON.parse((await f.job(jobId)).spec) as Record<string, unknown>;
      await f.db
        .updateTable('jobs')
        .set({ kind: 'blender.render', spec: JSON.stringify({ ...spec, kind: 'blender.render' }) })
        .where('id', '=', jobId)
        .execute();
      let audited = 0;
      for (const taskId of taskIds) {
        const { audit } = await f.db.transaction().execute((trx) =>
          openVerification(f.state, f.work, trx, { task_id: taskId, job_id: jobId }, p!.address, {
            kind: 'audit',
            outputs: 'image',
          }),
        );
        if (audit) audited++;
      }
      return audited;
    };
    assert.equal(await draw(), tasks, 'a newcomer: every task audited');
    let rep = newReputation(f.work.now());
    for (let i = 0; i < RENDER_SAMPLE_MIN_RECORD; i++) rep = updateReputation(rep, 'agreed', f.work.now());
    f.state.reputations.set(p!.address.toLowerCase(), rep);
    // Rate 4/48 over 48 draws: 4 expected; more than 20 has probability < 1e-9.
    const sampled = await draw();
    assert.ok(sampled <= 20, `${sampled} of ${tasks} audited`);
  } finally {
    await f.close();
  }
});

test('a render result must be in its task’s format and size, read from the header: EXR for an EXR task', async () => {
  const f = await workFixture();
  try {
    const { jobId, taskIds } = await f.submitJob({ tasks: 1 });
    const [desc] = renderTasksOf({
      frameStart: 1,
      frameEnd: 1,
      width: 32,
      height: 24,
      samples: 4,
      seed: 0,
      tiles: { x: 1, y: 1 },
      format: 'exr',
    });
    await f.db
      .updateTable('tasks')
      .set({ input_cid: f.put(encodeRenderTask(desc!)) })
      .where('id', '=', taskIds[0]!)
      .execute();
    const assignmentId = '0xa1';
    await f.db
      .insertInto('assignments')
      .values({
        id: assignmentId,
        task_id: taskIds[0]!,
        job_id: jobId,
        provider: '0x00000000000000000000000000000000000000aa',
        status: 'leased',
        lease_expires_at: f.clock.t + 60_000,
        created_at: f.clock.t,
        finished_at: null,
        error_code: null,
        error_message: null,
      })
      .execute();
    const blobs = { read: async (cid: string) => (await f.work.blobs.read(cid)) as Uint8Array };
    const exr = (w: number, h: number) =>
      encodeExr({ width: w, height: h, rgba: new Float32Array(w * h * 4) });
    await checkRenderOutputRegion(f.db, blobs, assignmentId, renderOutputTensors(exr(32, 24), 'exr'));
    await assert.rejects(
      checkRenderOutputRegion(f.db, blobs, assignmentId, renderOutputTensors(exr(16, 24), 'exr')),
      /the image is 16×24; this execution renders 32×24/,
    );
    // A PNG (or anything else in the png tensor) for an EXR task: refused before any decoding.
    await assert.rejects(
      checkRenderOutputRegion(f.db, blobs, assignmentId, renderOutputTensors(new Uint8Array(64))),
      /this task renders EXR, not PNG/,
    );
  } finally {
    await f.close();
  }
});

test("a re-run task's region is drawn with its earliest audited draw's seed, whatever the rows' order", async () => {
  const f = await workFixture();
  try {
    const task = {
      v: 1,
      frame: 1,
      width: 64,
      height: 48,
      samples: 16,
      seed: 0,
      region: [0, 0, 64, 48],
    } as const;
    const inputCid = f.put(encodeRenderTask({ ...task, region: [...task.region] }));
    const taskId = `0x${'5a'.repeat(32)}`;
    const seeds = { 6: '11'.repeat(32), 7: '22'.repeat(32), 8: '33'.repeat(32) };
    for (const [epoch, seed] of Object.entries(seeds))
      await f.db
        .insertInto('epoch_seeds')
        .values({ epoch: Number(epoch), seed, commitment: '0x', revealed_in: null })
        .execute();
    // Inserted out of order; the primary key (task, provider) sorts epoch 8's row first; epoch 6's
    // draw was not audited.
    const row = (provider: string, epoch: number, audited: number) => ({
      task_id: taskId,
      provider,
      epoch,
      rate: '0.5',
      draw: '0.1',
      audited,
      other_online: 1,
    });
    await f.db
      .insertInto('audit_draws')
      .values([
        row(`0x${'01'.repeat(20)}`, 8, 1),
        row(`0x${'03'.repeat(20)}`, 7, 1),
        row(`0x${'02'.repeat(20)}`, 6, 0),
      ])
      .execute();
    const { region } = await renderAuditRegionFor(f.state, f.work, { id: taskId, input_cid: inputCid });
    assert.deepEqual(region, renderAuditRegion(seeds[7], taskId, { ...task, region: [...task.region] }));
  } finally {
    await f.close();
  }
});
