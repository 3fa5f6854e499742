/**
 * Intake bounds what a training job makes the coordinator compute itself: the validation pass it
 * runs at every round close, on its own thread (security review: a model within the parameter and
 * activation limits over a large validation shard blocked the event loop for an hour a round).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { MAX_VALIDATION_MACS } from '../src/coordinator/training/trainIntake.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { buildModel, checkTopology, initialWeights, shardTensors } from '../src/runtimes/tfjs/layersModel.ts';
import { mnistConvNetTopology } from '../src/runtimes/tfjs/mnistExample.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
before(async () => {
  c = await testCoordinator();
});
after(async () => {
  await c.cleanup();
});

test('a validation pass over the limit is refused at intake; one under it is admitted', async () => {
  const client = createClient({ url: c.url, account: randomAccount() });
  const up = async (b: Uint8Array) => (await client.uploadBlob(b)).cid;
  const topology = await mnistConvNetTopology(32, 64);
  const macs = checkTopology(topology).size.macs;
  assert.equal(macs, 2_468_992, 'by hand: 26²·32·9 + 13²·32·4 + 11²·64·288 + 5²·64·4 + 1600·10');
  const model = await buildModel(topology);
  const weights = await up(encodeSafetensors(initialWeights(model, 1)));
  model.dispose();
  const shard = async (rows: number) =>
    up(
      encodeSafetensors(shardTensors(new Float32Array(rows * 784), [rows, 28, 28, 1], new Int32Array(rows))),
    );
  const spec = async (validationRows: number) => ({
    kind: 'train.diloco' as const,
    model: await up(Buffer.from(topology)),
    weights,
    shards: [await shard(4)],
    validation: await shard(validationRows),
    workers: 1,
    rounds: 1,
    innerSteps: 1,
    batchSize: 1,
    deadline: Math.floor(Date.now() / 1000) + 600,
  });
  const over = Math.floor(MAX_VALIDATION_MACS / macs) + 1;
  await assert.rejects(client.submitJob(await spec(over)), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'PLX_TRAIN_SHARD_INVALID');
    assert.match(err.message, new RegExp(`${over} rows × ${macs} multiply-accumulates`));
    return true;
  });
  const { jobId } = await client.submitJob(await spec(over - 1));
  assert.match(jobId, /^0x[0-9a-f]{64}$/);
});

test('multi-krum with W − f − 2 < 1 is refused at intake (PLX_TRAIN_AGGREGATION_INVALID); W − f − 2 = 1 is admitted', async () => {
  const client = createClient({ url: c.url, account: randomAccount() });
  const up = async (b: Uint8Array) => (await client.uploadBlob(b)).cid;
  const topology = await mnistConvNetTopology(4, 4);
  const model = await buildModel(topology);
  const weights = await up(encodeSafetensors(initialWeights(model, 1)));
  model.dispose();
  const shard = await up(
    encodeSafetensors(shardTensors(new Float32Array(4 * 784), [4, 28, 28, 1], new Int32Array(4))),
  );
  const spec = async (workers: number, byzantine?: number) => ({
    kind: 'train.diloco' as const,
    model: await up(Buffer.from(topology)),
    weights,
    shards: [shard],
    workers,
    rounds: 1,
    innerSteps: 1,
    batchSize: 1,
    aggregation: { rule: 'multi-krum' as const, ...(byzantine === undefined ? {} : { byzantine }) },
    deadline: Math.floor(Date.now() / 1000) + 600,
  });
  for (const [workers, byzantine, f] of [
    [8, 6, 6],
    [2, undefined, 0], // ⌊0.25·2⌋ = 0, yet no neighbour to score by
  ] as const)
    await assert.rejects(
      client.submitJob(await spec(workers, byzantine)),
      (err: { code?: string; message: string }) => {
        assert.equal(err.code, 'PLX_TRAIN_AGGREGATION_INVALID');
        assert.match(err.message, new RegExp(`${workers} workers tolerating f = ${f} Byzantine`));
        return true;
      },
    );
  const { jobId } = await client.submitJob(await spec(8, 5));
  assert.match(jobId, /^0x[0-9a-f]{64}$/);
});
