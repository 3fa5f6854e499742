/**
 * The job loop across real OS processes on loopback: a coordinator and provider agents started
 * with the `plexus` command, real keys, real onnxruntime. These are the cases a network meets:
 * a provider that dies mid-task, a coordinator restarted mid-job, a provider drained by SIGTERM.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, type PlexusClient } from '../src/client/createClient.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD, startDevnet } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';

const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const silentPrint = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A client with its own key, plus a job of `n` heavier OCR tasks (each takes a second or more). */
async function submitHeavyJob(
  url: string,
  dir: string,
  n: number,
  taskTimeoutSec = 60,
): Promise<{ client: PlexusClient; jobId: string }> {
  const account = await loadOrCreateKeystore(join(dir, 'client.json'), 'pw', {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  const client = createClient({ url, account });
  const model = await client.uploadFile(ppocrDetectionModelPath());
  const inputs: string[] = [];
  for (let i = 0; i < n; i++)
    inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(i, 960, 640)))).cid);
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs,
    deadline: Math.floor(Date.now() / 1000) + 300,
    taskTimeoutSec,
    maxAttempts: 3,
  });
  return { client, jobId };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('devnet demo', () => {
  test('a PP-OCRv4 job runs on separate provider processes and matches a local run', async () => {
    const { dir, cleanup } = await tempDir();
    const net = await startDevnet({
      dataDir: dir,
      providers: 2,
      port: 0,
      print: silentPrint,
      logLevel: 'warn',
    });
    try {
      const s = await net.runDemo(4);
      assert.equal(s.status, 'completed');
      assert.equal(s.matched, 4, `outputs differ from a local run by up to ${s.maxAbsDiff}`);
      assert.equal(Object.keys(s.byProvider).length, 2, 'both providers took work');
      for (const share of s.textShare) assert.ok(share > 0.01, 'the detector found the drawn text');
    } finally {
      await net.stop();
      await cleanup();
    }
  });
});

