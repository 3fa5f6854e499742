/**
 * Event-driven replay of a job trace on a fixed heterogeneous pool, non-preemptive, with four
 * queueing/placement policies:
 * - `fifo`: strict arrival order (the head blocks), first node (pool order) with room;
 * - `sjf`: shortest job first by the job's true size (the trace's own duration, an oracle a real
 *   queue never has: the upper bound), any job that fits may start, first node with room;
 * - `sjf-predicted`: as `sjf`, ordered by a {@link DurationPredictor}'s submission-time estimate;
 * - `plexus`: ordered by the same estimate, each job on the free node where the runtime model
 *   predicts it finishes soonest; both models learn from every finished job's measured run time.
 * The predicted policies see a job only through its {@link SubmissionView} (submit time, GPUs,
 * workload): the true size `work` is read by the replay's physics (how long a run takes) and by
 * the oracle `sjf`, nowhere else.
 * A job asking for more GPUs than one node has takes whole idle nodes and runs at the pace of the
 * slowest. Run time = true size / true speed × log-normal noise, with occasional stragglers.
 */
import { PlexusError } from '../../src/errors/PlexusError.ts';
import { createRng, type Rng } from '../../src/intelligence/rng.ts';
import type { DurationPredictor, SubmissionView } from './durationPredictor.ts';
import type { HeterogeneousPool } from './heterogeneousPool.ts';

/**
 * A job to replay. `work` is its run time in seconds on the trace's reference hardware.
 *
 * @example
 * const job: ReplayJob = { submit: 1507532515, work: 66, gpus: 1, workload: '11cb48' };
 */
export type ReplayJob = { submit: number; work: number; gpus: number; workload: string };

/**
 * What a runtime model must offer to drive `plexus` placement.
 *
 * @example
 * const model: RuntimeModel = new RuntimePredictor();
 */
export type RuntimeModel = {
  observe(providerId: string, workload: string, seconds: number, work?: number): void;
  predict(providerId: string, workload: string, work?: number): number;
};

/** Queueing and placement policy of a replay. */
export type ReplayPolicy = 'fifo' | 'sjf' | 'sjf-predicted' | 'plexus';

/** Run-time noise of the replay's physics. */
export type ReplayNoise = {
  /** σ of the log-normal factor on every run. Default 0.1. */
  sigma?: number;
  /** Probability that a run straggles. Default 0.03. */
  outlierRate?: number;
  /** A straggler runs this many times slower (uniform in [min, max]). Default 3..10. */
  outlierMin?: number;
  outlierMax?: number;
};

/** Per-job outcomes and the summary of one replay. */
export type ReplayResult = {
  policy: ReplayPolicy;
  jobs: number;
  meanJct: number;
  p50Jct: number;
  p95Jct: number;
  p99Jct: number;
  meanWait: number;
  p95Wait: number;
  makespan: number;
  /**
   * Median |log(predicted / actual)| of the run time predicted on the node chosen (plexus only):
   * size prediction × the node's learned slowness, against the measured run time.
   */
  medianAbsLogError?: number;
  /**
   * Per job (trace order), the size the policy ordered it by, predicted at submission
   * (`sjf-predicted` and `plexus`; NaN otherwise). Compare with the trace only after the replay.
   */
  predictedSize: Float64Array;
  /** Per job (trace order), when it started and finished (seconds, trace clock). */
  start: Float64Array;
  finish: Float64Array;
};

type Running = {
  end: number;
  job: number;
  nodes: number[];
  start: number;
  predicted: number;
  actual: number;
};

/**
 * Replays `jobs` (sorted by submit time) on `pool` with `policy`.
 *
 * @example
 * const r = replayJobs(jobs, createHeterogeneousPool(DEFAULT_CLASSES, 1), 'plexus', { seed: 1, model: new RuntimePredictor() });
 * r.meanJct; // seconds
 */
