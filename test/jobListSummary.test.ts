/**
 * `GET /v1/jobs` lists summaries (security review s10 F2): a job may name 10,000 inputs (~670 KB
 * of spec), and the list returned each job's whole spec, so one unauthenticated request for 200
 * jobs made the coordinator parse and serialise tens of MB. The list now gives `inputCount` in
 * place of `inputs`; `GET /v1/jobs/:id` still shows the whole spec.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { MAX_INPUTS_PER_JOB } from '../src/protocol/constants.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
before(async () => {
  c = await testCoordinator({ canaryRate: 0 });
});
after(async () => {
  await c.cleanup();
});

test('the job list shows each spec without its inputs (a count instead); the job itself shows them all', async () => {
  const account = randomAccount();
  const sdk = createClient({ url: c.url, account });
  const model = (await sdk.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())))).cid;
  const input = (await sdk.uploadBlob(encodeSafetensors(ocrInput(5, 32, 32)))).cid;
  const { jobId } = await sdk.submitJob({
    kind: 'onnx.infer',
    model,
    inputs: Array(MAX_INPUTS_PER_JOB).fill(input),
    deadline: Math.floor(Date.now() / 1000) + 60,
    verification: { policy: 'none' },
    label: 'big',
  });
  const res = await fetch(`${c.url}/v1/jobs?limit=200`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.length < 16 * 1024, `a list of one 10,000-input job is small (${text.length} bytes)`);
  const listed = (JSON.parse(text) as { jobs: { id: string; spec: Record<string, unknown> }[] }).jobs.find(
    (j) => j.id === jobId,
  );
  assert.ok(listed, 'the job is listed');
  assert.equal(listed.spec.inputs, undefined, 'no inputs in the list view');
  assert.equal(listed.spec.inputCount, MAX_INPUTS_PER_JOB, 'their count instead');
  assert.equal(listed.spec.model, model, 'the rest of the spec stays');
  assert.equal(listed.spec.label, 'big');
  // The SDK's list goes through the same view.
  const { jobs } = await sdk.listJobs({ client: account.address });
  assert.equal(jobs[0]?.spec.inputCount, MAX_INPUTS_PER_JOB, 'the SDK sees the count');
  const job = await sdk.getJob(jobId);
  assert.equal(job.spec.inputs?.length, MAX_INPUTS_PER_JOB, 'GET /v1/jobs/:id shows every input');
});
