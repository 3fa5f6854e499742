import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeterogeneousPool } from './heterogeneousPool.ts';
import type { ReplayJob } from './replayJobs.ts';
import { replayLas } from './replayLas.ts';

const one: HeterogeneousPool = { nodes: [{ id: 'n', gpus: 1, className: 'c' }], trueSpeed: () => 1 };
const noise = { sigma: 0, outlierRate: 0 };

test('a new job preempts one that has used up its high-priority service, which resumes later', () => {
  const jobs: ReplayJob[] = [
    { submit: 0, work: 10_000, gpus: 1, workload: 'w' },
    { submit: 5000, work: 100, gpus: 1, workload: 'w' },
  ];
  const r = replayLas(jobs, one, { seed: 1, threshold: 3600, noise });
  assert.equal(r.finish[1], 5100, 'the short job runs at once: the long one is past the threshold');
  assert.equal(r.finish[0], 10_100, 'the long job loses no work, only time');
  assert.equal(r.preemptions, 1);
});

test('below the threshold jobs are served first come first served, without preemption', () => {
  const jobs: ReplayJob[] = [
    { submit: 0, work: 1000, gpus: 1, workload: 'w' },
    { submit: 10, work: 100, gpus: 1, workload: 'w' },
  ];
  const r = replayLas(jobs, one, { seed: 1, threshold: 3600, noise });
  assert.deepEqual([...r.finish], [1000, 1100]);
  assert.equal(r.preemptions, 0);
});

test('LAS never reads more than the physics needs: sizes only set each job its work', () => {
  let reads = 0;
  const jobs = Array.from({ length: 50 }, (_, i) => {
    const work = 50 + ((i * 97) % 5000);
    return Object.defineProperty({ submit: i * 30, gpus: 1, workload: 'w' }, 'work', {
      enumerable: true,
      get: () => {
        reads++;
        return work;
      },
    }) as ReplayJob;
  });
  replayLas(jobs, one, { seed: 1, noise });
  assert.equal(reads, jobs.length);
});
