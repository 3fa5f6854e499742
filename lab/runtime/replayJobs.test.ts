import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimePredictor } from '../../src/intelligence/runtime/runtimePredictor.ts';
import { missingDataReason, skipWithoutData } from '../traces/dataDir.ts';
import { loadPhilly, PHILLY } from '../traces/loadPhilly.ts';
import { HistoryDurationPredictor } from './durationPredictor.ts';
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
  assert.ok(sjf.meanJct < fifo.meanJct, 'sjf.meanJct < fifo.meanJct');
});

test('once the model has seen both nodes, Plexus sends work to the fast one and beats oracle SJF', () => {
  const jobs: ReplayJob[] = Array.from({ length: 200 }, (_, i) => ({
    submit: i * 100,
    work: 60,
    gpus: 1,
    workload: 'w',
  }));
  const noise = { sigma: 0.05, outlierRate: 0.05 };
  const sjf = replayJobs(jobs, twoNodes, 'sjf', { seed: 3, noise });
  const ours = replayJobs(jobs, twoNodes, 'plexus', {
    seed: 3,
    noise,
    model: new RuntimePredictor(),
    sizes: new HistoryDurationPredictor(),
  });
  assert.ok(ours.meanJct < sjf.meanJct * 0.6, `plexus ${ours.meanJct} vs sjf ${sjf.meanJct}`);
  // The run-time error includes the size prediction (every job here has the same true size, but
  // the policy only learns that from finished jobs' noisy, straggler-hit measurements).
  assert.ok((ours.medianAbsLogError ?? 1) < 0.3, `${ours.medianAbsLogError}`);
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
  for (const policy of ['fifo', 'sjf', 'sjf-predicted', 'plexus'] as const) {
    const r = replayJobs(jobs, pool, policy, {
      seed: 1,
      model: new RuntimePredictor(),
      sizes: new HistoryDurationPredictor(),
    });
    assert.equal(r.jobs, 3000);
    assert.ok(
      Number.isFinite(r.meanJct) && r.meanJct > 0 && r.p99Jct >= r.p50Jct,
      'Number.isFinite(r.meanJct) && r.meanJct > 0 && r.p99Jct >= r.p50Jct',
    );
  }
});

/** Jobs whose true size can only be read through a getter that counts the reads. */
function countingJobs(jobs: ReplayJob[]): { jobs: ReplayJob[]; reads: () => number } {
  let reads = 0;
  const wrapped = jobs.map((job) => {
    const { work, ...rest } = job;
    return Object.defineProperty({ ...rest }, 'work', {
      enumerable: true,
      get: () => {
        reads++;
        return work;
      },
    }) as ReplayJob;
  });
  return { jobs: wrapped, reads: () => reads };
}

test('the predicted policies read a true size only where the physics runs the job, once per job', () => {
  const jobs: ReplayJob[] = Array.from({ length: 300 }, (_, i) => ({
    submit: i * 5,
    work: 10 + ((i * 37) % 200),
    gpus: 1 + (i % 3),
    workload: `w${i % 4}`,
  }));
  for (const policy of ['sjf-predicted', 'plexus'] as const) {
    const c = countingJobs(jobs);
    replayJobs(c.jobs, twoNodes8, policy, {
      seed: 1,
      model: new RuntimePredictor(),
      sizes: new HistoryDurationPredictor(),
    });
    assert.equal(c.reads(), jobs.length, `${policy}: one read per job, by the run-time physics`);
  }
  const oracle = countingJobs(jobs);
  replayJobs(oracle.jobs, twoNodes8, 'sjf', { seed: 1 });
  assert.ok(oracle.reads() > jobs.length, 'the oracle SJF does read sizes to order its queue');
});

test('swapping two queued jobs true sizes does not change the predicted policies order', () => {
  // One node; a long job holds it while two jobs with identical submission fields queue. Oracle
  // SJF starts the truly shorter one first; a policy that sees only submission fields must start
  // them in the same order whichever of the two is shorter.
  const one: HeterogeneousPool = { nodes: [{ id: 'n', gpus: 1, className: 'c' }], trueSpeed: () => 1 };
  const jobsWith = (a: number, b: number): ReplayJob[] => [
    { submit: 0, work: 100, gpus: 1, workload: 'w' },
    { submit: 1, work: a, gpus: 1, workload: 'w' },
    { submit: 1, work: b, gpus: 1, workload: 'w' },
  ];
  const noise = { sigma: 0, outlierRate: 0 };
  const secondStarts = (policy: 'sjf' | 'sjf-predicted' | 'plexus', a: number, b: number): number =>
    replayJobs(jobsWith(a, b), one, policy, {
      seed: 1,
      noise,
      model: new RuntimePredictor(),
      sizes: new HistoryDurationPredictor(),
    }).start[1]!;
  assert.notEqual(secondStarts('sjf', 500, 10), secondStarts('sjf', 10, 500));
  for (const policy of ['sjf-predicted', 'plexus'] as const) {
    assert.equal(secondStarts(policy, 500, 10), secondStarts(policy, 10, 500), policy);
  }
});

const twoNodes8: HeterogeneousPool = {
  nodes: [
    { id: 'slow', gpus: 4, className: 'slow' },
    { id: 'fast', gpus: 4, className: 'fast' },
  ],
  trueSpeed: (n) => (n === 0 ? 0.5 : 2),
};
