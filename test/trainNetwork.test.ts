/**
 * Collaborative training over the network, beyond the happy path (issue 21, docs/training.md):
 * the CLI submits a `train.diloco` job and downloads its results; Byzantine workers (noise, a stale
 * update, a copy of another worker's update) as real provider processes are outvoted, faulted, and
 * the job trains as if they were honest; a worker killed mid-round has its task re-leased; a
 * coordinator restarted mid-job resumes it. Every finished job's weights are checked against the
 * same DiLoCo computation run locally in one process. Small model (784 → 8 → 10), few rounds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { createClient, type PlexusClient } from '../src/client/createClient.ts';
import { type Coordinator, startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { type NodeChild, PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import type { TensorSet } from '../src/protocol/tensorSet.ts';
import { adamWSchema } from '../src/protocol/training.ts';
import { buildModel, initialWeights, type Shard, shardTensors } from '../src/runtimes/tfjs/layersModel.ts';
import { runLocalDiloco } from '../src/runtimes/tfjs/localDiloco.ts';
import { loadMnist, mnistTopology, splitShard } from '../src/runtimes/tfjs/mnistExample.ts';
import { randomAccount, tempDir } from './helpers/fixtures.ts';
import { waitUntil } from './helpers/net.ts';
import { trustProvider } from './helpers/trustedProvider.ts';

const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const run = promisify(execFile);

let dir: string;
let cleanupDir: () => Promise<void>;
let coordDir: string;
let c: Coordinator;
const live = new Map<number, NodeChild>();
const addresses = new Map<number, string>();
let topology: string;
let data: { train: Shard; test: Shard };

async function startCoord(
  port = 0,
  beforeTrainRoundClose?: (jobId: string, round: number) => void,
): Promise<Coordinator> {
  return startCoordinator(
    { dataDir: coordDir, port, sweepIntervalMs: 100, canaryRate: 0 },
    {
      log: createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' }),
      ...(beforeTrainRoundClose ? { beforeTrainRoundClose } : {}),
    },
  );
}

/**
 * Provider 0 is a genesis operator: its trusted record is written to the store before it first
 * connects. Without a trusted member a redundant vote has no ground truth and faults nobody
 * (docs/verification.md), so the cheater tests need it.
 */
const GENESIS = 0;
let genesisWritten = false;

async function startProvider(i: number, behaviour?: string): Promise<string> {
  const running = addresses.get(i);
  if (live.has(i) && running) return running;
  const pdir = join(dir, `provider-${i}`);
  const account = await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  if (i === GENESIS && !genesisWritten) {
    await trustProvider(c.store.db, account.address);
    genesisWritten = true;
  }
  const args = ['provider', 'start', '--coordinator', c.url, '--data-dir', pdir];
  if (behaviour) args.push('--behaviour', behaviour);
  const child = spawnPlexus(`provider-${i}${behaviour ? ` (${behaviour})` : ''}`, args, {
    env,
    print,
    showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40,
  });
  live.set(i, child);
  const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 120_000);
  addresses.set(i, address.toLowerCase());
  return address.toLowerCase();
}

async function stopProvider(i: number): Promise<void> {
  await live.get(i)?.stop(5000);
  live.delete(i);
}

/** Waits until exactly the providers the test runs are connected (the scheduler sees them). */
async function connected(n: number): Promise<void> {
  await waitUntil(
    `${n} providers connected`,
    async () =>
      (await createClient({ url: c.url }).listProviders()).providers.filter((p) => p.connected).length === n,
    120_000,
  );
}

before(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('plexus-trainnet-'));
  coordDir = join(dir, 'coordinator');
  c = await startCoord();
  topology = await mnistTopology(8);
  data = loadMnist({ trainSize: 400, testSize: 200 });
});
after(async () => {
  await Promise.all([...live.values()].map((p) => p.stop(5000)));
  await c?.stop();
  await cleanupDir?.();
});

