/**
 * Intake of a `train.diloco` job, after submitJob.ts checked the schema, the client's signature,
 * the nonce and the deadline: every blob exists, the escrow covers W × R tasks, the topology is a
 * model this network trains, the initial weights fit it and every shard's inputs fit its input
 * shape with labels in range. Then the job, round 0's tasks and the outer state are stored in one
 * transaction.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { JobSubmission, TrainDilocoSpec } from '../../protocol/schemas.ts';
import { checkAggregation } from '../../runtimes/tfjs/aggregation.ts';
import { initialOuterState } from '../../runtimes/tfjs/dilocoRound.ts';
import {
  buildModel,
  checkTopology,
  MAX_TOPOLOGY_BYTES,
  readShard,
  writeWeights,
} from '../../runtimes/tfjs/layersModel.ts';
import { installedBackends, useTrainBackend } from '../../runtimes/tfjs/tf.ts';
import { assertClientsBlobs } from '../blobs/clientsBlobs.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import { insertJobRow } from '../jobs/insertJobRow.ts';
import type { Market } from '../market/createMarket.ts';
import { inTransaction } from '../store/inTransaction.ts';
import type { Database } from '../store/schema.ts';
import { policyOfSpec } from '../verification/policy.ts';
import { insertRoundTasks, prepareRoundTasks } from './roundTasks.ts';
import { MAX_TRAIN_BLOB_BYTES, putTensors } from './trainBlobs.ts';

export type TrainIntakeDeps = {
  db: Kysely<Database>;
  blobs: BlobStore;
  events: EventLog;
  market?: Market | undefined;
  now: () => number;
};

async function sizeOf(blobs: BlobStore, cid: string, what: string): Promise<number> {
  const size = await blobs.size(cid);
  if (size === undefined)
    throw new PlexusError('PLX_UNKNOWN_BLOB', `${what} ${cid} was not uploaded`, { details: { cid } });
  if (size > MAX_TRAIN_BLOB_BYTES)
    throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', `${what} ${cid} is over ${MAX_TRAIN_BLOB_BYTES} bytes`);
  return size;
}

/**
 * Most multiply-accumulates one validation pass may take. The coordinator evaluates the global
 * model on the client's validation shard at every round close, on its own thread: bounded, or a
 * client could block it for hours with one job (security review: a 4.7 M-parameter conv net over
 * a 64 MB shard, ~150 TFLOP a round, passed the parameter and activation limits).
 */
export const MAX_VALIDATION_MACS = 2_000_000_000;

/**
 * Refuses a spec pinning a TF.js backend release other than the one installed here (the release
 * this network's providers run): no provider would take its tasks (PLX_TRAIN_BACKEND_UNSUPPORTED).
 */
export function checkTrainBackend(spec: Pick<TrainDilocoSpec, 'backend'>): void {
  const installed = installedBackends()[spec.backend.name];
  if (installed !== spec.backend.version)
    throw new PlexusError(
      'PLX_TRAIN_BACKEND_UNSUPPORTED',
      `backend ${spec.backend.name} ${spec.backend.version}: this network trains with TF.js ${installed ?? '(mixed install)'}`,
      { details: { backend: spec.backend, supported: { name: spec.backend.name, version: installed } } },
    );
}

