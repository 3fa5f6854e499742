import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RENDER_JOB_AUDIT_SAMPLE, RENDER_SAMPLE_MIN_RECORD } from '../verification/renderAuditRate.ts';
import { newReputation, updateReputation } from '../verification/reputation.ts';
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