const innerOptimizer = adamWSchema.parse({ lr: 3e-3 });
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

async function initial(seed: number): Promise<TensorSet> {
  const model = await buildModel(topology);
  try {
    return initialWeights(model, seed);
  } finally {
    model.dispose();
  }
}

type Job = { workers: number; rounds: number; innerSteps: number; seed: string; rule: 'mean' | 'median' };

/** Submits a small job through the SDK; returns its id and what the local run needs. */
async function submit(client: PlexusClient, j: Job, extra: Record<string, unknown> = {}) {
  const init = await initial(3);
  const shards = splitShard(data.train, j.workers);
  const up = async (b: Uint8Array) => (await client.uploadBlob(b)).cid;
  const { jobId } = await client.submitJob({
    kind: 'train.diloco',
    model: await up(Buffer.from(topology)),
    weights: await up(encodeSafetensors(init)),
    shards: await Promise.all(shards.map((s) => up(shardBytes(s)))),
    workers: j.workers,
    rounds: j.rounds,
    innerSteps: j.innerSteps,
    batchSize: 16,
    innerOptimizer,
    aggregation: { rule: j.rule },
    seed: j.seed,
    deadline: Math.floor(Date.now() / 1000) + 900,
    taskTimeoutSec: 60,
    ...extra,
  });
  return { jobId, init, shards };
}

async function localWeights(j: Job, init: TensorSet, shards: Shard[]): Promise<TensorSet> {
  const local = await runLocalDiloco({
    topology,
    initial: init,
    shards,
    workers: j.workers,
    rounds: j.rounds,
    innerSteps: j.innerSteps,
    batchSize: 16,
    innerOptimizer,
    outerOptimizer: { lr: 0.7, momentum: 0.9 },
    aggregation: { rule: j.rule, trimFraction: 0.25, clipIterations: 3 },
    seed: j.seed,
  });
  return local.weights;
}

test('plexus job submit --kind train.diloco prints each round and job results writes the final weights and history', async () => {
  await startProvider(0);
  await startProvider(1);
  const work = join(dir, 'cli');
  await mkdir(join(work, 'shards'), { recursive: true });
  await writeFile(join(work, 'model.json'), topology);
  const shards = splitShard(data.train, 2);
  for (const [i, s] of shards.entries())
    await writeFile(join(work, 'shards', `shard-${i}.safetensors`), shardBytes(s));
  await writeFile(join(work, 'heldout.safetensors'), shardBytes(data.test));
  const keystore = join(work, 'client.json');
  const plexus = (args: string[]) =>
    run(process.execPath, [PLEXUS_BIN, ...args, '--coordinator', c.url, '--keystore', keystore], {
      env: { ...process.env, ...env, PLEXUS_LOG_LEVEL: 'warn' },
      timeout: 400_000,
    });
  const usage = await plexus([
    'job',
    'submit',
    '--kind',
    'train.diloco',
    '--model',
    join(work, 'model.json'),
  ]).then(
    () => assert.fail('--data is required'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /PLX_USAGE/);
  const { stdout } = await plexus([
    'job',
    'submit',
    '--kind',
    'train.diloco',
    '--model',
    join(work, 'model.json'),
    '--data',
    join(work, 'shards'),
    '--heldout',
    join(work, 'heldout.safetensors'),
    '--workers',
    '2',
    '--rounds',
    '3',
    '--inner-steps',
    '4',
    '--batch',
    '16',
    '--inner-lr',
    '0.003',
    '--rule',
    'mean',
    '--seed',
    '5',
    '--json',
  ]);
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const rounds = lines.filter((l) => l.type === 'round');
  assert.deepEqual(
    rounds.map((r) => r.round),
    [0, 1, 2],
  );
  for (const r of rounds) assert.equal(typeof r.accuracy, 'number', 'held-out accuracy each round');
  const done = lines.at(-1) as {
    type: string;
    jobId: string;
    status: string;
    final: string;
    accuracy: number;
  };
  assert.equal(done.type, 'done');
  assert.equal(done.status, 'completed');
  const out = join(work, 'out');
  const res = JSON.parse((await plexus(['job', 'results', done.jobId, '--out', out, '--json'])).stdout) as {
    files: string[];
  };
  assert.deepEqual(res.files.map((f) => f.slice(out.length + 1)).sort(), [
    'history.json',
    'weights.safetensors',
  ]);
  const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8')) as {
    history: { round: number; validation?: { accuracy: number } }[];
    final: string;
  };
  assert.equal(history.history.length, 3);
  assert.equal(history.history[2]?.validation?.accuracy, done.accuracy);
  // The CLI initialised the weights from --seed, and the job seed is the same number.
  const j: Job = { workers: 2, rounds: 3, innerSteps: 4, seed: '5', rule: 'mean' };
  const local = await localWeights(j, await initial(5), shards);
  const got = decodeSafetensors(await readFile(join(out, 'weights.safetensors')));
  assert.ok(maxAbsDiff(local, got) <= 1e-5, 'the downloaded weights are the local DiLoCo run');
  // Asking for the training view of an inference-kind id is refused with a code.
  await assert.rejects(createClient({ url: c.url }).trainingHistory(`0x${'0'.repeat(64)}`), {
    code: 'PLX_NOT_FOUND',
  });
});

