/**
 * The wire contract of collaborative training (`train.diloco`, docs/training.md): the job spec a
 * client signs, and the task descriptor of one worker's round, which both the coordinator (who
 * writes it) and the provider agent (who runs it) read. Everything is bounded: a descriptor is
 * input from a network peer like any other.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { cidSchema, jobVerificationSchema, resourcesSchema } from './schemas.ts';

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
});
export type AggregationConfig = z.infer<typeof aggregationSchema>;

/** Most shards one job may name (one per worker is enough; more lets workers rotate). */
export const MAX_TRAIN_SHARDS = 256;

/** What a client asks for in a `train.diloco` job: R rounds of W tasks each. */
export const trainDilocoSpecSchema = z.strictObject({
  kind: z.literal('train.diloco'),
  /** Content id of the TF.js Layers topology (the JSON of `model.toJSON()`). */
  model: cidSchema,
  /** Content id of the initial weights (safetensors, names `<layer>/<index>`). */
  weights: cidSchema,
  /** Content ids of training shards: safetensors with `x` (float32, [n, …]) and `y` (labels, [n]). */
  shards: z.array(cidSchema).min(1).max(MAX_TRAIN_SHARDS),
  /** Held-out shard (same layout) the coordinator evaluates the global model on after each round. */
  validation: cidSchema.optional(),
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
  resources: resourcesSchema.default({ minMemoryMiB: 0, gpu: false }),
  deadline: z.int().positive(),
  maxAttempts: z.int().min(1).max(10).default(3),
  taskTimeoutSec: z.int().min(1).max(3600).default(300),
  label: z.string().max(200).optional(),
  verification: jobVerificationSchema.optional(),
  public: z.boolean().optional(),
});
export type TrainDilocoSpec = z.infer<typeof trainDilocoSpecSchema>;
export type TrainDilocoSpecInput = z.input<typeof trainDilocoSpecSchema>;

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
  model: cidSchema,
  /** Global weights at the start of the round. */
  weights: cidSchema,
  shard: cidSchema,
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
export function shardOf(spec: Pick<TrainDilocoSpec, 'shards'>, worker: number): string {
  return spec.shards[worker % spec.shards.length] as string;
}
