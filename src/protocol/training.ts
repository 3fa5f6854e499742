/**
 * The wire contract of collaborative training (`train.diloco`, docs/training.md): the job spec a
 * client signs, and the task descriptor of one worker's round, which both the coordinator (who
 * writes it) and the provider agent (who runs it) read. Everything is bounded: a descriptor is
 * input from a network peer like any other.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * A sha256 content id. The same rule as `cidSchema` in ./schemas.ts, written out here because
 * schemas.ts builds the `train.diloco` spec from this module's parts (an import back would be a cycle).
 */
const contentId = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 content id (64 lowercase hex)');

/** Robust aggregation rules a job may choose (docs/training.md cites each). */
export const AGGREGATION_RULES = ['mean', 'median', 'trimmed-mean', 'centered-clip', 'multi-krum'] as const;
export type AggregationRuleName = (typeof AGGREGATION_RULES)[number];

/** TF.js backends a training job may pin (docs/training.md "Backend"). */
export const TRAIN_BACKENDS = ['wasm', 'cpu'] as const;
export type TrainBackendName = (typeof TRAIN_BACKENDS)[number];

/**
 * The TF.js release this network trains with (core, layers and both backends at this version):
 * a job's default. A test checks it against the installed packages.
 */
export const TFJS_VERSION = '4.22.0';

/**
 * The TF.js backend and version every task of a job runs on. Part of the signed spec and of each
 * task descriptor: the WASM and CPU backends (and two releases of one) round differently, so a
 * provider runs a task only on exactly this backend and version and refuses it otherwise
 * (`PLX_TRAIN_BACKEND_MISMATCH`); results of one job therefore always round the same way.
 */
export const trainBackendSchema = z.strictObject({
  name: z.enum(TRAIN_BACKENDS),
  version: z.string().regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'must be a TF.js release such as 4.22.0'),
});
export type TrainBackendSpec = z.infer<typeof trainBackendSchema>;

/** Inner optimizer: AdamW (Loshchilov & Hutter 2019), as in DiLoCo. */
export const adamWSchema = z.strictObject({
  lr: z.number().positive().max(10).default(1e-3),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  epsilon: z.number().positive().max(1).default(1e-7),
  weightDecay: z.number().min(0).max(1).default(0.01),
});
export type AdamWConfig = z.infer<typeof adamWSchema>;

/** Outer optimizer: SGD with Nesterov momentum on the aggregated pseudo-gradient (DiLoCo: 0.7, 0.9). */
export const outerSgdSchema = z.strictObject({
  lr: z.number().positive().max(10).default(0.7),
  momentum: z.number().min(0).lt(1).default(0.9),
});
export type OuterSgdConfig = z.infer<typeof outerSgdSchema>;

export const aggregationSchema = z.strictObject({
  rule: z.enum(AGGREGATION_RULES).default('mean'),
  /** trimmed-mean: fraction of workers dropped at each end per coordinate (β, Yin et al. 2018). */
  trimFraction: z.number().min(0).lt(0.5).default(0.25),
  /** centered-clip: iterations L of Karimireddy et al. 2021. */
  clipIterations: z.int().min(1).max(20).default(3),
  /**
   * centered-clip: the radius τ as a multiple of the median distance ‖Δ_w − v‖ at each iteration
   * (absent: 1). Smaller bounds a minority's pull harder but moves the centre less per iteration.
   */
  clipRadius: z.number().positive().max(10).optional(),
  /**
   * multi-krum: f, the number of Byzantine workers the job tolerates (Blanchard et al. 2017);
   * absent: ⌊trimFraction·W⌋. The threat model, not a knob: W − f − 2 must be ≥ 1
   * (PLX_TRAIN_AGGREGATION_INVALID at submission).
   */
  byzantine: z.int().min(0).max(63).optional(),
});
export type AggregationConfig = z.infer<typeof aggregationSchema>;

