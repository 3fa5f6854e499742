import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPredictiveScheduler } from './predictiveScheduler.ts';
import { runSchedulerCompliance } from './schedulerCompliance.ts';

runSchedulerCompliance('predictive', createPredictiveScheduler);

const MODEL = 'c'.repeat(64);
const req = { model: MODEL, minMemoryMiB: 0, gpu: false };

test('predictive: learns which provider runs a model fastest and sends work there first', () => {
  const s = createPredictiveScheduler();
  for (const a of ['0xfast', '0xslow'])
    s.upsertProvider({ address: a, slots: 2, memoryMiB: 1024, gpu: false, cached: [MODEL] });
  for (let i = 0; i < 10; i++) {
    s.observe?.('0xfast', MODEL, 0.2 * (1 + (i % 3) * 0.05));
    s.observe?.('0xslow', MODEL, 1.5 * (1 + (i % 3) * 0.05));
  }
  assert.equal(s.pick(req), '0xfast');
  // Half busy, the fast one is still expected to finish first (0.2 × 1.5 < 1.5).
  assert.equal(s.pick(req), '0xfast');
  assert.equal(s.pick(req), '0xslow', 'the fast provider is full');
});

test('predictive: one straggler does not make a fast provider look slow', () => {
  const s = createPredictiveScheduler();
  for (const a of ['0xa', '0xb'])
    s.upsertProvider({ address: a, slots: 1, memoryMiB: 1024, gpu: false, cached: [MODEL] });
  for (let i = 0; i < 20; i++) {
    s.observe?.('0xa', MODEL, 0.3);
    s.observe?.('0xb', MODEL, 0.6);
  }
  s.observe?.('0xa', MODEL, 30); // one run a hundred times slower (a page fault storm, a noisy neighbour)
  assert.equal(s.pick(req), '0xa');
});
