/**
 * A preemptive baseline for the job replay: Tiresias-style discretised two-dimensional
 * least-attained-service (2D-LAS, Gu et al., NSDI'19). A job's attained service is GPUs × seconds
 * it has run (known to any scheduler; no job length is used). Jobs under `threshold` GPU-seconds
 * sit in the high-priority queue, the rest in the low one; within a queue, first come first
 * served (the low queue by the time a job entered it). At every arrival, completion and threshold
 * crossing the scheduler re-plans: walking the queues in order, a running job keeps its nodes if
 * they are still free in the plan, any other job takes the first nodes with room; running jobs
 * left out are preempted and keep their progress.
 *
 * Simplifications, all in the baseline's favour or neutral: preemption and restart cost nothing;
 * no starvation guard (Tiresias promotes jobs that waited long); placement is first-fit, as for
 * FIFO and SJF. The physics matches `replayJobs`: run time = size / true speed of the slowest
 * node used × one log-normal noise factor per job (with the same straggler rate).
 */
import { createRng } from '../../src/intelligence/rng.ts';
import type { HeterogeneousPool } from './heterogeneousPool.ts';
import type { ReplayJob, ReplayNoise, ReplayResult } from './replayJobs.ts';

/** What one LAS replay measured (the fields `replayJobs` reports, plus preemptions). */
export type LasResult = Omit<ReplayResult, 'policy' | 'medianAbsLogError' | 'predictedSize'> & {
  policy: 'las';
  preemptions: number;
};

type Active = {
  job: number;
  /** Reference seconds of work left. */
  left: number;
  /** GPU-seconds run so far (up to `since` when running). */
  attained: number;
  nodes: number[] | undefined;
  since: number;
  speed: number;
  factor: number;
};

/**
 * Replays `jobs` (sorted by submit time) on `pool` with 2D-LAS and preemption.
 *
 * @example
 * const r = replayLas(jobs, createHeterogeneousPool(DEFAULT_CLASSES, 42), { seed: 42 });
 * r.meanJct; // seconds
 */