/** Checks the model, weights and shards of a spec (PLX_TRAIN_* codes, docs/errors.md). */
async function checkTrainingData(blobs: BlobStore, spec: TrainDilocoSpec): Promise<void> {
  checkTrainBackend(spec);
  await useTrainBackend(spec.backend);
  if ((await sizeOf(blobs, spec.model, 'model')) > MAX_TOPOLOGY_BYTES)
    throw new PlexusError('PLX_TRAIN_MODEL_INVALID', `topology is over ${MAX_TOPOLOGY_BYTES} bytes`);
  await sizeOf(blobs, spec.weights, 'weights');
  const shards = [...new Set([...spec.shards, ...(spec.validation ? [spec.validation] : [])])];
  for (const cid of shards) await sizeOf(blobs, cid, 'shard');
  const topology = await blobs.read(spec.model);
  const { macs } = checkTopology(topology).size;
  const model = await buildModel(topology);
  try {
    try {
      writeWeights(model, decodeSafetensors(await blobs.read(spec.weights)));
    } catch (err) {
      if (err instanceof PlexusError) throw err;
      throw new PlexusError('PLX_TRAIN_WEIGHTS_MISMATCH', `weights: ${(err as Error).message}`);
    }
    const inputShape = (model.inputs[0]?.shape ?? []).slice(1);
    const classes = (model.outputs[0]?.shape.at(-1) as number | undefined) ?? 0;
    for (const cid of shards) {
      let shard: ReturnType<typeof readShard>;
      try {
        shard = readShard(decodeSafetensors(await blobs.read(cid)));
      } catch (err) {
        if (err instanceof PlexusError)
          throw new PlexusError(err.code, `shard ${cid}: ${err.message}`, { details: { cid } });
        throw new PlexusError('PLX_TRAIN_SHARD_INVALID', `shard ${cid}: ${(err as Error).message}`, {
          details: { cid },
        });
      }
      const rows = shard.xShape[0] ?? 0;
      if (cid === spec.validation && rows * macs > MAX_VALIDATION_MACS)
        throw new PlexusError(
          'PLX_TRAIN_SHARD_INVALID',
          `validation shard ${cid}: ${rows} rows × ${macs} multiply-accumulates per row is over ${MAX_VALIDATION_MACS} (fewer rows, or a smaller model)`,
          { details: { cid, rows, macsPerRow: macs, max: MAX_VALIDATION_MACS } },
        );
      const rowShape = shard.xShape.slice(1);
      if (rowShape.length !== inputShape.length || rowShape.some((d, i) => d !== inputShape[i]))
        throw new PlexusError(
          'PLX_TRAIN_SHARD_INVALID',
          `shard ${cid}: rows of shape [${rowShape.join(',')}], the model takes [${inputShape.join(',')}]`,
          { details: { cid } },
        );
      for (const label of shard.y)
        if (label < 0 || label >= classes)
          throw new PlexusError(
            'PLX_TRAIN_SHARD_INVALID',
            `shard ${cid}: label ${label} outside 0..${classes - 1}`,
            {
              details: { cid },
            },
          );
    }
  } finally {
    model.dispose();
  }
}

/**
 * Admits and stores a checked `train.diloco` job.
 *
 * @example
 * const { jobId, tasks } = await submitTrainJob(deps, spec, { submission, jobId, client });
 */
export async function submitTrainJob(
  deps: TrainIntakeDeps,
  spec: TrainDilocoSpec,
  ctx: { submission: JobSubmission; jobId: Hex; client: string },
): Promise<{ jobId: Hex; tasks: number }> {
  const { submission, jobId, client } = ctx;
  // Before any blob is read: a rule that cannot run on W updates (multi-krum's W − f − 2 ≥ 1).
  checkAggregation(spec.aggregation, spec.workers);
  const tasks = spec.workers * spec.rounds;
  const admission = {
    client: submission.client,
    tasks,
    policy: policyOfSpec(spec),
    taskTimeoutSec: spec.taskTimeoutSec,
    maxPrice: BigInt(submission.maxPricePerUnit),
  };
  await sizeOf(deps.blobs, spec.model, 'model');
  await assertClientsBlobs(deps.db, client, [
    spec.model,
    spec.weights,
    ...spec.shards,
    ...(spec.validation ? [spec.validation] : []),
  ]);
  await deps.market?.canAdmit(admission);
  await checkTrainingData(deps.blobs, spec);
  const state = initialOuterState(decodeSafetensors(await deps.blobs.read(spec.weights)));
  const zerosCid = await putTensors(deps.blobs, state.momentum);
  const round0 = await prepareRoundTasks(deps.blobs, spec, jobId, 0, spec.weights);
  const t = deps.now();
  const insert = (worstCase: bigint | undefined, given?: Transaction<Database>) =>
    inTransaction(deps.db, given, async (trx) => {
      await insertJobRow(trx, deps.events, { jobId, client, submission, spec, tasks, worstCase, now: t });
      await trx
        .insertInto('train_jobs')
        .values({
          job_id: jobId,
          round: 0,
          weights_cid: spec.weights,
          momentum_cid: zerosCid,
          last_update_cid: zerosCid,
          history: '[]',
          final_cid: null,
        })
        .execute();
      const own = [
        ...spec.shards.map((cid) => ({ cid, role: 'shard' })),
        ...(spec.validation ? [{ cid: spec.validation, role: 'validation' }] : []),
        { cid: spec.weights, role: 'weights' },
        { cid: zerosCid, role: 'state' },
      ];
      for (const b of own)
        await trx
          .insertInto('train_blobs')
          .values({ job_id: jobId, task_id: '', cid: b.cid, role: b.role })
          .onConflict((oc) => oc.doNothing())
          .execute();
      await insertRoundTasks(trx, round0, t);
    });
  try {
    if (deps.market) await deps.market.admit(admission, (worst, trx) => insert(worst, trx));
    else await insert(undefined);
  } catch (err) {
    if (String(err).includes('UNIQUE'))
      throw new PlexusError('PLX_REPLAY', `nonce ${submission.nonce} was already used`);
    throw err;
  }
  return { jobId, tasks };
}