/**
 * The robust rule recommended for W workers (docs/training.md "Choosing a rule"; the CLI's and the
 * devnet demo's default): `multi-krum` where Blanchard et al.'s guarantee holds for the default
 * f = ⌊β·W⌋ (β = 0.25) with f ≥ 1, i.e. 2f + 2 < W, which is W ≥ 5; the coordinate-wise median
 * below that (with W ≤ 4 multi-krum tolerates nobody with a guarantee, at W = 3 it is the mean).
 * The threshold is the paper's condition, not a tuned number.
 *
 * @example
 * recommendedRule(8); // 'multi-krum' (f = 2)
 * recommendedRule(3); // 'median'
 */
export function recommendedRule(workers: number): 'multi-krum' | 'median' {
  const f = Math.floor(aggregationSchema.parse({}).trimFraction * workers);
  return f >= 1 && 2 * f + 2 < workers ? 'multi-krum' : 'median';
}

/** Most shards one job may name (one per worker is enough; more lets workers rotate). */
export const MAX_TRAIN_SHARDS = 256;

/** The hyper-parameters of a `train.diloco` spec (the spec itself is in ./schemas.ts). */
export const trainHyperShape = {
  workers: z.int().min(1).max(64),
  rounds: z.int().min(1).max(1000),
  innerSteps: z.int().min(1).max(10_000),
  batchSize: z.int().min(1).max(4096),
  innerOptimizer: adamWSchema.default({
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
    weightDecay: 0.01,
  }),
  outerOptimizer: outerSgdSchema.default({ lr: 0.7, momentum: 0.9 }),
  aggregation: aggregationSchema.default({ rule: 'mean', trimFraction: 0.25, clipIterations: 3 }),
  /** The job's seed: every task's seed derives from it, so the whole run can be replayed. */
  seed: z.string().min(1).max(64).default('plexus'),
  /** The TF.js backend and release every task runs on (absent: WASM at {@link TFJS_VERSION}). */
  backend: trainBackendSchema.default({ name: 'wasm', version: TFJS_VERSION }),
};

/**
 * One worker's task in one round, as the coordinator stores it (the task's input blob) and the
 * agent reads it: everything needed to reproduce the worker's pseudo-gradient bit for bit.
 */
export const trainTaskDescriptorSchema = z.strictObject({
  type: z.literal('plexus.train.diloco.task'),
  /** 2: with `backend` (version 1 descriptors named none and are refused). */
  version: z.literal(2),
  round: z.int().min(0).max(1000),
  worker: z.int().min(0).max(63),
  /** Topology (the job's `model`). */
  model: contentId,
  /** Global weights at the start of the round. */
  weights: contentId,
  shard: contentId,
  /** Seeds the data order (and any randomness of the inner loop). */
  seed: z.string().regex(/^[0-9a-f]{64}$/),
  innerSteps: z.int().min(1).max(10_000),
  batchSize: z.int().min(1).max(4096),
  innerOptimizer: adamWSchema,
  /** The job's backend: the provider runs exactly this one or refuses the task. */
  backend: trainBackendSchema,
});
export type TrainTaskDescriptor = z.infer<typeof trainTaskDescriptorSchema>;

/**
 * The seed of worker `worker` in round `round` of a job: sha256 over the job seed and both
 * indices, so every task's data order is fixed by the signed spec and differs between tasks.
 *
 * @example
 * taskSeed('plexus', 0, 3); // '5f0c…' (64 hex)
 */
export function taskSeed(jobSeed: string, round: number, worker: number): string {
  return createHash('sha256')
    .update(`plexus-diloco\u0000${jobSeed}\u0000${round}\u0000${worker}`)
    .digest('hex');
}

/**
 * The shard worker `worker` trains on: its own, for every round (DiLoCo's "each worker keeps its
 * data shard"), wrapping when there are fewer shards than workers.
 *
 * @example
 * shardOf(spec, 5); // spec.shards[5 % spec.shards.length]
 */
export function shardOf(spec: { shards: readonly string[] }, worker: number): string {
  return spec.shards[worker % spec.shards.length] as string;
}
