/**
 * `plexus job submit --kind train.diloco` and `plexus job results` of a training job
 * (docs/training.md): reads a TF.js Layers model (`model.toJSON()`, or a `model.json` saved by
 * `model.save()` with its weight files), initial weights (`--weights`, the saved ones, or fresh
 * seeded ones), a folder of safetensors shards and an optional held-out shard; uploads them,
 * submits the signed job, prints a line per closed round; and writes the final weights and the
 * per-round history.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TrainingView, TrainRoundEvent } from '../client/createClient.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { decodeSafetensors, encodeSafetensors } from '../protocol/safetensors.ts';
import type { JobVerification, TrainDilocoSpecInput } from '../protocol/schemas.ts';
import type { TensorSet } from '../protocol/tensorSet.ts';
import {
  AGGREGATION_RULES,
  type AggregationRuleName,
  aggregationSchema,
  recommendedRule,
  TFJS_VERSION,
  type TrainBackendName,
} from '../protocol/training.ts';
import { checkAggregation } from '../runtimes/tfjs/aggregation.ts';

type Client = ReturnType<typeof import('../client/createClient.ts').createClient>;

export type TrainSubmitOptions = {
  model: string;
  data: string;
  heldout?: string;
  weights?: string;
  workers: number;
  innerSteps: number;
  rounds: number;
  batch: number;
  /** The aggregation rule (absent: {@link recommendedRule} for `workers`). */
  rule?: string;
  /** multi-krum: f, the Byzantine workers tolerated (absent: ⌊0.25·W⌋). */
  byzantine?: number;
  innerLr?: number;
  outerLr?: number;
  seed: number;
  deadlineSec: number;
  taskTimeoutSec: number;
  label?: string;
  verify?: JobVerification;
  maxPrice?: bigint;
  /** The TF.js backend every task runs on (default `wasm`), at this package's release. */
  backend?: TrainBackendName;
};

/** `--rule`: one of the aggregation rules (PLX_USAGE otherwise). */
export function parseRule(value: string): AggregationRuleName {
  if (!(AGGREGATION_RULES as readonly string[]).includes(value))
    throw new PlexusError('PLX_USAGE', `--rule ${value}: one of ${AGGREGATION_RULES.join(', ')}`);
  return value as AggregationRuleName;
}

/**
 * `--rule` (absent: multi-krum with ≥ 5 workers, else median) and `--byzantine` as the spec's aggregation, checked against `--workers` before
 * anything is uploaded (PLX_USAGE, PLX_TRAIN_AGGREGATION_INVALID: the coordinator's own check).
 */
export function aggregationOf(o: Pick<TrainSubmitOptions, 'rule' | 'byzantine' | 'workers'>) {
  const config = aggregationSchema.parse({
    rule: parseRule(o.rule ?? recommendedRule(o.workers)),
    ...(o.byzantine === undefined ? {} : { byzantine: o.byzantine }),
  });
  checkAggregation(config, o.workers);
  return config;
}

/** The `*.safetensors` files of a folder, sorted by name (worker w trains on shard w mod n). */
export async function shardFiles(dir: string): Promise<string[]> {
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory())
    throw new PlexusError('PLX_FILE_NOT_FOUND', `--data ${dir} is not a folder of .safetensors shards`, {
      details: { path: dir },
    });
  const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  if (files.length === 0)
    throw new PlexusError('PLX_TRAIN_SHARD_INVALID', `--data ${dir} holds no .safetensors file`, {
      details: { path: dir },
    });
  return files.map((f) => join(dir, f));
}

type SavedModel = {
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
};

/**
 * The initial weights: `--weights FILE` as given; else the weights a `model.save()` folder holds
 * (its weightsManifest, float32); else fresh Glorot-uniform weights seeded by `seed`.
 */
