import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimePredictor } from '../../intelligence/runtime/runtimePredictor.ts';
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

test('predictive: in a 300-provider fleet with learned speeds, every pick is the exact argmin', () => {
  const predictor = new RuntimePredictor();
  const s = createPredictiveScheduler({ predictor });
  let seed = 7;
  const rand = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const models = ['a', 'b', 'c'].map((c) => c.repeat(64));
  const fleet = Array.from({ length: 300 }, (_, i) => ({
    address: `0x${i.toString(16).padStart(4, '0')}`,
    slots: 1 + Math.floor(rand() * 4),
    cached: new Set(models.filter(() => rand() < 0.2)),
    speed: Math.exp(2 * rand()),
  }));
  for (const p of fleet) s.upsertProvider({ ...p, memoryMiB: 1024, gpu: false, cached: [...p.cached] });
  for (const p of fleet) for (const m of models) s.observe?.(p.address, m, p.speed * (1 + rand() * 0.1));
  for (let i = 0; i < 500; i++) {
    const model = models[i % 3]!;
    let exact: string | undefined;
    let key: [number, number] = [2, 0];
    for (const p of fleet) {
      const active = s.active(p.address);
      if (active >= p.slots) continue;
      const k: [number, number] = [
        p.cached.has(model) ? 0 : 1,
        predictor.predict(p.address, model) * (1 + active / p.slots),
      ];
      if (k[0] < key[0] || (k[0] === key[0] && (k[1] < key[1] || (k[1] === key[1] && p.address < exact!)))) {
        exact = p.address;
        key = k;
      }
    }
    const who = s.pick({ model, minMemoryMiB: 0, gpu: false });
    assert.equal(who, exact, `decision ${i}`);
    if (i % 2 === 1 && who) s.release(fleet[Math.floor(rand() * fleet.length)]!.address);
  }
});
