/**
 * Robust aggregation as the only defence (issue 21, docs/training.md): a Byzantine worker whose
 * updates nobody re-runs. Jobs with `verification: { policy: 'none' }` accept every result as
 * delivered, so a provider sending −10 × its pseudo-gradient (`--behaviour sign-flip`) is never
 * compared, never faulted, and its update reaches the aggregation every round it works. Three
 * honest provider processes and that one, each holding one lease at a time (`--prefetch 0`), run
 * the same 4-worker job under each rule: the coordinator's held-out accuracy after the last round
 * stays near an all-honest run with the median, the trimmed mean and centered clipping, while the
 * plain mean is wrecked. Real coordinator, real sockets, real agent processes training with TF.js.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { type Coordinator, startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import type { TensorSet } from '../src/protocol/tensorSet.ts';
import { AGGREGATION_RULES, type AggregationRuleName, adamWSchema } from '../src/protocol/training.ts';
import { evaluate } from '../src/runtimes/tfjs/innerLoop.ts';
import { buildModel, initialWeights, type Shard, shardTensors } from '../src/runtimes/tfjs/layersModel.ts';
import { runLocalDiloco } from '../src/runtimes/tfjs/localDiloco.ts';
import { loadMnist, mnistTopology, splitShard } from '../src/runtimes/tfjs/mnistExample.ts';
import { randomAccount, tempDir } from './helpers/fixtures.ts';
import { waitUntil } from './helpers/net.ts';

const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

const WORKERS = 4;
const ROUNDS = 5;
const INNER_STEPS = 8;
const BATCH = 16;
const SEED = 'robust-only';
const innerOptimizer = adamWSchema.parse({ lr: 3e-3 });
const outerOptimizer = { lr: 0.7, momentum: 0.9 };

let dir: string;
let cleanupDir: () => Promise<void>;
let c: Coordinator;
const live: NodeChild[] = [];
let honest: string[];
let cheater: string;
let topology: string;
let init: TensorSet;
let shards: Shard[];
let heldOut: Shard;
/** Held-out accuracy of the same job computed locally with every worker honest. */
let honestAccuracy: number;

async function startProvider(i: number, behaviour?: string): Promise<string> {
  const pdir = join(dir, `provider-${i}`);
  await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  // One lease at a time: a provider works on at most one of a round's tasks at once.
  const args = ['provider', 'start', '--coordinator', c.url, '--data-dir', pdir, '--prefetch', '0'];
  if (behaviour) args.push('--behaviour', behaviour);
  const child = spawnPlexus(`provider-${i}${behaviour ? ` (${behaviour})` : ''}`, args, {
    env,
    print,
    showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40,
  });
  live.push(child);
  const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 120_000);
  return address.toLowerCase();
}

before(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('plexus-trainrobust-'));
  c = await startCoordinator(
    { dataDir: join(dir, 'coordinator'), port: 0, sweepIntervalMs: 100, canaryRate: 0 },
    { log: createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' }) },
  );
  topology = await mnistTopology(16);
  const model = await buildModel(topology);
  init = initialWeights(model, 3);
  const data = loadMnist({ trainSize: 800, testSize: 200 });
  shards = splitShard(data.train, WORKERS);
  heldOut = data.test;
  const local = await runLocalDiloco({
    topology,
    initial: init,
    shards,
    workers: WORKERS,
    rounds: ROUNDS,
    innerSteps: INNER_STEPS,
    batchSize: BATCH,
    innerOptimizer,
    outerOptimizer,
    aggregation: { rule: 'mean', trimFraction: 0.25, clipIterations: 3 },
    seed: SEED,
  });
  honestAccuracy = evaluate(model, local.weights, heldOut).accuracy;
  model.dispose();
  [cheater, ...honest] = await Promise.all([
    startProvider(0, 'sign-flip'),
    startProvider(1),
    startProvider(2),
    startProvider(3),
  ]);
  await waitUntil(
    '4 providers connected',
    async () =>
      (await createClient({ url: c.url }).listProviders()).providers.filter((p) => p.connected).length === 4,
    120_000,
  );
});