async function initialWeightsOf(
  modelFile: string,
  topology: string,
  o: TrainSubmitOptions,
): Promise<Uint8Array> {
  if (o.weights) return readFile(o.weights);
  const { buildModel, initialWeights, namedWeights } = await import('../runtimes/tfjs/layersModel.ts');
  const model = await buildModel(topology);
  try {
    const saved = JSON.parse(topology) as SavedModel;
    if (!saved.weightsManifest) return encodeSafetensors(initialWeights(model, o.seed));
    // A tf.io artifact: the weight files hold the values in manifest order, named layer/weight.
    const byName = new Map<string, Float32Array>();
    for (const group of saved.weightsManifest) {
      const parts = await Promise.all(group.paths.map((p) => readFile(join(dirname(modelFile), p))));
      const buf = Buffer.concat(parts);
      let off = 0;
      for (const w of group.weights) {
        const n = w.shape.reduce((a, b) => a * b, 1);
        if (w.dtype !== 'float32')
          throw new PlexusError('PLX_TRAIN_WEIGHTS_MISMATCH', `weight ${w.name} is ${w.dtype}, not float32`);
        byName.set(
          w.name,
          new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * n)),
        );
        off += 4 * n;
      }
    }
    const out: TensorSet = {};
    for (const { name, variable } of namedWeights(model)) {
      const data = byName.get(variable.originalName);
      if (!data || data.length !== variable.shape.reduce((a: number, b) => a * (b ?? 1), 1))
        throw new PlexusError(
          'PLX_TRAIN_WEIGHTS_MISMATCH',
          `the saved weights have no ${variable.originalName} of shape [${variable.shape.join(',')}]`,
        );
      out[name] = { dtype: 'float32', shape: [...variable.shape] as number[], data };
    }
    return encodeSafetensors(out);
  } finally {
    model.dispose();
  }
}

/**
 * Uploads the model, initial weights and shards and submits the signed `train.diloco` job.
 *
 * @example const { jobId, tasks } = await submitTrainingJob(client, { model: 'model.json', data: 'shards', workers: 4, innerSteps: 8, rounds: 5, batch: 16, rule: 'median', seed: 1, deadlineSec: 3600, taskTimeoutSec: 300 });
 */
export async function submitTrainingJob(client: Client, o: TrainSubmitOptions) {
  const aggregation = aggregationOf(o);
  const shards = await shardFiles(o.data);
  const topology = await readFile(o.model, 'utf8');
  const weights = await initialWeightsOf(o.model, topology, o);
  // Only the topology travels as the model (the weights are their own blob).
  const saved = JSON.parse(topology) as SavedModel;
  const topologyBytes = Buffer.from(saved.modelTopology ? JSON.stringify(saved.modelTopology) : topology);
  const spec: TrainDilocoSpecInput = {
    kind: 'train.diloco',
    model: (await client.uploadBlob(topologyBytes)).cid,
    weights: (await client.uploadBlob(weights)).cid,
    shards: await Promise.all(shards.map(async (f) => (await client.uploadFile(f)).cid)),
    ...(o.heldout ? { validation: (await client.uploadFile(o.heldout)).cid } : {}),
    workers: o.workers,
    rounds: o.rounds,
    innerSteps: o.innerSteps,
    batchSize: o.batch,
    ...(o.innerLr === undefined ? {} : { innerOptimizer: { lr: o.innerLr } }),
    ...(o.outerLr === undefined ? {} : { outerOptimizer: { lr: o.outerLr } }),
    aggregation: { rule: aggregation.rule, ...(o.byzantine === undefined ? {} : { byzantine: o.byzantine }) },
    seed: String(o.seed),
    // Pinned in the signed spec: every provider runs exactly this backend and release.
    backend: { name: o.backend ?? 'wasm', version: TFJS_VERSION },
    deadline: Math.floor(Date.now() / 1000) + o.deadlineSec,
    taskTimeoutSec: o.taskTimeoutSec,
    ...(o.label ? { label: o.label } : {}),
    ...(o.verify ? { verification: o.verify } : {}),
  };
  return client.submitJob(spec, o.maxPrice !== undefined ? { maxPricePerUnit: o.maxPrice } : {});
}

/** One progress line per closed round. */
export function roundLine(r: TrainRoundEvent): string {
  const acc = r.accuracy === null ? '' : `  held-out accuracy ${(100 * r.accuracy).toFixed(2)}%`;
  const vloss = r.validationLoss === null ? '' : `  held-out loss ${r.validationLoss.toFixed(4)}`;
  return `round ${r.round + 1}/${r.rounds}  loss ${r.loss.toFixed(4)}${vloss}${acc}`;
}

/**
 * `plexus job results` of a training job: `weights.safetensors` (the final global weights,
 * names `<layer>/<index>`) and `history.json` (every round: loss, held-out loss and accuracy,
 * weights cid). Returns the files written and the history.
 */
export async function writeTrainingResults(
  client: Client,
  jobId: string,
  out: string,
): Promise<{ files: string[]; training: TrainingView }> {
  const training = await client.trainingHistory(jobId);
  const files: string[] = [];
  if (training.final) {
    const bytes = await client.downloadBlob(training.final);
    decodeSafetensors(bytes); // a corrupt download fails here, not in the user's loader
    const file = join(out, 'weights.safetensors');
    await writeFile(file, bytes);
    files.push(file);
  }
  const history = join(out, 'history.json');
  await writeFile(history, JSON.stringify(training, null, 2));
  files.push(history);
  return { files, training };
}
