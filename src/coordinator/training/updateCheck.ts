/**
 * The layout check of a `train.diloco` result when it arrives (docs/training.md, "Malformed
 * updates"): the update is compared with the weights of its round, named by the task's descriptor
 * (which this coordinator wrote from the job's signed model and its own earlier rounds; nothing a
 * worker sends), by the pure check validators re-run (protocol/trainUpdate.ts). The result rides
 * with the output's tensors into the task's verification: a malformed update is a fault there, a
 * non-finite one is dropped unpaid, either way before the verdict bills anything.
 *
 * Cost: names and shapes from the decoded header, then one pass over the floats; for the largest
 * weights blob (64 MiB, 16 Mi floats) about 70–110 ms on the 2-core dev machine under load 7.9,
 * less than hashing the same output for its digest, which the result handler already does on the
 * event loop (docs/benchmarks.md).
 */
import type { Kysely } from 'kysely';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { checkTrainUpdate, layoutOf, type TensorLayout } from '../../protocol/trainUpdate.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { Database } from '../store/schema.ts';
import type { InvalidUpdate } from '../verification/taskVerificationTypes.ts';
import { readTensors } from './trainBlobs.ts';

/** Layouts of recent rounds' weights, by blob id (a weights blob never changes). */
const layouts = new Map<string, TensorLayout>();
const MAX_LAYOUTS = 64;

/**
 * What was found checking an output set (null: nothing wrong), kept with the set itself so a
 * reveal later in the same process (redundant executions reveal together) reads it back.
 */
const checked = new WeakMap<TensorSet, InvalidUpdate | null>();

/**
 * The round's weights blob a training task's descriptor names, or undefined when the task is not one.
 *
 * @example
 * const weights = await weightsOfTask(db, blobs, taskId);
 */
async function weightsOfTask(
  db: Kysely<Database>,
  blobs: BlobStore,
  taskId: string,
): Promise<string | undefined> {
  const row = await db.selectFrom('tasks').select('input_cid').where('id', '=', taskId).executeTakeFirst();
  if (!row) return undefined;
  const descriptor = JSON.parse(Buffer.from(await blobs.read(row.input_cid)).toString('utf8')) as {
    type?: unknown;
    weights?: unknown;
  };
  return descriptor.type === 'plexus.train.diloco.task' && typeof descriptor.weights === 'string'
    ? descriptor.weights
    : undefined;
}

/** A training task's round weights: their blob and layout. */
export type TrainLayout = { weights: string; layout: TensorLayout };

/**
 * The layout of the round weights a training task is checked against (undefined: not a training
 * task). Read before the result's transaction; the check itself ({@link invalidUpdate}) is sync.
 *
 * @example
 * const layout = await trainLayoutOf(deps.db, deps.blobs, taskId);
 */
export async function trainLayoutOf(
  db: Kysely<Database>,
  blobs: BlobStore,
  taskId: string,
): Promise<TrainLayout | undefined> {
  const weights = await weightsOfTask(db, blobs, taskId);
  if (!weights) return undefined;
  let layout = layouts.get(weights);
  if (!layout) {
    layout = layoutOf(await readTensors(blobs, weights));
    layouts.set(weights, layout);
    if (layouts.size > MAX_LAYOUTS) layouts.delete(layouts.keys().next().value as string);
  }
  return { weights, layout };
}

/**
 * What is wrong with a training output (undefined: nothing), checked once per set of tensors: a
 * result is checked when it arrives, and read back when it is revealed with others.
 *
 * @example
 * const invalid = invalidUpdate(tensors, await trainLayoutOf(db, blobs, taskId));
 */
export function invalidUpdate(tensors: TensorSet, train: TrainLayout): InvalidUpdate | undefined {
  const hit = checked.get(tensors);
  if (hit !== undefined) return hit ?? undefined;
  const fault = checkTrainUpdate(tensors, train.layout);
  const invalid = fault ? { ...fault, weights: train.weights } : undefined;
  checked.set(tensors, invalid ?? null);
  return invalid;
}
