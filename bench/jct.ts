/**
 * Queueing and job completion times: the Microsoft Philly trace (82,247 jobs, Sep–Dec 2017)
 * replayed on fixed pools of eight-GPU providers from four hardware generations (per-node and
 * per-workload speeds hidden from the schedulers, see heterogeneousPool.ts): a busy pool of 448
 * GPUs (56 nodes, where strict FIFO is overloaded) and a moderate one of 672 GPUs (84 nodes).
 * FIFO, shortest-job-first with the trace's true sizes (an upper bound no queue has), and SJF
 * ordered by the same submission-time size prediction Plexus uses run in the same process as
 * Plexus (predicted-shortest-first, each job on the free node the runtime model says finishes it
 * soonest). The predicted policies never see a job's true duration: sizes come from a
 * HistoryDurationPredictor fed only submission fields and finished jobs' measured run times.
 * The size prediction error against the trace's durations is reported per policy. LAS is a
 * preemptive Tiresias-style 2D least-attained-service baseline (1 GPU-hour threshold, free
 * preemption), which needs no sizes at all.
 *
 *   npm run bench -- jct [--seeds 2] [--jobs N] [--json]
 */

import { HistoryDurationPredictor } from '../lab/runtime/durationPredictor.ts';
import {
  createHeterogeneousPool,
  DEFAULT_CLASSES,
  type PoolClass,
} from '../lab/runtime/heterogeneousPool.ts';
import { type ReplayJob, type ReplayResult, replayJobs } from '../lab/runtime/replayJobs.ts';
import { replayLas } from '../lab/runtime/replayLas.ts';
import { loadPhilly } from '../lab/traces/loadPhilly.ts';
import { RuntimePredictor } from '../src/intelligence/runtime/runtimePredictor.ts';

const h = (s: number): string => (s / 3600).toFixed(2);

