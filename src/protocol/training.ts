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
export const AGGREGATION_RULES = ['mean', 'median', 'trimmed-mean', 'centered-clip'] as const;
export type AggregationRuleName = (typeof AGGREGATION_RULES)[number];

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
});
export type AggregationConfig = z.infer<typeof aggregationSchema>;

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
};

/**
 * One worker's task in one round, as the coordinator stores it (the task's input blob) and the
 * agent reads it: everything needed to reproduce the worker's pseudo-gradient bit for bit.
 */
export const trainTaskDescriptorSchema = z.strictObject({
  type: z.literal('plexus.train.diloco.task'),
  version: z.literal(1),
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