for (const [n, cheat] of ['train-noise', 'train-stale', 'train-copy'].entries()) {
  test(`a worker sending ${cheat.slice(6)} updates is outvoted (redundant, k = 3), faulted, and the job trains as if it were honest`, async () => {
    // Provider 0 (trusted) and 1 are honest: with k = 3 every task of round 0 runs on all three. A
    // cheater caught is suspended (no more work, docs/verification.md "Suspension"), so each cheat
    // is a fresh account, and once it is faulted an honest spare joins for the later rounds' k = 3.
    const honest = [await startProvider(0), await startProvider(1)];
    const cheater = await startProvider(10 + n, cheat);
    await connected(3);
    let spare: Promise<string> | undefined;
    const client = createClient({ url: c.url, account: randomAccount() });
    const j: Job = { workers: 2, rounds: 3, innerSteps: 4, seed: cheat, rule: 'median' };
    const { jobId, init, shards } = await submit(client, j, { verification: { policy: 'redundant', k: 3 } });
    const faulted: string[] = [];
    const job = await client.waitForJob(
      jobId,
      (e) => {
        if (e.type === 'provider.faulted') {
          faulted.push(String(e.data.provider).toLowerCase());
          spare ??= startProvider(2);
        }
      },
      AbortSignal.timeout(400_000),
    );
    if (spare) honest.push(await spare);
    await stopProvider(10 + n);
    await stopProvider(2);
    assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
    assert.ok(faulted.includes(cheater), `the cheater is faulted (faulted: ${faulted.join(', ')})`);
    for (const h of honest) assert.ok(!faulted.includes(h), `honest ${h} never faulted`);
    const { final } = await client.trainingHistory(jobId);
    const got = decodeSafetensors(await client.downloadBlob(final as string));
    assert.ok(maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5, 'only honest updates were used');
  });
}

