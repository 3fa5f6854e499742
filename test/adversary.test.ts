/**
 * The adversary harness against the live coordinator: real provider processes started with
 * `plexus provider start`, three honest, one `--behaviour always-wrong` and one
 * `--behaviour lazy-zeros`, run a job under the default adaptive audit. Every dishonest execution is
 * caught (faulted with evidence, slash entry, reputation down), no honest provider is ever
 * faulted, and the client receives only outputs that honest providers agreed on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { createLogger } from '../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { loadOrCreateKeystore } from '../src/provider/keystore/loadOrCreateKeystore.ts';
import {
  ocrInput,
  ppocrDetectionModelPath,
  randomAccount,
  tempDir,
  testCoordinator,
} from './helpers/fixtures.ts';

const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const silentPrint = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

let c: Awaited<ReturnType<typeof testCoordinator>>;
let dir: string;
let cleanup: () => Promise<void>;
const children: NodeChild[] = [];

async function startProviderProcess(name: string, behaviour: string): Promise<string> {
  const pdir = join(dir, name);
  await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  const child = spawnPlexus(
    name,
    ['provider', 'start', '--coordinator', c.url, '--data-dir', pdir, '--behaviour', behaviour],
    { env, print: silentPrint, showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40 },
  );
  children.push(child);
  const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 60_000);
  return address.toLowerCase();
}

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-adversary-'));
  c = await testCoordinator();
});
after(async () => {
  await Promise.all(children.map((p) => p.stop(5000)));
  await c.cleanup();
  await cleanup();
});

test('always-wrong and lazy-zeros providers are caught; honest providers never are', async () => {
  const [h1, h2, h3, wrong, lazy] = await Promise.all([
    startProviderProcess('honest-1', 'honest'),
    startProviderProcess('honest-2', 'honest'),
    startProviderProcess('honest-3', 'honest'),
    startProviderProcess('always-wrong', 'always-wrong'),
    startProviderProcess('lazy-zeros', 'lazy-zeros'),
  ]);
  const honest = new Set([h1!, h2!, h3!]);
  const cheaters = [wrong!, lazy!];
  const client = createClient({ url: c.url, account: randomAccount() });
  const deadline = Date.now() + 60_000;
  while ((await client.health()).providersOnline < 5) {
    if (Date.now() > deadline) throw new Error('providers did not come online');
    await new Promise((r) => setTimeout(r, 100));
  }

  const model = await client.uploadFile(ppocrDetectionModelPath());
  const inputs: string[] = [];
  for (let i = 0; i < 10; i++)
    inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(i, 160, 64)))).cid);
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs,
    deadline: Math.floor(Date.now() / 1000) + 100,
    taskTimeoutSec: 30,
  });
  const seen: string[] = [];
  const final = await client.waitForJob(jobId, (e) => seen.push(e.type));
  assert.equal(final.status, 'completed');

  const db = c.store.db;
  // Every delivered output was agreed on by honest providers.
  const results = await client.jobResults(jobId);
  for (const out of results.outputs) {
    assert.ok(honest.has(out.provider as string), `task ${out.index} output from ${out.provider}`);
    const t = await db
      .selectFrom('tasks')
      .select('id')
      .where('job_id', '=', jobId)
      .where('idx', '=', out.index as number)
      .executeTakeFirstOrThrow();
    const honestCids = (
      await db
        .selectFrom('task_executions')
        .select(['provider', 'output_cid'])
        .where('task_id', '=', t.id)
        .execute()
    )
      .filter((e) => honest.has(e.provider))
      .map((e) => e.output_cid);
    // Honest providers on one machine compute identical bytes: the delivered output is theirs.
    assert.ok(honestCids.includes(out.output as string), `task ${out.index}: output is an honest provider's`);
    const bytes = await client.downloadBlob(out.output as string);
    const y = Object.values(decodeSafetensors(bytes))[0]!;
    assert.ok(
      (y.data as Float32Array).some((v) => Math.abs(v) > 0.1),
      'the input has text, so the honest output is clearly not zeros (lazy-zeros must be detectable)',
    );
  }
  for (const cheater of cheaters) {
    const execs = await db
      .selectFrom('task_executions')
      .select('task_id')
      .where('provider', '=', cheater)
      .execute();
    const faults = await db
      .selectFrom('verification_faults')
      .selectAll()
      .where('provider', '=', cheater)
      .execute();
    const slashes = await db.selectFrom('slashes').selectAll().where('provider', '=', cheater).execute();
    assert.ok(execs.length >= 1, `${cheater} took work`);
    assert.equal(faults.length, execs.length, 'every dishonest execution was caught');
    assert.equal(slashes.length, faults.length, 'each fault has a slash entry');
    for (const f of faults) {
      const ev = JSON.parse(f.evidence) as { agreeing: string[] };
      assert.ok(
        ev.agreeing.length >= 2 && ev.agreeing.every((a) => honest.has(a)),
        'honest providers outvoted it',
      );
    }
  }
  const honestFaults = await db
    .selectFrom('verification_faults')
    .select('provider')
    .where('provider', 'in', [...honest])
    .execute();
  assert.deepEqual(honestFaults, [], 'no honest provider was faulted');
  assert.ok(seen.includes('provider.faulted') && seen.includes('task.verified'));

  const { providers } = await client.listProviders();
  const view = (a: string) =>
    providers.find((p) => p.address === a) as { reputation: { score: number; faults: number } };
  for (const cheater of cheaters) {
    assert.ok(view(cheater).reputation.faults >= 1);
    assert.ok(view(cheater).reputation.score < 0.5, `${cheater} score ${view(cheater).reputation.score}`);
  }
  for (const h of honest) assert.equal(view(h).reputation.faults, 0);
});