after(async () => {
  await Promise.all(live.map((p) => p.stop(5000)));
  await c?.stop();
  await cleanupDir?.();
});

/** Final held-out accuracy per rule, filled by the tests in order. */
const finalAccuracy = new Map<AggregationRuleName, number>();

const shardBytes = (s: Shard) => encodeSafetensors(shardTensors(s.x, s.xShape, s.y));

for (const rule of AGGREGATION_RULES) {
  test(`unaudited sign-flip worker, ${rule}: the job completes, nobody is faulted, held-out accuracy recorded`, async () => {
    const client = createClient({ url: c.url, account: randomAccount() });
    const up = async (b: Uint8Array) => (await client.uploadBlob(b)).cid;
    const { jobId } = await client.submitJob({
      kind: 'train.diloco',
      model: await up(Buffer.from(topology)),
      weights: await up(encodeSafetensors(init)),
      shards: await Promise.all(shards.map((s) => up(shardBytes(s)))),
      validation: await up(shardBytes(heldOut)),
      workers: WORKERS,
      rounds: ROUNDS,
      innerSteps: INNER_STEPS,
      batchSize: BATCH,
      innerOptimizer,
      outerOptimizer,
      aggregation: { rule },
      seed: SEED,
      // Verification off: every delivered update is accepted as it is.
      verification: { policy: 'none' },
      deadline: Math.floor(Date.now() / 1000) + 900,
      taskTimeoutSec: 120,
    });
    const faulted: string[] = [];
    const job = await client.waitForJob(
      jobId,
      (e) => {
        if (e.type === 'provider.faulted') faulted.push(String(e.data.provider).toLowerCase());
      },
      AbortSignal.timeout(600_000),
    );
    assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
    assert.deepEqual(faulted, [], 'with verification off nobody is compared, so nobody is faulted');
    // The premise: the cheater's updates were aggregated, and were a minority of every round.
    const byCheater = Array.from({ length: ROUNDS }, (_, r) =>
      job.tasks.filter((t) => Math.floor(t.index / WORKERS) === r && t.provider?.toLowerCase() === cheater),
    ).map((ts) => ts.length);
    assert.ok(
      byCheater.some((n) => n > 0),
      `the cheater worked in this job (tasks per round: ${byCheater})`,
    );
    assert.ok(
      byCheater.every((n) => 2 * n < WORKERS),
      `the cheater had fewer than half of each round's tasks (${byCheater})`,
    );
    for (const t of job.tasks)
      assert.ok(
        t.provider && [cheater, ...honest].includes(t.provider.toLowerCase()),
        `task ${t.index} ran on one of the test's providers`,
      );
    const { history } = await client.trainingHistory(jobId);
    assert.equal(history.length, ROUNDS);
    const accuracy = history.at(-1)?.validation?.accuracy;
    assert.equal(typeof accuracy, 'number', 'the coordinator evaluated the held-out shard');
    finalAccuracy.set(rule, accuracy as number);
    console.error(
      `${rule}: held-out accuracy ${(100 * (accuracy as number)).toFixed(1)}% (all honest, local: ${(100 * honestAccuracy).toFixed(1)}%), cheater's tasks per round ${byCheater}`,
    );
  });
}

test('the robust rules stay near the all-honest run; the plain mean is wrecked', () => {
  assert.ok(honestAccuracy > 0.7, `the all-honest run learns (${honestAccuracy})`);
  for (const rule of ['median', 'trimmed-mean', 'centered-clip'] as const) {
    const acc = finalAccuracy.get(rule);
    assert.ok(acc !== undefined, `${rule} ran`);
    assert.ok(
      acc >= honestAccuracy - 0.2,
      `${rule}: ${acc} is within 20 points of the all-honest ${honestAccuracy}`,
    );
  }
  const mean = finalAccuracy.get('mean');
  assert.ok(mean !== undefined, 'mean ran');
  assert.ok(mean <= honestAccuracy - 0.4, `mean: ${mean} is far below the all-honest ${honestAccuracy}`);
});
