/**
 * A provider stays responsive while it trains (issue 21, docs/training.md): the agent runs a
 * `train.diloco` task's inner loop in its training worker process (src/runtimes/tfjs/
 * trainProcess.ts), so its own event loop — which answers the coordinator's WebSocket pings,
 * challenges and lease messages — is never blocked for the length of a task. The agent runs in
 * this process here, so this process's event-loop delay is the agent's: it is measured over a long
 * inner loop (one worker, H = 300 steps of a 784 → 64 → 10 MLP) and must stay a small fraction of
 * the task's time (with the loop on the agent's thread it would be the whole task). The result must
 * still equal the same DiLoCo round computed in this process.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { type Coordinator, startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { adamWSchema } from '../src/protocol/training.ts';
import { type Provider, startProvider } from '../src/provider/agent/startProvider.ts';
import { buildModel, initialWeights, shardTensors } from '../src/runtimes/tfjs/layersModel.ts';
import { runLocalDiloco } from '../src/runtimes/tfjs/localDiloco.ts';
import { loadMnist, mnistTopology } from '../src/runtimes/tfjs/mnistExample.ts';
import { randomAccount, tempDir } from './helpers/fixtures.ts';

const level = process.env.PLEXUS_TEST_LOG ?? 'silent';
let dir: string;
let cleanupDir: () => Promise<void>;
let c: Coordinator;
let agent: Provider;

before(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('plexus-trainresp-'));
  c = await startCoordinator(
    { dataDir: join(dir, 'coordinator'), port: 0, sweepIntervalMs: 100, canaryRate: 0 },
    { log: createLogger('test-coordinator', { level }) },
  );
  agent = await startProvider({
    coordinatorUrl: c.url,
    account: randomAccount(),
    dataDir: join(dir, 'provider'),
    log: createLogger('test-provider', { level }),
    prefetch: 0,
  });
  await agent.ready;
});

after(async () => {
  await agent?.close();
  await c?.stop();
  await cleanupDir?.();
});

test('the agent answers on its event loop during a long inner loop, and the result equals the local run', async () => {
  const topology = await mnistTopology(64);
  const model = await buildModel(topology);
  const init = initialWeights(model, 7);
  model.dispose();
  const { train } = loadMnist({ trainSize: 1000, testSize: 100 });
  const innerOptimizer = adamWSchema.parse({ lr: 3e-3 });
  const hyper = { workers: 1, rounds: 1, innerSteps: 300, batchSize: 32, seed: 'responsive' };
  const client = createClient({ url: c.url, account: randomAccount() });
  const up = async (b: Uint8Array) => (await client.uploadBlob(b)).cid;
  const { jobId } = await client.submitJob({
    kind: 'train.diloco',
    model: await up(Buffer.from(topology)),
    weights: await up(encodeSafetensors(init)),
    shards: [await up(encodeSafetensors(shardTensors(train.x, train.xShape, train.y)))],
    ...hyper,
    innerOptimizer,
    aggregation: { rule: 'mean' },
    verification: { policy: 'none' },
    deadline: Math.floor(Date.now() / 1000) + 900,
    taskTimeoutSec: 600,
  });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let assignedAt = 0;
  let doneAt = 0;
  const job = await client.waitForJob(
    jobId,
    (e) => {
      if (e.type === 'task.assigned' && assignedAt === 0) {
        assignedAt = performance.now();
        delay.enable();
      }
      if ((e.type === 'task.completed' || e.type === 'train.round') && doneAt === 0) {
        doneAt = performance.now();
        delay.disable();
      }
    },
    AbortSignal.timeout(600_000),
  );
  delay.disable();
  assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 500));
  assert.ok(assignedAt > 0 && doneAt > assignedAt, 'the task was assigned, then finished');
  const taskMs = doneAt - assignedAt;
  const maxDelayMs = delay.max / 1e6;
  console.error(
    `task ${taskMs.toFixed(0)} ms; agent event loop: max delay ${maxDelayMs.toFixed(0)} ms, mean ${(delay.mean / 1e6).toFixed(1)} ms`,
  );
  assert.ok(taskMs > 1000, `the inner loop was long (${taskMs.toFixed(0)} ms)`);
  assert.ok(
    maxDelayMs < taskMs / 4,
    `the event loop was never blocked for long (max ${maxDelayMs.toFixed(0)} ms of a ${taskMs.toFixed(0)} ms task)`,
  );
  assert.equal(agent.stats().connected, true, 'the agent is still connected');
  // Downloaded first: the local run below blocks this process (coordinator included) while it trains.
  const { final } = await client.trainingHistory(jobId);
  const got = decodeSafetensors(await client.downloadBlob(final as string));
  const local = await runLocalDiloco({
    topology,
    initial: init,
    shards: [train],
    ...hyper,
    innerOptimizer,
    outerOptimizer: { lr: 0.7, momentum: 0.9 },
    aggregation: { rule: 'mean', trimFraction: 0.25, clipIterations: 3 },
  });
  for (const [k, t] of Object.entries(local.weights)) {
    const u = got[k]?.data;
    assert.ok(u, `weight ${k}`);
    for (let i = 0; i < t.data.length; i++)
      assert.ok(Math.abs((t.data[i] as number) - (u[i] as number)) <= 1e-5, `${k}[${i}]`);
  }
});
