/**
 * One `train.diloco` task as a provider runs it: the task descriptor and the blobs it names in,
 * the output tensor set out (the pseudo-gradient named like the weights, plus the mean training
 * loss as `train/loss`), ready to be encoded as safetensors, committed and compared like any
 * inference output.
 */
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { type TrainTaskDescriptor, trainTaskDescriptorSchema } from '../../protocol/training.ts';
import { LOSS_TENSOR, runInnerLoop } from './innerLoop.ts';
import { buildModel, readShard } from './layersModel.ts';
import { type tfl, useTrainBackend } from './tf.ts';

/** Built models by backend and topology cid (a provider runs many rounds of one job). */
const models = new Map<string, Promise<tfl.LayersModel>>();
const MAX_CACHED_MODELS = 8;

function modelFor(key: string, topology: Uint8Array): Promise<tfl.LayersModel> {
  let m = models.get(key);
  if (!m) {
    m = buildModel(topology);
    models.set(key, m);
    m.catch(() => models.delete(key));
    if (models.size > MAX_CACHED_MODELS) {
      const oldest = models.keys().next().value as string;
      void models.get(oldest)?.then((old) => old.dispose());
      models.delete(oldest);
    }
  }
  return m;
}

/**
 * Parses a descriptor blob (JSON): throws a ZodError on anything but a valid descriptor.
 *
 * @example
 * const task = parseTrainTask(await cache.read(inputCid));
 */
export function parseTrainTask(bytes: Uint8Array): TrainTaskDescriptor {
  if (bytes.length > 16 * 1024) throw new Error('task descriptor is over 16 KiB');
  return trainTaskDescriptorSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
}

/**
 * Runs the task: builds (or reuses) the model, trains H steps from the global weights on the
 * shard with the task's seed, returns the output set and the training time.
 *
 * @example
 * const { output } = await runTrainTask(task, { model, weights, shard });
 */
export async function runTrainTask(
  task: TrainTaskDescriptor,
  blobs: { model: Uint8Array; weights: Uint8Array; shard: Uint8Array },
): Promise<{ output: TensorSet; loss: number; trainMs: number }> {
  // The job's backend and release, or PLX_TRAIN_BACKEND_MISMATCH: never a pseudo-gradient that
  // rounds differently from the other providers'.
  await useTrainBackend(task.backend);
  const model = await modelFor(`${task.backend.name}:${task.model}`, blobs.model);
  const weights = decodeSafetensors(blobs.weights);
  const shard = readShard(decodeSafetensors(blobs.shard));
  const r = runInnerLoop(model, weights, shard, task);
  return {
    output: {
      ...r.pseudoGradient,
      [LOSS_TENSOR]: { dtype: 'float32', shape: [1], data: new Float32Array([r.loss]) },
    },
    loss: r.loss,
    trainMs: r.trainMs,
  };
}
