import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLeastLoadedScheduler } from './leastLoadedScheduler.ts';
import { runSchedulerCompliance } from './schedulerCompliance.ts';

runSchedulerCompliance('least-loaded', createLeastLoadedScheduler);

test('least-loaded: heaps stay bounded under long churn', () => {
  const s = createLeastLoadedScheduler();
  for (let i = 0; i < 50; i++)
    s.upsertProvider({ address: `0x${i}`, slots: 2, memoryMiB: 1, gpu: false, cached: [`${i}`] });
  for (let round = 0; round < 20_000; round++) {
    const a = s.pick({ model: `${round % 50}`, minMemoryMiB: 0, gpu: false });
    assert.ok(a, 'a');
    s.release(a);
  }
  assert.equal(s.freeSlots(), 100);
});
