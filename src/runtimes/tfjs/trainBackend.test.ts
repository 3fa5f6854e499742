/**
 * The TF.js backend is part of a training job's spec and of every task (issue 21 review): the
 * installed release is the one the protocol names, a task runs on exactly the backend it pins,
 * and a task pinning another release is refused with PLX_TRAIN_BACKEND_MISMATCH, in process and
 * through the training worker process a provider runs, instead of rounding differently.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { descriptorOf } from '../../coordinator/training/trainBlobs.ts';
import { checkTrainBackend } from '../../coordinator/training/trainIntake.ts';
import { cannotRun, forgetRenderer, recordRenderer } from '../../coordinator/work/renderEligibility.ts';
import type { WorkState } from '../../coordinator/work/workState.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import type { HardwareClaim } from '../../protocol/schemas.ts';
import { trainDilocoSpecSchema } from '../../protocol/schemas.ts';
import {
  adamWSchema,
  TFJS_VERSION,
  type TrainTaskDescriptor,
  trainTaskDescriptorSchema,
} from '../../protocol/training.ts';
import { trainBackendsClaim, trainClaim } from './backendClaim.ts';
import { buildModel, initialWeights, shardTensors } from './layersModel.ts';
import { loadMnist, mnistTopology } from './mnistExample.ts';
import { runTrainTask } from './runTrainTask.ts';
import { currentBackend, DEFAULT_TRAIN_BACKEND, installedBackends, useTrainBackend } from './tf.ts';
import { createTrainProcess } from './trainProcess.ts';

const cid = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function task(backend: TrainTaskDescriptor['backend']) {
  const topology = await mnistTopology(8);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 3);
  model.dispose();
  const { train } = loadMnist({ trainSize: 64, testSize: 10 });
  const blobs = {
    model: Buffer.from(topology),
    weights: encodeSafetensors(initial),
    shard: encodeSafetensors(shardTensors(train.x, train.xShape, train.y)),
  };
  const descriptor: TrainTaskDescriptor = {
    type: 'plexus.train.diloco.task',
    version: 2,
    round: 0,
    worker: 0,
    model: cid(blobs.model),
    weights: cid(blobs.weights),
    shard: cid(blobs.shard),
    seed: 'a'.repeat(64),
    innerSteps: 3,
    batchSize: 16,
    innerOptimizer: adamWSchema.parse({ lr: 1e-3 }),
    backend,
  };
  return { descriptor, blobs };
}

test('the installed TF.js packages are the release the protocol pins by default', () => {
  assert.deepEqual(installedBackends(), { wasm: TFJS_VERSION, cpu: TFJS_VERSION });
  assert.deepEqual(DEFAULT_TRAIN_BACKEND, { name: 'wasm', version: TFJS_VERSION });
});

test('a spec without a backend pins WASM at the release; its descriptors carry it', () => {
  const spec = trainDilocoSpecSchema.parse({
    kind: 'train.diloco',
    model: 'a'.repeat(64),
    weights: 'b'.repeat(64),
    shards: ['c'.repeat(64)],
    workers: 2,
    rounds: 1,
    innerSteps: 1,
    batchSize: 1,
    deadline: 2_000_000_000,
  });
  assert.deepEqual(spec.backend, { name: 'wasm', version: TFJS_VERSION });
  const d = descriptorOf(spec, 0, 1, 'd'.repeat(64));
  assert.deepEqual(d.backend, spec.backend);
  assert.equal(trainTaskDescriptorSchema.parse(d).backend.name, 'wasm');
  // A version 1 descriptor (no backend) is refused.
  const { backend: _b, ...old } = d;
  assert.throws(() => trainTaskDescriptorSchema.parse({ ...old, version: 1 }));
  // Intake: the installed release passes, another is refused with its code.
  checkTrainBackend({ backend: { name: 'cpu', version: TFJS_VERSION } });
  assert.throws(
    () => checkTrainBackend({ backend: { name: 'wasm', version: '4.21.0' } }),
    (e: unknown) => e instanceof PlexusError && e.code === 'PLX_TRAIN_BACKEND_UNSUPPORTED',
  );
});

test('a task runs on the backend it pins; a re-run on it gives the same bits', async () => {
  const cpu = await task({ name: 'cpu', version: TFJS_VERSION });
  const a = await runTrainTask(cpu.descriptor, cpu.blobs);
  assert.equal(currentBackend(), 'cpu');
  const wasm = await task(DEFAULT_TRAIN_BACKEND);
  await runTrainTask(wasm.descriptor, wasm.blobs);
  assert.equal(currentBackend(), 'wasm');
  const b = await runTrainTask(cpu.descriptor, cpu.blobs);
  assert.equal(currentBackend(), 'cpu');
  assert.deepEqual(encodeSafetensors(b.output), encodeSafetensors(a.output));
  await useTrainBackend(DEFAULT_TRAIN_BACKEND);
});

test('a task pinning another release is refused with PLX_TRAIN_BACKEND_MISMATCH, in process and in the worker process', async () => {
  const other = await task({ name: 'wasm', version: '4.21.0' });
  await assert.rejects(
    runTrainTask(other.descriptor, other.blobs),
    (e: unknown) => e instanceof PlexusError && e.code === 'PLX_TRAIN_BACKEND_MISMATCH',
  );
  const dir = mkdtempSync(join(tmpdir(), 'plexus-train-backend-'));
  const trainer = createTrainProcess();
  try {
    const paths = { model: join(dir, 'model'), weights: join(dir, 'weights'), shard: join(dir, 'shard') };
    for (const k of ['model', 'weights', 'shard'] as const) writeFileSync(paths[k], other.blobs[k]);
    await assert.rejects(
      trainer.run(other.descriptor, paths),
      (e: unknown) => e instanceof PlexusError && e.code === 'PLX_TRAIN_BACKEND_MISMATCH',
    );
    // The same worker still runs a task pinning its own release.
    const own = await task(DEFAULT_TRAIN_BACKEND);
    for (const k of ['model', 'weights', 'shard'] as const) writeFileSync(paths[k], own.blobs[k]);
    const r = await trainer.run(own.descriptor, paths);
    assert.ok(r.bytes.length > 0, 'r.bytes.length > 0');
  } finally {
    await trainer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("providers claim their backends; a training task goes only to one claiming the job's", () => {
  assert.deepEqual(trainBackendsClaim(), [`wasm@${TFJS_VERSION}`, `cpu@${TFJS_VERSION}`]);
  assert.deepEqual(trainClaim(), { trainBackends: trainBackendsClaim() });
  const hw = (trainBackends?: string[]): HardwareClaim => ({
    cpuModel: 'x',
    cpuCores: 2,
    memoryBytes: 1e9,
    gpus: [],
    executionProviders: ['cpu'],
    ...(trainBackends ? { trainBackends } : {}),
  });
  const s = { links: new Map(['0xa', '0xb', '0xc', '0xd'].map((a) => [a, {}])) } as unknown as WorkState;
  recordRenderer(s, '0xA', hw(trainBackendsClaim()));
  recordRenderer(s, '0xb', hw(['wasm@4.21.0', 'cpu@4.21.0']));
  recordRenderer(s, '0xc', hw([`cpu@${TFJS_VERSION}`]));
  recordRenderer(s, '0xd', hw()); // an older agent: not excluded, its worker refuses instead
  const spec = (name: 'wasm' | 'cpu', version = TFJS_VERSION) =>
    trainDilocoSpecSchema.parse({
      kind: 'train.diloco',
      model: 'a'.repeat(64),
      weights: 'b'.repeat(64),
      shards: ['c'.repeat(64)],
      workers: 1,
      rounds: 1,
      innerSteps: 1,
      batchSize: 1,
      deadline: 2_000_000_000,
      backend: { name, version },
    });
  assert.deepEqual(cannotRun(s, spec('wasm')), ['0xb', '0xc']);
  assert.deepEqual(cannotRun(s, spec('cpu')), ['0xb']);
  assert.deepEqual(cannotRun(s, spec('wasm', '4.21.0')), ['0xa', '0xc']);
  forgetRenderer(s, '0xb');
  assert.deepEqual(cannotRun(s, spec('cpu')), []);
});