describe('failures', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let port: number;
  let coordinator: NodeChild;
  const providers: NodeChild[] = [];
  let url: string;

  async function startCoordinatorProcess(): Promise<NodeChild> {
    const c = spawnPlexus(
      'coordinator',
      ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')],
      {
        env,
        print: silentPrint,
        showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40,
      },
    );
    url = (await c.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 60_000)).url;
    return c;
  }

  async function startProviderProcess(i: number): Promise<{ child: NodeChild; address: string }> {
    const pdir = join(dir, `provider-${i}`);
    await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const child = spawnPlexus(
      `provider-${i}`,
      ['provider', 'start', '--coordinator', url, '--data-dir', pdir],
      {
        env,
        print: silentPrint,
        showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40,
      },
    );
    const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 60_000);
    providers.push(child);
    return { child, address };
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    port = await freePort();
    coordinator = await startCoordinatorProcess();
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.stop(5000)));
    await coordinator.stop();
    await cleanup();
  });

  test('a provider killed mid-task: its task is retried on another provider and the job completes', async () => {
    const a = await startProviderProcess(1);
    const b = await startProviderProcess(2);
    const probe = createClient({ url });
    await waitUntil('two providers online', async () => (await probe.health()).providersOnline === 2);
    const { client, jobId } = await submitHeavyJob(url, dir, 4);
    // Wait until provider 1 holds a task, then kill it without warning.
    await waitUntil('provider 1 to be running a task', () => busy(a.address));
    a.child.proc.kill('SIGKILL');
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed', JSON.stringify(final.error));
    const results = await client.jobResults(jobId);
    assert.equal(results.outputs.length, 4);
    // A lease lost with its provider's session is not an attempt (docs/protocol.md: within the
    // allowance of 6); the retry shows as a second execution of the task.
    const retried = (final.tasks ?? []).filter((t) => (t.executions ?? 0) > 1);
    assert.ok(retried.length >= 1, 'the killed provider’s task was retried');
    for (const t of retried) assert.equal(t.provider, b.address, 'the retry ran on the surviving provider');
    await b.child.stop();
  });

  async function busy(address: string): Promise<boolean> {
    const { providers: list } = await createClient({ url }).listProviders();
    return list.some((p) => p.address === address && Number(p.active) > 0);
  }

  test('a coordinator killed mid-job and restarted: the job resumes and completes, nothing lost', async () => {
    const p = await startProviderProcess(3);
    const probe = createClient({ url });
    await waitUntil('provider online', async () => (await probe.health()).providersOnline >= 1);
    const { client, jobId } = await submitHeavyJob(url, dir, 3);
    await waitUntil(
      'the first task to complete',
      async () => ((await client.getJob(jobId)).tasksDone ?? 0) >= 1,
      120_000,
    );
    const before = await client.getJob(jobId);
    coordinator.proc.kill('SIGKILL');
    await coordinator.exited;
    silentPrint('coordinator killed; restarting');
    coordinator = await startCoordinatorProcess();
    silentPrint('coordinator restarted');
    const after = await client.getJob(jobId);
    assert.ok((after.tasksDone ?? 0) >= (before.tasksDone ?? 1), 'completed tasks survived the crash');
    silentPrint(`after restart: ${JSON.stringify(after.tasks)}`);
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed', JSON.stringify(final.error));
    assert.equal((await client.jobResults(jobId)).outputs.length, 3);
    assert.ok(p.child.proc.exitCode === null, 'the provider survived the coordinator outage and reconnected');
  });

  test('tiny inputs and outputs through the real agent: the job completes and its outputs came inside the signed results, not by upload', async () => {
    const probe = createClient({ url });
    // Run alone (--test-name-pattern), no earlier case has started one.
    if ((await probe.health()).providersOnline === 0) await startProviderProcess(9);
    await waitUntil('a provider online', async () => (await probe.health()).providersOnline >= 1);
    const account = await loadOrCreateKeystore(join(dir, 'tiny-client.json'), 'pw', {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const client = createClient({ url, account });
    const model = await client.uploadFile(ppocrDetectionModelPath());
    // 32×32 images: a 12 KiB input and a 4 KiB output, both under the 64 KiB inline limit.
    const inputs: string[] = [];
    for (let i = 0; i < 3; i++)
      inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(i, 32, 32)))).cid);
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs,
      deadline: Math.floor(Date.now() / 1000) + 300,
      taskTimeoutSec: 60,
      maxAttempts: 3,
    });
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed', JSON.stringify(final.error));
    const { outputs } = await client.jobResults(jobId);
    assert.equal(outputs.length, 3, 'every task has an output');
    const store = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
    try {
      for (const o of outputs) {
        const cid = o.output;
        const tensors = decodeSafetensors(await client.downloadBlob(cid));
        assert.ok(Object.keys(tensors).length > 0, 'the output is a tensor file');
        // Uploaded outputs are recorded under the uploader; one sent inside the result is not.
        const uploads = await store.db
          .selectFrom('blob_uploads')
          .select('account')
          .where('cid', '=', cid)
          .execute();
        assert.deepEqual(uploads, [], 'the output came inside the signed result, not by upload');
      }
    } finally {
      await store.close();
    }
  });

  test('SIGTERM drains a provider: the running task finishes and is reported before it exits', async () => {
    const p = providers[providers.length - 1]!;
    const address = (await createClient({ url }).listProviders()).providers.find((x) => x.connected)
      ?.address as string;
    const { client, jobId } = await submitHeavyJob(url, dir, 1);
    await waitUntil('the task to start', () => busy(address));
    const code = await p.stop(60_000);
    assert.equal(code, 0, 'the provider exited cleanly');
    const job = await client.getJob(jobId);
    assert.equal(job.tasksDone, 1, 'the task finished during the drain');
    assert.equal(job.tasks?.[0]?.attempts, 1, 'no retry was needed');
  });
});
