import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { decodeSafetensors, encodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { adamWSchema, shardOf, type TrainTaskDescriptor, taskSeed } from '../../protocol/training.ts';
import { closeRound, initialOuterState } from './dilocoRound.ts';
import { batchOrder, LOSS_TENSOR } from './innerLoop.ts';
import { buildModel, initialWeights, shardTensors } from './layersModel.ts';
import { runLocalDiloco } from './localDiloco.ts';
import { loadMnist, mnistTopology, splitShard } from './mnistExample.ts';
import { runTrainTask } from './runTrainTask.ts';
import { DEFAULT_TRAIN_BACKEND } from './tf.ts';

const cid = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const adamw = adamWSchema.parse({ lr: 3e-3 });
const agg = { rule: 'mean' as const, trimFraction: 0.25, clipIterations: 3 };
const outer = { lr: 0.7, momentum: 0.9 };

async function setup() {
  const topology = await mnistTopology(16);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 7);
  model.dispose();
  const { train, test } = loadMnist({ trainSize: 800, testSize: 400 });
  return { topology, initial, shards: splitShard(train, 4), test };
}

function maxAbsDiff(a: TensorSet, b: TensorSet): number {
  let m = 0;
  for (const [k, t] of Object.entries(a)) {
    const u = (b[k] as TensorSet[string]).data;
    for (let i = 0; i < t.data.length; i++)
      m = Math.max(m, Math.abs((t.data[i] as number) - (u[i] as number)));
  }
  return m;
}

