/**
 * DiLoCo in one process: the reference a networked job must equal (the same seeds, shards and
 * rules give the same global model), the benchmark's engine, and the home of the Byzantine
 * behaviours the tests and the benchmark inject.
 */
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import {
  type AdamWConfig,
  type AggregationConfig,
  type OuterSgdConfig,
  type TrainBackendSpec,
  taskSeed,
} from '../../protocol/training.ts';
import { closeRound, initialOuterState, type OuterState } from './dilocoRound.ts';
import { evaluate, runInnerLoop } from './innerLoop.ts';
import { buildModel, type Shard } from './layersModel.ts';
import { DEFAULT_TRAIN_BACKEND, useTrainBackend } from './tf.ts';

/** What a Byzantine worker sends instead of its honest pseudo-gradient. */
export type ByzantineBehaviour = 'sign-flip' | 'noise' | 'stale' | 'copy';

export type LocalDilocoConfig = {
  topology: string;
  initial: TensorSet;
  /** Worker w trains on shards[w % shards.length] every round. */
  shards: readonly Shard[];
  validation?: Shard;
  workers: number;
  rounds: number;
  innerSteps: number;
  batchSize: number;
  innerOptimizer: AdamWConfig;
  outerOptimizer: OuterSgdConfig;
  aggregation: AggregationConfig;
  seed: string;
  /** Worker index → behaviour (absent: honest). */
  byzantine?: Readonly<Record<number, ByzantineBehaviour>>;
  /** The TF.js backend (absent: WASM at the network's release, as a spec without one). */
  backend?: TrainBackendSpec;
};

export type RoundRecord = {
  round: number;
  /** Mean training loss of the honest workers. */
  loss: number;
  validation?: { loss: number; accuracy: number };
  /** Milliseconds each worker spent in its inner loop this round. */
  workerMs: number[];
  /** Milliseconds the round's close took (aggregation and outer step, no evaluation). */
  closeMs: number;
};

export type LocalDilocoResult = {
  weights: TensorSet;
  history: RoundRecord[];
  /** Milliseconds the workers spent in their inner loops, summed. */
  trainMs: number;
  /** Safetensors bytes of one round's traffic: W × (global weights down + pseudo-gradient up). */
  bytesPerRound: number;
};

/**
 * Applies a Byzantine behaviour to an honest update (`previous`: this worker's update of the
 * last round, `others`: the honest updates of this round).
 *
 * @example
 * corrupt('sign-flip', honest, { round: 2, worker: 1, previous, others }); // −10 × honest
 */
export function corrupt(
  behaviour: ByzantineBehaviour,
  honest: TensorSet,
  ctx: { round: number; worker: number; previous: TensorSet | undefined; others: readonly TensorSet[] },
): TensorSet {
  const map = (f: (x: number, i: number) => number): TensorSet =>
    Object.fromEntries(
      Object.entries(honest).map(([k, t]) => [
        k,
        { dtype: 'float32' as const, shape: [...t.shape], data: (t.data as Float32Array).map(f) },
      ]),
    );
  switch (behaviour) {
    case 'sign-flip':
      return map((x) => -10 * x);
    case 'noise': {
      // Gaussian noise of unit scale from a seeded generator (Box–Muller).
      let s = (ctx.round * 7919 + ctx.worker * 104729 + 1) >>> 0;
      const u = () => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return (s + 1) / 4294967297;
      };
      return map(() => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
    }
    case 'stale':
      return ctx.previous ?? honest;
    case 'copy':
      return ctx.others[0] ?? honest;
  }
}

/**
 * Runs R rounds of W workers sequentially in this process.
 *
 * @example
 * const { weights, history } = await runLocalDiloco({ topology, initial, shards, workers: 4, rounds: 5, … });
 */
export async function runLocalDiloco(
  config: LocalDilocoConfig,
  onRound?: (r: RoundRecord) => void,
): Promise<LocalDilocoResult> {
  await useTrainBackend(config.backend ?? DEFAULT_TRAIN_BACKEND);
  const model = await buildModel(config.topology);
  let state: OuterState = initialOuterState(config.initial);
  const history: RoundRecord[] = [];
  const previous = new Map<number, TensorSet>();
  let trainMs = 0;
  let bytesPerRound = 0;
  try {
    for (let round = 0; round < config.rounds; round++) {
      const honest: TensorSet[] = [];
      const losses: number[] = [];
      const workerMs: number[] = [];
      for (let w = 0; w < config.workers; w++) {
        const r = runInnerLoop(model, state.weights, config.shards[w % config.shards.length] as Shard, {
          seed: taskSeed(config.seed, round, w),
          innerSteps: config.innerSteps,
          batchSize: config.batchSize,
          innerOptimizer: config.innerOptimizer,
        });
        trainMs += r.trainMs;
        workerMs.push(r.trainMs);
        honest.push(r.pseudoGradient);
        if (!config.byzantine?.[w]) losses.push(r.loss);
      }
      const sent = honest.map((u, w) => {
        const b = config.byzantine?.[w];
        const others = honest.filter((_, k) => k !== w && !config.byzantine?.[k]);
        return b ? corrupt(b, u, { round, worker: w, previous: previous.get(w), others }) : u;
      });
      for (const [w, u] of honest.entries()) previous.set(w, u);
      if (round === 0) {
        const down = encodeSafetensors(state.weights).length;
        bytesPerRound = config.workers * (down + encodeSafetensors(sent[0] as TensorSet).length);
      }
      const closing = performance.now();
      state = closeRound(state, sent, config.aggregation, config.outerOptimizer).state;
      const closeMs = performance.now() - closing;
      const record: RoundRecord = {
        round,
        workerMs,
        closeMs,
        loss: losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length),
        ...(config.validation ? { validation: evaluate(model, state.weights, config.validation) } : {}),
      };
      history.push(record);
      onRound?.(record);
    }
  } finally {
    model.dispose();
  }
  return { weights: state.weights, history, trainMs, bytesPerRound };
}

/**
 * The single-process baseline: one AdamW run of `steps` steps over one shard from the same
 * initial weights (the same total number of samples as W × R × H steps of DiLoCo).
 *
 * @example
 * const { weights } = await trainSingleProcess({ topology, initial, shard: train, steps: 800, … });
 */
export async function trainSingleProcess(c: {
  topology: string;
  initial: TensorSet;
  shard: Shard;
  steps: number;
  batchSize: number;
  innerOptimizer: AdamWConfig;
  seed: string;
  backend?: TrainBackendSpec;
}): Promise<{ weights: TensorSet; trainMs: number }> {
  await useTrainBackend(c.backend ?? DEFAULT_TRAIN_BACKEND);
  const model = await buildModel(c.topology);
  try {
    const r = runInnerLoop(model, c.initial, c.shard, {
      seed: taskSeed(c.seed, 0, 0),
      innerSteps: c.steps,
      batchSize: c.batchSize,
      innerOptimizer: c.innerOptimizer,
    });
    const weights: TensorSet = {};
    for (const [k, t] of Object.entries(c.initial)) {
      const d = (r.pseudoGradient[k] as TensorSet[string]).data as Float32Array;
      weights[k] = {
        dtype: 'float32',
        shape: [...t.shape],
        data: (t.data as Float32Array).map((x, i) => x - (d[i] as number)),
      };
    }
    return { weights, trainMs: r.trainMs };
  } finally {
    model.dispose();
  }
}