test('a worker killed (SIGKILL) mid-round has its task re-leased and the round completes', async () => {
  await stopProvider(0);
  await stopProvider(1);
  await connected(0);
  await startProvider(20);
  const victim = live.get(20) as NodeChild;
  const client = createClient({ url: c.url, account: randomAccount() });
  const j: Job = { workers: 2, rounds: 2, innerSteps: 4, seed: 'killed', rule: 'mean' };
  const { jobId, init, shards } = await submit(client, j, { taskTimeoutSec: 20 });
  const events: string[] = [];
  let killed = false;
  const job = await client.waitForJob(
    jobId,
    (e) => {
      events.push(e.type);
      if (e.type === 'task.assigned' && !killed) {
        // The only provider holds round 0's lease: kill it before it can answer.
        killed = true;
        victim.proc.kill('SIGKILL');
        live.delete(20);
        void startProvider(0).then(() => startProvider(1));
      }
    },
    AbortSignal.timeout(400_000),
  );
  assert.ok(killed, 'killed');
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  assert.ok(events.includes('task.retry'), `the lost task was retried (${[...new Set(events)].join(', ')})`);
  assert.ok(
    job.tasks.some((t) => (t.executions ?? 0) > 1),
    'a task ran more than once',
  );
  const { final } = await client.trainingHistory(jobId);
  const got = decodeSafetensors(await client.downloadBlob(final as string));
  assert.ok(
    maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5,
    'maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5',
  );
});

test('a coordinator stopped mid-job and restarted on the same store resumes the rounds', async () => {
  await startProvider(0);
  await startProvider(1);
  await connected(2);
  const port = Number(new URL(c.url).port);
  const account = randomAccount();
  let client = createClient({ url: c.url, account });
  const j: Job = { workers: 2, rounds: 4, innerSteps: 4, seed: 'restart', rule: 'mean' };
  const { jobId, init, shards } = await submit(client, j);
  const first = new AbortController();
  await client
    .waitForJob(
      jobId,
      (e) => {
        if (e.type === 'train.round') first.abort();
      },
      AbortSignal.any([first.signal, AbortSignal.timeout(300_000)]),
    )
    .catch(() => {});
  assert.ok(first.signal.aborted, 'round 0 closed before the restart');
  await c.stop();
  c = await startCoord(port);
  client = createClient({ url: c.url, account });
  const job = await client.waitForJob(jobId, undefined, AbortSignal.timeout(400_000));
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  const training = await client.trainingHistory(jobId);
  assert.deepEqual(
    training.history.map((r) => r.round),
    [0, 1, 2, 3],
  );
  const got = decodeSafetensors(await client.downloadBlob(training.final as string));
  assert.ok(
    maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5,
    'maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5',
  );
});

test("a coordinator that crashed between a round's last verdict and its close closes that round at restart (resumeTraining)", async () => {
  const port = Number(new URL(c.url).port);
  await c.stop();
  // The hook throws where a crash would stop the close: round 1's tasks are all accepted, the
  // round stays open, and nothing queues round 2.
  let crashedAt: string | undefined;
  c = await startCoord(port, (jobId, round) => {
    if (round === 1) {
      crashedAt = jobId;
      throw new Error('simulated crash before the round closed');
    }
  });
  await startProvider(0);
  await startProvider(1);
  await connected(2);
  const account = randomAccount();
  let client = createClient({ url: c.url, account });
  const j: Job = { workers: 2, rounds: 3, innerSteps: 4, seed: 'resume', rule: 'mean' };
  const { jobId, init, shards } = await submit(client, j);
  await waitUntil('round 1 ready to close', async () => crashedAt === jobId, 300_000);
  const open = await client.getJob(jobId);
  assert.deepEqual(
    open.tasks.filter((t) => t.index >= 2).map((t) => t.status),
    ['completed', 'completed'],
    'round 1 was accepted',
  );
  assert.equal(open.tasks.length, 4, 'round 2 was never queued');
  assert.equal((await client.trainingHistory(jobId)).roundsDone, 1, 'round 1 is still open');
  await c.stop();
  c = await startCoord(port);
  client = createClient({ url: c.url, account });
  const job = await client.waitForJob(jobId, undefined, AbortSignal.timeout(400_000));
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  const training = await client.trainingHistory(jobId);
  assert.deepEqual(
    training.history.map((r) => r.round),
    [0, 1, 2],
  );
  const got = decodeSafetensors(await client.downloadBlob(training.final as string));
  assert.ok(
    maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5,
    'maxAbsDiff(await localWeights(j, init, shards), got) <= 1e-5',
  );
});