test('the batch order is fixed by the seed, covers the shard and differs between seeds', () => {
  const a = batchOrder('s1', 10, 4, 5).flatMap((b) => [...b]);
  assert.deepEqual(
    a,
    batchOrder('s1', 10, 4, 5).flatMap((b) => [...b]),
  );
  assert.notDeepEqual(
    a,
    batchOrder('s2', 10, 4, 5).flatMap((b) => [...b]),
  );
  // The first 10 draws are one permutation of the 10 rows.
  assert.deepEqual(
    [...a.slice(0, 10)].sort((x, y) => x - y),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test('a task re-run from the same bytes gives the same output bits; another seed does not', async () => {
  const { topology, initial, shards } = await setup();
  const first = shards[0] as (typeof shards)[number];
  const blobs = {
    model: Buffer.from(topology),
    weights: encodeSafetensors(initial),
    shard: encodeSafetensors(shardTensors(first.x, first.xShape, first.y)),
  };
  const task: TrainTaskDescriptor = {
    type: 'plexus.train.diloco.task',
    version: 2,
    backend: DEFAULT_TRAIN_BACKEND,
    round: 0,
    worker: 0,
    model: cid(blobs.model),
    weights: cid(blobs.weights),
    shard: cid(blobs.shard),
    seed: taskSeed('t', 0, 0),
    innerSteps: 5,
    batchSize: 16,
    innerOptimizer: adamw,
  };
  const a = await runTrainTask(task, blobs);
  const b = await runTrainTask(task, blobs);
  assert.deepEqual(encodeSafetensors(a.output), encodeSafetensors(b.output));
  assert.ok(a.loss > 0 && Number.isFinite(a.loss), 'a.loss > 0 && Number.isFinite(a.loss)');
  assert.equal(a.output[LOSS_TENSOR]?.data[0], Math.fround(a.loss));
  const c = await runTrainTask({ ...task, seed: taskSeed('t', 0, 1) }, blobs);
  assert.ok(maxAbsDiff(a.output, c.output) > 1e-6, 'another seed trains on other batches');
  // Pseudo-gradient = θ_global − θ_local: non-zero on every weight tensor.
  for (const k of Object.keys(initial)) {
    const d = a.output[k]?.data as Float32Array;
    assert.equal(d.length, initial[k]?.data.length, k);
    assert.ok(
      d.some((x) => x !== 0),
      `${k} moved`,
    );
  }
});

test('4 workers × 5 rounds through encoded tasks and outputs equal the local reference, and learn', async () => {
  const { topology, initial, shards, test: held } = await setup();
  const cfg = { workers: 4, rounds: 5, innerSteps: 8, batchSize: 16, seed: 'job-seed' };
  const local = await runLocalDiloco({
    topology,
    initial,
    shards,
    validation: held,
    ...cfg,
    innerOptimizer: adamw,
    outerOptimizer: outer,
    aggregation: agg,
  });
  // The same computation as the network does it: descriptors and blobs as bytes, outputs
  // encoded and decoded as safetensors, the coordinator's round close over the decoded sets.
  const modelBytes = Buffer.from(topology);
  const shardBytes = shards.map((s) => encodeSafetensors(shardTensors(s.x, s.xShape, s.y)));
  let state = initialOuterState(initial);
  for (let round = 0; round < cfg.rounds; round++) {
    const weightsBytes = encodeSafetensors(state.weights);
    const outputs: TensorSet[] = [];
    for (let w = 0; w < cfg.workers; w++) {
      const shard = shardBytes[w] as Uint8Array;
      assert.equal(shardOf({ shards: shardBytes.map(cid) }, w), cid(shard));
      const r = await runTrainTask(
        {
          type: 'plexus.train.diloco.task',
          version: 2,
          backend: DEFAULT_TRAIN_BACKEND,
          round,
          worker: w,
          model: cid(modelBytes),
          weights: cid(weightsBytes),
          shard: cid(shard),
          seed: taskSeed(cfg.seed, round, w),
          innerSteps: cfg.innerSteps,
          batchSize: cfg.batchSize,
          innerOptimizer: adamw,
        },
        { model: modelBytes, weights: weightsBytes, shard },
      );
      const decoded = decodeSafetensors(encodeSafetensors(r.output));
      delete decoded[LOSS_TENSOR];
      outputs.push(decoded);
    }
    state = closeRound(state, outputs, agg, outer).state;
  }
  assert.ok(
    maxAbsDiff(local.weights, state.weights) <= 1e-6,
    `max |Δθ| ${maxAbsDiff(local.weights, state.weights)}`,
  );
  const acc = local.history.map((h) => h.validation?.accuracy ?? 0);
  assert.ok((acc.at(-1) as number) > 0.6, `held-out accuracy after 5 rounds: ${acc.join(', ')}`);
  assert.ok(
    (local.history.at(-1)?.loss as number) < (local.history[0]?.loss as number),
    'training loss falls',
  );
});

test('models with dropout or unknown layers are refused with PLX_TRAIN_MODEL_INVALID', async () => {
  const topology = JSON.parse(await mnistTopology(8));
  topology.config.layers.splice(2, 0, { class_name: 'Dropout', config: { rate: 0.5, name: 'drop' } });
  await assert.rejects(buildModel(JSON.stringify(topology)), { code: 'PLX_TRAIN_MODEL_INVALID' });
  await assert.rejects(buildModel('not json'), { code: 'PLX_TRAIN_MODEL_INVALID' });
  const model = await buildModel(await mnistTopology(8));
  const bad = initialWeights(model, 1);
  delete bad['hidden/0'];
  await assert.rejects(
    runTrainTask(
      {
        type: 'plexus.train.diloco.task',
        version: 2,
        backend: DEFAULT_TRAIN_BACKEND,
        round: 0,
        worker: 0,
        model: 'a'.repeat(64),
        weights: 'b'.repeat(64),
        shard: 'c'.repeat(64),
        seed: 'd'.repeat(64),
        innerSteps: 1,
        batchSize: 1,
        innerOptimizer: adamw,
      },
      {
        model: Buffer.from(await mnistTopology(8)),
        weights: encodeSafetensors(bad),
        shard: encodeSafetensors(shardTensors(new Float32Array(784), [1, 28, 28, 1], new Int32Array([3]))),
      },
    ),
    { code: 'PLX_TRAIN_WEIGHTS_MISMATCH' },
  );
  model.dispose();
});