/**
 * Runs the benchmark, printing the comparison as it goes; returns the figures (see bench/run.ts).
 *
 * @example
 * const figures = await run(['--seeds', '1']); // what `npm run bench -- jct --seeds 1` prints and returns
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const seeds = opt('--seeds', 2);
  let trace: ReturnType<typeof loadPhilly>;
  try {
    trace = loadPhilly();
  } catch (err) {
    console.error(`jct benchmark needs the Philly trace: ${(err as Error).message}`);
    process.exit(1);
  }
  const jobs = trace
    .slice(0, opt('--jobs', trace.length))
    .map((j) => ({ submit: j.submit, work: j.duration, gpus: j.gpus, workload: j.cluster }));
  const figures: Record<string, unknown> = { jobs: jobs.length, seeds };
  for (const scale of [1, 1.5]) {
    const classes = DEFAULT_CLASSES.map((c) => ({ ...c, nodes: Math.round(c.nodes * scale) }));
    figures[`pool${classes.reduce((a, c) => a + c.nodes * c.gpusPerNode, 0)}`] = replayPool(
      jobs,
      classes,
      seeds,
    );
  }
  return figures;
}

function replayPool(jobs: ReplayJob[], classes: PoolClass[], seeds: number): Record<string, unknown> {
  const gpus = classes.reduce((a, c) => a + c.nodes * c.gpusPerNode, 0);
  console.log(
    `\n## Philly: ${jobs.length} jobs on ${gpus} GPUs (${classes.map((c) => `${c.nodes}×${c.gpusPerNode} ${c.name} @${c.speed}`).join(', ')}); seeds ${seeds}`,
  );
  const variants = [
    { name: 'FIFO', policy: 'fifo' as const, predicted: false },
    { name: 'SJF (oracle sizes)', policy: 'sjf' as const, predicted: false },
    { name: 'SJF (predicted)', policy: 'sjf-predicted' as const, predicted: true },
    { name: 'Plexus (predicted)', policy: 'plexus' as const, predicted: true },
    { name: 'LAS (preemptive)', policy: 'las' as const, predicted: false },
  ];
  const results: Record<string, Outcome[]> = {};
  const sizeErrors: Record<string, SizeError[]> = {};
  for (let seed = 42; seed < 42 + seeds; seed++) {
    const pool = createHeterogeneousPool(classes, seed);
    for (const v of variants) {
      const started = performance.now();
      let r: Outcome;
      if (v.policy === 'las') r = replayLas(jobs, pool, { seed });
      else {
        const rr = replayJobs(jobs, pool, v.policy, {
          seed,
          ...(v.predicted ? { sizes: new HistoryDurationPredictor() } : {}),
          ...(v.policy === 'plexus' ? { model: new RuntimePredictor() } : {}),
        });
        if (v.predicted)
          sizeErrors[v.name] = [...(sizeErrors[v.name] ?? []), sizeError(jobs, rr.predictedSize)];
        r = rr;
      }
      const list = results[v.name] ?? [];
      list.push(r);
      results[v.name] = list;
      console.log(
        `  seed ${seed} ${v.name.padEnd(22)} mean JCT ${h(r.meanJct)} h (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
  }
  const avg = (rs: Outcome[], f: (r: Outcome) => number): number =>
    rs.reduce((a, r) => a + f(r), 0) / rs.length;
  console.log(
    `\nmean over ${seeds} seeds (hours)     mean JCT   p50 JCT   p95 JCT   p99 JCT  mean wait  p95 wait  |log err| (run time on the chosen node)`,
  );
  const figures: Record<string, unknown> = { gpus };
  for (const v of variants) {
    const rs = results[v.name]!;
    const row = {
      meanJctH: Number(h(avg(rs, (r) => r.meanJct))),
      p50JctH: Number(h(avg(rs, (r) => r.p50Jct))),
      p95JctH: Number(h(avg(rs, (r) => r.p95Jct))),
      p99JctH: Number(h(avg(rs, (r) => r.p99Jct))),
      meanWaitH: Number(h(avg(rs, (r) => r.meanWait))),
      p95WaitH: Number(h(avg(rs, (r) => r.p95Wait))),
      medianAbsLogError:
        rs[0]!.medianAbsLogError === undefined
          ? null
          : Number(avg(rs, (r) => r.medianAbsLogError ?? 0).toFixed(3)),
    };
    const se = sizeErrors[v.name];
    figures[v.name] = {
      ...row,
      ...(v.policy === 'las' ? { preemptions: Math.round(avg(rs, (r) => r.preemptions ?? 0)) } : {}),
      sizeError: se
        ? {
            medianAbsLogError: Number(avg2(se, (e) => e.medianAbsLog).toFixed(3)),
            mape: Number(avg2(se, (e) => e.mape).toFixed(1)),
            mdape: Number(avg2(se, (e) => e.mdape).toFixed(1)),
            within2x: Number(avg2(se, (e) => e.within2x).toFixed(3)),
          }
        : null,
    };
    console.log(
      `${v.name.padEnd(28)}${[
        row.meanJctH,
        row.p50JctH,
        row.p95JctH,
        row.p99JctH,
        row.meanWaitH,
        row.p95WaitH,
      ]
        .map((x) => x.toFixed(2).padStart(10))
        .join('')}${(row.medianAbsLogError === null ? '—' : row.medianAbsLogError.toFixed(3)).padStart(11)}`,
    );
  }
  for (const [name, se] of Object.entries(sizeErrors)) {
    console.log(
      `size prediction, ${name}: median |log(pred/true)| ${avg2(se, (e) => e.medianAbsLog).toFixed(3)}, MAPE ${avg2(se, (e) => e.mape).toFixed(1)}%, median APE ${avg2(se, (e) => e.mdape).toFixed(1)}%, within 2× ${(100 * avg2(se, (e) => e.within2x)).toFixed(1)}% (vs the trace's durations)`,
    );
  }
  return figures;
}

/** The fields every replay (non-preemptive or LAS) reports. */
type Outcome = Pick<ReplayResult, 'meanJct' | 'p50Jct' | 'p95Jct' | 'p99Jct' | 'meanWait' | 'p95Wait'> & {
  medianAbsLogError?: number;
  preemptions?: number;
};

type SizeError = { medianAbsLog: number; mape: number; mdape: number; within2x: number };

const avg2 = <T>(xs: T[], f: (x: T) => number): number => xs.reduce((a, x) => a + f(x), 0) / xs.length;

/**
 * Error of the sizes a policy ordered jobs by, against the trace's durations (read here, after
 * the replay; durations under 1 s count as 1 s, as in the replay's physics).
 */
function sizeError(jobs: readonly ReplayJob[], predicted: Float64Array): SizeError {
  const logs: number[] = [];
  const apes: number[] = [];
  let within = 0;
  jobs.forEach((job, j) => {
    const p = predicted[j]!;
    if (!Number.isFinite(p)) return;
    const truth = Math.max(job.work, 1);
    const l = Math.abs(Math.log(p / truth));
    logs.push(l);
    apes.push((100 * Math.abs(p - truth)) / truth);
    if (l <= Math.LN2) within++;
  });
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
  return {
    medianAbsLog: med(logs),
    mape: apes.reduce((a, b) => a + b, 0) / Math.max(apes.length, 1),
    mdape: med(apes),
    within2x: within / Math.max(logs.length, 1),
  };
}
