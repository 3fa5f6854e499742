/**
 * Blob helpers of the training coordinator: storing bytes it produces (descriptors, weights,
 * optimizer state) in the content-addressed blob store, and the task descriptor of one worker.
 */
import { Readable } from 'node:stream';
import { decodeSafetensors, encodeSafetensors } from '../../protocol/safetensors.ts';
import type { TrainDilocoSpec } from '../../protocol/schemas.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { shardOf, type TrainTaskDescriptor, taskSeed } from '../../protocol/training.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';

/** Largest blob the training coordinator writes or reads whole (weights, pseudo-gradients). */
export const MAX_TRAIN_BLOB_BYTES = 64 * 1024 * 1024;

/** Stores bytes; returns their content id. */
export async function putBytes(blobs: BlobStore, bytes: Uint8Array): Promise<string> {
  const { cid } = await blobs.put(
    Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]),
    {
      maxBytes: MAX_TRAIN_BLOB_BYTES,
    },
  );
  return cid;
}

/** Stores a tensor set as safetensors. */
export function putTensors(blobs: BlobStore, set: TensorSet): Promise<string> {
  return putBytes(blobs, encodeSafetensors(set));
}

/** Reads a safetensors blob. */
export async function readTensors(blobs: BlobStore, cid: string): Promise<TensorSet> {
  return decodeSafetensors(await blobs.read(cid));
}

/**
 * The descriptor of worker `worker` in round `round`: what the agent needs to reproduce the
 * worker's pseudo-gradient (docs/training.md, "Tasks").
 *
 * @example
 * const d = descriptorOf(spec, 3, 1, weightsCid);
 */
export function descriptorOf(
  spec: TrainDilocoSpec,
  round: number,
  worker: number,
  weights: string,
): TrainTaskDescriptor {
  return {
    type: 'plexus.train.diloco.task',
    version: 2,
    round,
    worker,
    model: spec.model,
    weights,
    shard: shardOf(spec, worker),
    seed: taskSeed(spec.seed, round, worker),
    innerSteps: spec.innerSteps,
    batchSize: spec.batchSize,
    innerOptimizer: spec.innerOptimizer,
    backend: spec.backend,
  };
}

/** Task index of worker `worker` in round `round` (rounds are numbered from 0). */
export function taskIndex(spec: Pick<TrainDilocoSpec, 'workers'>, round: number, worker: number): number {
  return round * spec.workers + worker;
}
