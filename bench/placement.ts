/**
 * Placement on the Alibaba openb trace with the FGD paper's protocol (ATC'23): for each seed,
 * draw tasks from the trace's task list until GPU requests reach 130% of the 1,213-node fleet's
 * 6,212 GPUs, place them one by one with no departures, and record the allocated GPU share as the
 * requested share grows. Random, BestFit and FGD (reimplemented from the reference simulator) run
 * in the same process as the Plexus policy; the published figures are printed beside them.
 *
 *   npm run bench -- placement [--seeds 10] [--json]
 */
import {
  createBestFitPolicy,
  createFgdPolicy,
  createRandomPolicy,
  withKubeDefaultScores,
} from '../lab/placement/baselines.ts';
import { typicalTasks } from '../lab/placement/fragmentation.ts';
import { createPlexusPolicy } from '../lab/placement/plexusPolicy.ts';
import type { PlacementPolicy } from '../lab/placement/policy.ts';
import { simulatePlacement } from '../lab/placement/simulatePlacement.ts';
import { resampleWorkload } from '../lab/placement/workload.ts';
import { loadOpenbNodes, loadOpenbTasks, type OpenbVariant } from '../lab/traces/loadOpenb.ts';
import { createRng } from '../src/intelligence/rng.ts';

const VARIANTS: OpenbVariant[] = ['default', 'gpushare100', 'multigpu50'];
const POLICIES = ['Random', 'BestFit', 'FGD', 'FGD+k8s', 'Plexus'] as const;
const CHECKPOINTS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3];
/** FGD paper (ATC'23), allocated GPU share at 100% requested, mean of 10 seeds. */
const PUBLISHED: Record<OpenbVariant, Partial<Record<(typeof POLICIES)[number], number>>> = {
  default: { Random: 86.3, BestFit: 92.9, FGD: 95.2 },
  gpushare100: { BestFit: 84.6, FGD: 86.6 },
  multigpu50: { FGD: 97.1 },
};

const pct = (x: number): string => (100 * x).toFixed(2);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Runs the benchmark, printing the comparison as it goes; returns the figures (see bench/run.ts).
 *
 * @example
 * const figures = await run(['--seeds', '1']); // what `npm run bench -- placement --seeds 1` prints and returns
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const seedsArg = args.indexOf('--seeds');
  const seeds = seedsArg >= 0 ? Number(args[seedsArg + 1]) : 10;
  let nodes: ReturnType<typeof loadOpenbNodes>;
  try {
    nodes = loadOpenbNodes();
  } catch (err) {
    console.error(`placement benchmark needs the openb trace: ${(err as Error).message}`);
    process.exit(1);
  }
  const capacity = nodes.reduce((a, n) => a + n.gpus, 0) * 1000;
  console.log(
    `openb fleet: ${nodes.length} nodes, ${capacity / 1000} GPUs; seeds ${42}..${41 + seeds}; requests up to 130%`,
  );
  const figures: Record<string, unknown> = {};
  // FGD+k8s: FGD with kube-scheduler's default CPU/memory scores as tie-breakers (see baselines.ts).
  const rates: Record<string, number[]> = { FGD: [], Plexus: [] };
  const cpuRates: Record<string, number[]> = { FGD: [], Plexus: [] };
  for (const variant of VARIANTS) {
    const pool = loadOpenbTasks(variant);
    const typical = typicalTasks(pool);
    const sums: Record<string, number[]> = {};
    for (const p of POLICIES) sums[p] = CHECKPOINTS.map(() => 0);
    for (let seed = 42; seed < 42 + seeds; seed++) {
      const tasks = resampleWorkload(pool, capacity, 1.3, seed);
      for (const name of POLICIES) {
        const policy: PlacementPolicy =
          name === 'Random'
            ? createRandomPolicy(createRng(seed))
            : name === 'BestFit'
              ? createBestFitPolicy()
              : name === 'FGD'
                ? createFgdPolicy(typical)
                : name === 'FGD+k8s'
                  ? withKubeDefaultScores(createFgdPolicy(typical))
                  : createPlexusPolicy(typical);
        const r = simulatePlacement(nodes, tasks, policy, seed, CHECKPOINTS);
        r.curve.forEach((pt, i) => {
          sums[name]![i]! += pt.allocated;
        });
        if (variant === 'default' && (name === 'FGD' || name === 'Plexus')) {
          rates[name]!.push(r.decisions / r.seconds);
          cpuRates[name]!.push(r.decisions / r.cpuSeconds);
        }
      }
    }
    const mean = (name: string, i: number): number => sums[name]![i]! / seeds;
    console.log(`\n## ${variant}: allocated GPU share (%) by requested share, mean of ${seeds} seeds`);
    console.log(`requested  ${POLICIES.map((p) => p.padStart(9)).join('')}`);
    CHECKPOINTS.forEach((c, i) => {
      console.log(
        `${`${Math.round(c * 100)}%`.padStart(9)}  ${POLICIES.map((p) => pct(mean(p, i)).padStart(9)).join('')}`,
      );
    });
    const at100 = CHECKPOINTS.indexOf(1.0);
    const at130 = CHECKPOINTS.indexOf(1.3);
    console.log('at 100% requested, ours vs published:');
    for (const p of POLICIES) {
      const pub = PUBLISHED[variant][p];
      console.log(
        `  ${p.padEnd(8)} ours ${pct(mean(p, at100))}  published ${pub === undefined ? '  —  ' : pub.toFixed(1)}`,
      );
    }
    figures[variant] = Object.fromEntries(
      POLICIES.map((p) => [
        p,
        {
          at100: Number(pct(mean(p, at100))),
          at130: Number(pct(mean(p, at130))),
          published100: PUBLISHED[variant][p] ?? null,
        },
      ]),
    );
  }
  console.log('\n## decision rate on the 1,213-node fleet (default trace, whole replay incl. cold caches)');
  const rate = { FGD: Math.round(median(rates.FGD!)), Plexus: Math.round(median(rates.Plexus!)) };
  const cpuRate = { FGD: Math.round(median(cpuRates.FGD!)), Plexus: Math.round(median(cpuRates.Plexus!)) };
  for (const p of ['FGD', 'Plexus'] as const) {
    console.log(
      `  ${p.padEnd(7)}${String(rate[p]).padStart(7)} decisions per wall second, ${cpuRate[p]} per CPU second of the process incl. GC threads (medians of ${seeds} replays)`,
    );
  }
  figures.decisionsPerSecond = rate;
  figures.decisionsPerCpuSecond = cpuRate;
  figures.seeds = seeds;
  return figures;
}
