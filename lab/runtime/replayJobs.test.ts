import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimePredictor } from '../../src/intelligence/runtime/runtimePredictor.ts';
import { missingDataReason, skipWithoutData } from '../traces/dataDir.ts';
import { loadPhilly, PHILLY } from '../traces/loadPhilly.ts';
import { createHeterogeneousPool, DEFAULT_CLASSES, type HeterogeneousPool } from './heterogeneousPool.ts';
import { type ReplayJob, replayJobs } from './replayJobs.ts';

/** Two single-GPU nodes, one 4× faster on every workload. */
const twoNodes: HeterogeneousPool = {
  nodes: [
    { id: 'slow', gpus: 1, className: 'slow' },
    { id: 'fast', gpus: 1, className: 'fast' },
  ],
  trueSpeed: (n) => (n === 0 ? 0.5 : 2),
};

test('FIFO runs jobs in arrival order; SJF lets the short job jump the queue', () => {
  const jobs: ReplayJob[] = [
    { submit: 0, work: 100, gpus: 2, workload: 'w' }, // needs both nodes
    { submit: 1, work: 1000, gpus: 1, workload: 'w' },
    { submit: 2, work: 10, gpus: 1, workload: 'w' },
  ];
  const noise = { sigma: 0, outlierRate: 0 };
  const fifo = replayJobs(jobs, twoNodes, 'fifo', { seed: 1, noise });
  const sjf = replayJobs(jobs, twoNodes, 'sjf', { seed: 1, noise });
  assert.equal(fifo.jobs, 3);
  assert.ok(sjf.meanJct < fifo.meanJct);
});

test('once the model has seen both nodes, Plexus sends work to the fast one and beats SJF', () => {
  const jobs: ReplayJob[] = Array.from({ length: 200 }, (_, i) => ({
    submit: i * 100,
    work: 60,
    gpus: 1,
    workload: 'w',
  }));
  const noise = { sigma: 0.05, outlierRate: 0.05 };
  const sjf = replayJobs(jobs, twoNodes, 'sjf', { seed: 3, noise });
  const ours = replayJobs(jobs, twoNodes, 'plexus', { seed: 3, noise, model: new RuntimePredictor() });
  assert.ok(ours.meanJct < sjf.meanJct * 0.6, `plexus ${ours.meanJct} vs sjf ${sjf.meanJct}`);
  assert.ok((ours.medianAbsLogError ?? 1) < 0.1);
});

test('the pool is seeded: same seed, same hidden speeds; node order is shuffled', () => {
  const a = createHeterogeneousPool(DEFAULT_CLASSES, 7);
  const b = createHeterogeneousPool(DEFAULT_CLASSES, 7);
  assert.deepEqual(a.nodes, b.nodes);
  assert.equal(a.trueSpeed(3, 'x'), b.trueSpeed(3, 'x'));
  assert.equal(a.nodes.length, 56);
  assert.notDeepEqual(
    a.nodes.slice(0, 8).map((n) => n.className),
    Array(8).fill('gen4'),
  );
});

test('a Philly slice replays to completion under every policy', {
  skip: skipWithoutData(missingDataReason(PHILLY)),
}, () => {
  const jobs = loadPhilly(3000).map((j) => ({
    submit: j.submit,
    work: j.duration,
    gpus: j.gpus,
    workload: j.cluster,
  }));
  const pool = createHeterogeneousPool(DEFAULT_CLASSES, 1);
  for (const policy of ['fifo', 'sjf', 'plexus'] as const) {
    const r = replayJobs(jobs, pool, policy, { seed: 1, model: new RuntimePredictor() });
    assert.equal(r.jobs, 3000);
    assert.ok(Number.isFinite(r.meanJct) && r.meanJct > 0 && r.p99Jct >= r.p50Jct);
  }
});
