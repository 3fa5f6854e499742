import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RENDER_JOB_AUDIT_SAMPLE, RENDER_SAMPLE_MIN_RECORD } from '../verification/renderAuditRate.ts';
import { newReputation, updateReputation } from '../verification/reputation.ts';
import { openVerification } from './openVerifications.ts';
import { sampledRenderDecision } from './renderAudits.ts';
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
