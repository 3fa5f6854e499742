import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLeastLoadedScheduler } from './leastLoadedScheduler.ts';
import { createReputationLimitedScheduler } from './reputationLimitedScheduler.ts';
import { runSchedulerCompliance } from './schedulerCompliance.ts';

// With no reputation limit in the way it must behave exactly like any scheduler.
runSchedulerCompliance('reputation-limited', () =>
  createReputationLimitedScheduler(createLeastLoadedScheduler(), () => Number.POSITIVE_INFINITY),
);

const req = { model: 'a'.repeat(64), minMemoryMiB: 0, gpu: false };

test('reputation-limited: a newcomer gets one lease, more after its limit rises, fewer after it falls', () => {
  const limits = new Map<string, number>([['0xnew', 1]]);
  const s = createReputationLimitedScheduler(createLeastLoadedScheduler(), (a) => limits.get(a) ?? 1);
  s.upsertProvider({ address: '0xnew', slots: 4, memoryMiB: 1024, gpu: false, cached: [] });
  assert.equal(s.pick(req), '0xnew');
  assert.equal(s.pick(req), undefined, 'one concurrent lease for a newcomer despite 4 slots');
  limits.set('0xnew', 3);
  s.refresh('0xnew');
  assert.equal(s.pick(req), '0xnew');
  assert.equal(s.pick(req), '0xnew');
  assert.equal(s.pick(req), undefined, 'limit 3 reached');
  limits.set('0xnew', 100);
  s.refresh('0xnew');
  assert.equal(s.pick(req), '0xnew');
  assert.equal(s.pick(req), undefined, 'never above the advertised slots');
  limits.set('0xnew', 1);
  s.refresh('0xnew');
  assert.equal(s.active('0xnew'), 4, 'leases already out stay out');
  for (let i = 0; i < 4; i++) s.release('0xnew');
  assert.equal(s.pick(req), '0xnew');
  assert.equal(s.pick(req), undefined, 'back to one after a fault');
});

test('reputation-limited: refresh keeps what the provider caches', () => {
  const s = createReputationLimitedScheduler(createLeastLoadedScheduler(), () => 2);
  s.upsertProvider({ address: '0xa', slots: 2, memoryMiB: 1024, gpu: false, cached: [] });
  s.upsertProvider({ address: '0xb', slots: 2, memoryMiB: 1024, gpu: false, cached: [] });
  s.setCached('0xb', req.model, true);
  s.refresh('0xb');
  assert.equal(s.pick(req), '0xb', 'the provider caching the model is still preferred');
});
