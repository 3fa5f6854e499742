import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HistoryDurationPredictor } from './durationPredictor.ts';

test('with no history the prior is predicted; finished jobs of a workload pull its estimate', () => {
  const p = new HistoryDurationPredictor({ priorLogSeconds: Math.log(600) });
  const view = { submit: 0, gpus: 1, workload: 'a' };
  assert.ok(Math.abs(p.predict(view) - 600) < 1e-9, 'Math.abs(p.predict(view) - 600) < 1e-9');
  for (let i = 0; i < 50; i++) p.observe(view, 60);
  const a = p.predict(view);
  assert.ok(a > 55 && a < 70, `${a}`);
  // Another workload falls back to what all jobs did (shrunk towards it), not to the prior.
  assert.ok(
    p.predict({ submit: 0, gpus: 1, workload: 'b' }) < 100,
    "p.predict({ submit: 0, gpus: 1, workload: 'b' }) < 100",
  );
});

test('GPU-count groups separate within a workload, and the recent past outweighs old runs', () => {
  const p = new HistoryDurationPredictor();
  for (let i = 0; i < 40; i++) {
    p.observe({ submit: i, gpus: 1, workload: 'a' }, 100);
    p.observe({ submit: i, gpus: 8, workload: 'a' }, 10_000);
  }
  assert.ok(
    p.predict({ submit: 50, gpus: 1, workload: 'a' }) < 300,
    "p.predict({ submit: 50, gpus: 1, workload: 'a' }) < 300",
  );
  assert.ok(
    p.predict({ submit: 50, gpus: 8, workload: 'a' }) > 3000,
    "p.predict({ submit: 50, gpus: 8, workload: 'a' }) > 3000",
  );
  for (let i = 0; i < 10; i++) p.observe({ submit: 60 + i, gpus: 1, workload: 'a' }, 1000);
  assert.ok(
    p.predict({ submit: 80, gpus: 1, workload: 'a' }) > 300,
    'a run of longer jobs moves the estimate',
  );
});

test('non-positive or non-finite measurements are ignored', () => {
  const p = new HistoryDurationPredictor();
  const before = p.predict({ submit: 0, gpus: 1, workload: 'a' });
  p.observe({ submit: 0, gpus: 1, workload: 'a' }, 0);
  p.observe({ submit: 0, gpus: 1, workload: 'a' }, Number.NaN);
  assert.equal(p.predict({ submit: 0, gpus: 1, workload: 'a' }), before);
});
