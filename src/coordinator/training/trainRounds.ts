/**
 * The round manager of `train.diloco` jobs. When the last of a round's W tasks is accepted by
 * verification (a verdict, so redundancy and audits already ran), the round closes right after
 * the verdict's transaction (the blob store cannot be written inside one): the accepted pseudo-gradients are aggregated with the job's rule, the outer
 * Nesterov step gives the next global weights (stored as a blob with the optimizer state), the
 * global model is evaluated on the client's held-out shard, a `train.round` event records loss
 * and accuracy, and the next round's tasks are queued, in one transaction that also checks the
 * round is still open (closing twice is a no-op). After round R−1 the final weights are recorded
 * and the round manager completes the job (the ordinary "all tasks done" completion is skipped
 * for training jobs, so `job.completed` comes after the last `train.round`).
 * Lost or late tasks need nothing here: the lease sweep re-queues them like any task.
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../../logger.ts';
import type { TrainDilocoSpec } from '../../protocol/schemas.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { closeRound, conformUpdate } from '../../runtimes/tfjs/dilocoRound.ts';
import { evaluate, LOSS_TENSOR } from '../../runtimes/tfjs/innerLoop.ts';
import { buildModel, readShard } from '../../runtimes/tfjs/layersModel.ts';
import { useTrainBackend } from '../../runtimes/tfjs/tf.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Database } from '../store/schema.ts';
import { insertRoundTasks, prepareRoundTasks } from './roundTasks.ts';
import { putTensors, readTensors } from './trainBlobs.ts';

/** One closed round as the history (and the explorer's loss curve) shows it. */
export type TrainRoundRecord = {
  round: number;
  /** Mean training loss the round's accepted tasks reported. */
  loss: number;
  validation?: { loss: number; accuracy: number };
  weights: string;
  closedAt: number;
};

export type TrainingRounds = {
  /**
   * Called after a verdict completed a task of a `train.diloco` job (its transaction committed):
   * closes the round when that was its last task. Resolves true when the job completed.
   */
  afterTaskCompleted(jobId: string, spec: TrainDilocoSpec): Promise<boolean>;
};

/**
 * The round manager.
 *
 * @example
 * const training = createTrainingRounds({ blobs, events, log, now: Date.now });
 */