export function replayLas(
  jobs: readonly ReplayJob[],
  pool: HeterogeneousPool,
  opts: { seed: number; threshold?: number; noise?: ReplayNoise },
): LasResult {
  const threshold = opts.threshold ?? 3600;
  const rng = createRng(opts.seed);
  const noise = { sigma: 0.1, outlierRate: 0.03, outlierMin: 3, outlierMax: 10, ...opts.noise };
  const nodes = pool.nodes;
  const maxGpus = Math.max(...nodes.map((n) => n.gpus));
  const start = new Float64Array(jobs.length).fill(Number.NaN);
  const finish = new Float64Array(jobs.length);
  // Insertion-ordered sets: O(1) removal, iteration in queue order.
  const high = new Set<Active>();
  const low = new Set<Active>();
  const running = new Set<Active>();
  let preemptions = 0;
  let nextArrival = 0;
  let now = 0;

  const progress = (a: Active): void => {
    if (!a.nodes) return;
    const dt = now - a.since;
    a.left -= (dt * a.speed) / a.factor;
    a.attained += dt * jobs[a.job]!.gpus;
    a.since = now;
  };
  const endOf = (a: Active): number => a.since + (Math.max(a.left, 0) * a.factor) / a.speed;
  const crossingOf = (a: Active): number =>
    high.has(a) ? a.since + (threshold - a.attained) / jobs[a.job]!.gpus : Number.POSITIVE_INFINITY;

  const fitNodes = (gpus: number, free: Int32Array): number[] | undefined => {
    if (gpus <= maxGpus) {
      for (let n = 0; n < nodes.length; n++) if (free[n]! >= gpus) return [n];
      return undefined;
    }
    const idle: number[] = [];
    const need = Math.ceil(gpus / maxGpus);
    for (let n = 0; n < nodes.length && idle.length < need; n++) if (free[n] === nodes[n]!.gpus) idle.push(n);
    return idle.length === need ? idle : undefined;
  };
  const take = (free: Int32Array, chosen: number[], gpus: number, sign: 1 | -1): void => {
    let left = gpus;
    for (const n of chosen) {
      const k = Math.min(left, nodes[n]!.gpus);
      free[n] = free[n]! - sign * k;
      left -= k;
    }
  };
  const keeps = (free: Int32Array, a: Active): boolean => {
    let left = jobs[a.job]!.gpus;
    for (const n of a.nodes!) {
      const k = Math.min(left, nodes[n]!.gpus);
      if (free[n]! < k) return false;
      left -= k;
    }
    return true;
  };

  const replan = (): void => {
    for (const a of running) progress(a);
    const free = Int32Array.from(nodes, (n) => n.gpus);
    const run = new Set<Active>();
    const starts: [Active, number[]][] = [];
    // Smallest single-node GPU count that found no node: nothing as large fits until the next
    // event, so the walk skips such jobs, and stops once not even one GPU is free anywhere.
    let minFailed = Number.POSITIVE_INFINITY;
    walk: for (const queue of [high, low]) {
      for (const a of queue) {
        if (minFailed <= 1) break walk;
        const gpus = jobs[a.job]!.gpus;
        if (a.nodes && keeps(free, a)) {
          take(free, a.nodes, gpus, 1);
          run.add(a);
          continue;
        }
        if (gpus >= minFailed && gpus <= maxGpus) continue;
        const chosen = fitNodes(gpus, free);
        if (!chosen) {
          if (gpus <= maxGpus) minFailed = gpus;
          continue;
        }
        take(free, chosen, gpus, 1);
        starts.push([a, chosen]);
      }
    }
    // Running jobs the walk did not reach keep their nodes where those are still free.
    for (const a of running) {
      if (run.has(a) || !keeps(free, a)) continue;
      take(free, a.nodes!, jobs[a.job]!.gpus, 1);
      run.add(a);
    }
    for (const a of running) {
      if (run.has(a)) continue;
      a.nodes = undefined;
      running.delete(a);
      preemptions++;
    }
    for (const [a, chosen] of starts) {
      a.nodes = chosen;
      a.since = now;
      a.speed = Math.min(...chosen.map((n) => pool.trueSpeed(n, jobs[a.job]!.workload)));
      if (Number.isNaN(start[a.job]!)) start[a.job] = now;
      running.add(a);
    }
  };

  while (nextArrival < jobs.length || high.size + low.size > 0) {
    let next = nextArrival < jobs.length ? jobs[nextArrival]!.submit : Number.POSITIVE_INFINITY;
    for (const a of running) next = Math.min(next, endOf(a), crossingOf(a));
    now = Math.max(now, next);
    for (const a of [...running]) {
      if (endOf(a) > now + 1e-9) continue;
      finish[a.job] = now;
      running.delete(a);
      high.delete(a);
      low.delete(a);
    }
    for (const a of running) {
      if (!high.has(a) || crossingOf(a) > now + 1e-9) continue;
      high.delete(a);
      low.add(a);
    }
    while (nextArrival < jobs.length && jobs[nextArrival]!.submit <= now) {
      const j = nextArrival++;
      let factor = Math.exp(noise.sigma * gaussian(rng));
      if (rng.next() < noise.outlierRate)
        factor *= noise.outlierMin + (noise.outlierMax - noise.outlierMin) * rng.next();
      high.add({
        job: j,
        left: Math.max(jobs[j]!.work, 1),
        attained: 0,
        nodes: undefined,
        since: now,
        speed: 1,
        factor,
      });
    }
    replan();
  }

  const jct = Array.from(jobs, (job, j) => finish[j]! - job.submit).sort((a, b) => a - b);
  const wait = Array.from(jobs, (job, j) => start[j]! - job.submit).sort((a, b) => a - b);
  const q = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  return {
    policy: 'las',
    jobs: jobs.length,
    meanJct: mean(jct),
    p50Jct: q(jct, 0.5),
    p95Jct: q(jct, 0.95),
    p99Jct: q(jct, 0.99),
    meanWait: mean(wait),
    p95Wait: q(wait, 0.95),
    makespan: Math.max(...finish) - (jobs[0]?.submit ?? 0),
    start,
    finish,
    preemptions,
  };
}

function gaussian(rng: { next(): number }): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}