export function replayJobs(
  jobs: readonly ReplayJob[],
  pool: HeterogeneousPool,
  policy: ReplayPolicy,
  opts: { seed: number; model?: RuntimeModel; sizes?: DurationPredictor; noise?: ReplayNoise },
): ReplayResult {
  const predictsSizes = policy === 'sjf-predicted' || policy === 'plexus';
  const sizes = opts.sizes;
  if (predictsSizes && !sizes) {
    throw new PlexusError('PLX_VALIDATION', `policy ${policy} needs a duration predictor (opts.sizes)`);
  }
  const rng = createRng(opts.seed);
  const noise = { sigma: 0.1, outlierRate: 0.03, outlierMin: 3, outlierMax: 10, ...opts.noise };
  // Only `plexus` places by predicted speed; the other policies place first-fit.
  const model = policy === 'plexus' ? opts.model : undefined;
  const nodes = pool.nodes;
  const free = Int32Array.from(nodes, (n) => n.gpus);
  const maxGpus = Math.max(...nodes.map((n) => n.gpus));
  const start = new Float64Array(jobs.length);
  const finish = new Float64Array(jobs.length);
  const queue: number[] = [];
  let head = 0;
  const key = new Float64Array(jobs.length);
  const predictedSize = new Float64Array(jobs.length).fill(Number.NaN);
  // 1 when a job of the same workload had finished before this one was submitted: only then is
  // its predicted size more than a prior guess, fit to divide out of its measured run time.
  const informed = new Uint8Array(jobs.length);
  const finishedOf = new Set<string>();
  // What the predicted policies may know of a job: built from the submission fields only.
  const views: SubmissionView[] = Array.from(jobs, (job) => ({
    submit: job.submit,
    gpus: job.gpus,
    workload: job.workload,
  }));
  const running: Running[] = []; // min-heap on end
  const errors: number[] = [];
  let nextArrival = 0;
  let now = 0;

  const priority = (j: number): number => {
    if (policy === 'fifo') return jobs[j]!.submit;
    if (policy === 'sjf') return jobs[j]!.work;
    predictedSize[j] = Math.max(sizes!.predict(views[j]!), 1);
    informed[j] = finishedOf.has(views[j]!.workload) ? 1 : 0;
    return predictedSize[j]!;
  };
  const enqueue = (j: number): void => {
    key[j] = priority(j);
    let lo = head;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (key[queue[mid]!]! <= key[j]!) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, j);
  };

  const pickNodes = (j: number): number[] | undefined => {
    const job = views[j]!;
    const perUnit = model ? unitTimes(job.workload) : undefined;
    const predicted = (n: number): number => perUnit![n]!;
    if (job.gpus <= maxGpus) {
      if (policy !== 'plexus' || !model) {
        for (let n = 0; n < nodes.length; n++) if (free[n]! >= job.gpus) return [n];
        return undefined;
      }
      // The free node where the model predicts the job finishes soonest. (Holding a job for a
      // faster busy node was tried and lost: others take that node first and queues grow.)
      let best = -1;
      let bestTime = Number.POSITIVE_INFINITY;
      for (let n = 0; n < nodes.length; n++) {
        if (free[n]! < job.gpus) continue;
        const t = predicted(n);
        if (t < bestTime) {
          bestTime = t;
          best = n;
        }
      }
      if (best < 0) return undefined;
      return [best];
    }
    const idle: number[] = [];
    for (let n = 0; n < nodes.length; n++) if (free[n] === nodes[n]!.gpus) idle.push(n);
    const need = Math.ceil(job.gpus / maxGpus);
    if (idle.length < need) return undefined;
    if (model) idle.sort((a, b) => predicted(a) - predicted(b));
    return idle.slice(0, need);
  };

  /** Predicted seconds per predicted second of size of `workload` on every node (node slowness). */
  const unitCache = new Map<string, Float64Array>();
  let unitCacheAt = Number.NEGATIVE_INFINITY;
  let observations = 0;
  const unitTimes = (workload: string): Float64Array => {
    // Refreshed every few observations: the model's own additive part lags as much, and a full
    // table per finished job would dominate the replay.
    if (observations - unitCacheAt >= 8) {
      unitCache.clear();
      unitCacheAt = observations;
    }
    let t = unitCache.get(workload);
    if (!t) {
      t = Float64Array.from(nodes, (node) => model!.predict(node.id, workload, 1));
      unitCache.set(workload, t);
    }
    return t;
  };

  const runTime = (j: number, chosen: number[]): number => {
    const job = jobs[j]!;
    let speed = Number.POSITIVE_INFINITY;
    for (const n of chosen) speed = Math.min(speed, pool.trueSpeed(n, job.workload));
    const z = gaussian(rng);
    let t = (Math.max(job.work, 1) / speed) * Math.exp(noise.sigma * z);
    if (rng.next() < noise.outlierRate)
      t *= noise.outlierMin + (noise.outlierMax - noise.outlierMin) * rng.next();
    return t;
  };

  const schedule = (): void => {
    // The live queue is queue[head..]. Jobs that start are dropped from the scanned prefix by
    // moving the kept ones to its end and advancing `head`: O(scanned), never O(queue), which
    // matters for strict FIFO whose queue grows to tens of thousands behind a blocked head.
    const kept: number[] = [];
    let read = head;
    let anyFree = free.some((f) => f > 0);
    for (; read < queue.length && anyFree; read++) {
      const j = queue[read]!;
      const chosen = pickNodes(j);
      if (!chosen) {
        kept.push(j);
        if (policy === 'fifo') {
          read++;
          break;
        }
        continue;
      }
      const job = views[j]!;
      let left = job.gpus;
      for (const n of chosen) {
        const take = Math.min(left, free[n]!);
        free[n] = free[n]! - take;
        left -= take;
      }
      const actual = runTime(j, chosen);
      const predicted = model ? unitTimes(job.workload)[chosen[0]!]! * predictedSize[j]! : 0;
      start[j] = now;
      heapPush(running, { end: now + actual, job: j, nodes: chosen, start: now, predicted, actual });
      anyFree = free.some((f) => f > 0);
    }
    head = read - kept.length;
    for (let i = 0; i < kept.length; i++) queue[head + i] = kept[i]!;
    if (head > 4096 && head > queue.length / 2) {
      queue.splice(0, head);
      head = 0;
    }
  };

  while (nextArrival < jobs.length || running.length > 0) {
    const arrival = nextArrival < jobs.length ? jobs[nextArrival]!.submit : Number.POSITIVE_INFINITY;
    const completion = running.length > 0 ? running[0]!.end : Number.POSITIVE_INFINITY;
    now = Math.min(arrival, completion);
    while (running.length > 0 && running[0]!.end <= now) {
      const r = heapPop(running)!;
      const job = views[r.job]!;
      finish[r.job] = r.end;
      let left = job.gpus;
      for (const n of r.nodes) {
        const give = Math.min(left, nodes[n]!.gpus);
        free[n] = free[n]! + give;
        left -= give;
      }
      // Learning uses only what a finished job reveals: its measured run time and where it ran,
      // beside what was predicted for it at submission. The node model learns measured ÷
      // predicted size per (node, workload): how much slower or faster than predicted that
      // node runs the workload's jobs, with the job's own length divided out as far as known.
      sizes?.observe(job, r.actual);
      finishedOf.add(job.workload);
      if (r.nodes.length === 1 && model && informed[r.job] === 1) {
        errors.push(Math.abs(Math.log(r.predicted / r.actual)));
        model.observe(nodes[r.nodes[0]!]!.id, job.workload, r.actual, predictedSize[r.job]!);
        observations++;
      }
    }
    while (nextArrival < jobs.length && jobs[nextArrival]!.submit <= now) enqueue(nextArrival++);
    schedule();
  }

  const jct = Array.from(jobs, (job, j) => finish[j]! - job.submit).sort((a, b) => a - b);
  const wait = Array.from(jobs, (job, j) => start[j]! - job.submit).sort((a, b) => a - b);
  const q = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
  errors.sort((a, b) => a - b);
  return {
    policy,
    jobs: jobs.length,
    meanJct: mean(jct),
    p50Jct: q(jct, 0.5),
    p95Jct: q(jct, 0.95),
    p99Jct: q(jct, 0.99),
    meanWait: mean(wait),
    p95Wait: q(wait, 0.95),
    makespan: Math.max(...finish) - (jobs[0]?.submit ?? 0),
    ...(errors.length > 0 ? { medianAbsLogError: q(errors, 0.5) } : {}),
    predictedSize,
    start,
    finish,
  };
}

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function heapPush(h: Running[], x: Running): void {
  h.push(x);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]!.end <= h[i]!.end) break;
    [h[p], h[i]] = [h[i]!, h[p]!];
    i = p;
  }
}

function heapPop(h: Running[]): Running | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.end < h[m]!.end) m = l;
      if (r < h.length && h[r]!.end < h[m]!.end) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
  return top;
}