export function createTrainingRounds(deps: {
  db: Kysely<Database>;
  blobs: BlobStore;
  events: EventLog;
  log: Logger;
  now: () => number;
  /** Test-only: runs once a round is ready to close; a throw leaves it open (a simulated crash). */
  beforeClose?: (jobId: string, round: number) => void;
}): TrainingRounds {
  /** Rounds being closed, by job: one close at a time per job. */
  const closing = new Map<string, Promise<boolean>>();
  async function close(jobId: string, spec: TrainDilocoSpec): Promise<boolean> {
    const trx = deps.db;
    const state = await trx
      .selectFrom('train_jobs')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirst();
    if (!state || state.round >= spec.rounds) return false;
    const round = state.round;
    const first = round * spec.workers;
    const tasks = await trx
      .selectFrom('tasks')
      .select(['idx', 'output_cid', 'status'])
      .where('job_id', '=', jobId)
      .where('idx', '>=', first)
      .where('idx', '<', first + spec.workers)
      .orderBy('idx')
      .execute();
    if (tasks.length < spec.workers || tasks.some((t) => t.status !== 'completed' || !t.output_cid))
      return false;
    deps.beforeClose?.(jobId, round);
    const started = performance.now();
    const weights = await readTensors(deps.blobs, state.weights_cid);
    const updates: TensorSet[] = [];
    let lossSum = 0;
    for (const t of tasks) {
      const out = await readTensors(deps.blobs, t.output_cid as string);
      lossSum += Number(out[LOSS_TENSOR]?.data[0] ?? Number.NaN);
      delete out[LOSS_TENSOR];
      // Malformed (a missing weight, another shape): NaN, which the robust rules drop.
      const { update, bad } = conformUpdate(out, weights);
      if (bad.length > 0)
        deps.log.warn({ jobId, round, task: t.idx, tensors: bad.slice(0, 8) }, 'training update malformed');
      updates.push(update);
    }
    const next = closeRound(
      {
        weights,
        momentum: await readTensors(deps.blobs, state.momentum_cid),
        lastUpdate: await readTensors(deps.blobs, state.last_update_cid),
      },
      updates,
      spec.aggregation,
      spec.outerOptimizer,
    ).state;
    const weightsCid = await putTensors(deps.blobs, next.weights);
    const momentumCid = await putTensors(deps.blobs, next.momentum);
    const lastCid = await putTensors(deps.blobs, next.lastUpdate);
    let validation: TrainRoundRecord['validation'];
    if (spec.validation) {
      // The job's backend (intake checked this process has it), as its providers train on.
      await useTrainBackend(spec.backend);
      const model = await buildModel(await deps.blobs.read(spec.model));
      try {
        validation = evaluate(model, next.weights, readShard(await readTensors(deps.blobs, spec.validation)));
      } finally {
        model.dispose();
      }
    }
    const t = deps.now();
    const record: TrainRoundRecord = {
      round,
      loss: lossSum / tasks.length,
      ...(validation ? { validation } : {}),
      weights: weightsCid,
      closedAt: t,
    };
    const history = [...(JSON.parse(state.history) as TrainRoundRecord[]), record];
    const last = round + 1 >= spec.rounds;
    const nextRound = last
      ? undefined
      : await prepareRoundTasks(deps.blobs, spec, jobId, round + 1, weightsCid);
    const closed = await deps.db.transaction().execute(async (tx) => {
      const updated = await tx
        .updateTable('train_jobs')
        .set({
          round: round + 1,
          weights_cid: weightsCid,
          momentum_cid: momentumCid,
          last_update_cid: lastCid,
          history: JSON.stringify(history),
          final_cid: last ? weightsCid : null,
        })
        .where('job_id', '=', jobId)
        .where('round', '=', round)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return false;
      for (const [cid, role] of [
        [weightsCid, last ? 'final' : 'weights'],
        [momentumCid, 'state'],
        [lastCid, 'state'],
      ] as const)
        await tx
          .insertInto('train_blobs')
          .values({ job_id: jobId, task_id: '', cid, role })
          .onConflict((oc) => oc.doNothing())
          .execute();
      await deps.events.append(tx, jobId, 'train.round', {
        round,
        rounds: spec.rounds,
        loss: record.loss,
        accuracy: validation?.accuracy ?? null,
        validationLoss: validation?.loss ?? null,
        weights: weightsCid,
      });
      if (nextRound) await insertRoundTasks(tx, nextRound, t);
      else {
        await tx
          .updateTable('jobs')
          .set({ status: 'completed', updated_at: t })
          .where('id', '=', jobId)
          .where('status', '=', 'running')
          .execute();
        await deps.events.append(tx, jobId, 'job.completed', {
          tasks: spec.workers * spec.rounds,
          final: weightsCid,
        });
      }
      return true;
    });
    if (!closed) return false;
    deps.log.info(
      {
        jobId,
        round,
        loss: record.loss,
        accuracy: validation?.accuracy,
        ms: Math.round(performance.now() - started),
      },
      'training round closed',
    );
    deps.events.notify(jobId);
    return last;
  }
  return {
    afterTaskCompleted(jobId, spec) {
      const run = (closing.get(jobId) ?? Promise.resolve(false))
        .catch(() => false)
        .then(() => close(jobId, spec));
      closing.set(jobId, run);
      // Cleared either way; the caller handles the rejection (a `finally` here would re-raise it
      // unhandled, which ends a Node process).
      const clear = () => {
        if (closing.get(jobId) === run) closing.delete(jobId);
      };
      run.then(clear, clear);
      return run;
    },
  };
}
