/**
 * Storing one round of a training job: its W tasks (each input is the worker's descriptor blob)
 * and the blobs each task's provider may read while it holds the lease.
 */
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import { taskIdOf } from '../../protocol/ids.ts';
import type { TrainDilocoSpec } from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { Database } from '../store/schema.ts';
import { descriptorOf, putBytes, taskIndex } from './trainBlobs.ts';

/** A round's tasks ready to insert: their descriptors are already in the blob store. */
export type PreparedRound = {
  jobId: string;
  tasks: { id: string; idx: number; input: string; readable: { cid: string; role: string }[] }[];
};

/**
 * Writes round `round`'s descriptors (from global weights `weights`) to the blob store. Call it
 * outside any transaction: the blob store records blobs through the same connection.
 *
 * @example
 * const prepared = await prepareRoundTasks(blobs, spec, jobId, 0, spec.weights);
 */
export async function prepareRoundTasks(
  blobs: BlobStore,
  spec: TrainDilocoSpec,
  jobId: string,
  round: number,
  weights: string,
): Promise<PreparedRound> {
  const tasks: PreparedRound['tasks'] = [];
  for (let w = 0; w < spec.workers; w++) {
    const descriptor = descriptorOf(spec, round, w, weights);
    const input = await putBytes(blobs, Buffer.from(JSON.stringify(descriptor)));
    const idx = taskIndex(spec, round, w);
    tasks.push({
      id: taskIdOf(jobId as Hex, idx),
      idx,
      input,
      readable: [
        { cid: weights, role: 'weights' },
        { cid: descriptor.shard, role: 'shard' },
        { cid: input, role: 'descriptor' },
      ],
    });
  }
  return { jobId, tasks };
}

/**
 * Inserts a prepared round's tasks, queued, and the blobs each task's provider may read.
 *
 * @example
 * await insertRoundTasks(trx, prepared, Date.now());
 */
export async function insertRoundTasks(
  trx: Transaction<Database>,
  round: PreparedRound,
  at: number,
): Promise<void> {
  for (const t of round.tasks) {
    await trx
      .insertInto('tasks')
      .values({
        id: t.id,
        job_id: round.jobId,
        idx: t.idx,
        input_cid: t.input,
        status: 'queued',
        attempts: 0,
        output_cid: null,
        provider: null,
        result: null,
        last_error: null,
        queued_at: at,
        updated_at: at,
      })
      .execute();
    for (const b of t.readable)
      await trx
        .insertInto('train_blobs')
        .values({ job_id: round.jobId, task_id: t.id, cid: b.cid, role: b.role })
        .onConflict((oc) => oc.doNothing())
        .execute();
  }
}
