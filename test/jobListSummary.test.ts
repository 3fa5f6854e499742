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
  // The public list shows the public part only (no count either: a one-task canary shadow job
  // would stand out among counted ones; docs/verification.md "Who sees a job's tasks").
  assert.equal(listed.spec.inputCount, undefined, 'no count in the public list');
  assert.equal(listed.spec.model, model, 'the public part of the spec stays');
  // The client's own (signed) list: the summary, the count in place of the inputs.
  const { jobs } = await sdk.listJobs({ client: account.address });
  assert.equal(jobs[0]?.spec.inputs, undefined, "no inputs in the client's list view either");
  assert.equal(jobs[0]?.spec.inputCount, MAX_INPUTS_PER_JOB, 'the SDK sees the count');
  assert.equal(jobs[0]?.spec.label, 'big', 'the rest of the spec stays');
  const job = await sdk.getJob(jobId);
  assert.equal(job.spec.inputs?.length, MAX_INPUTS_PER_JOB, 'GET /v1/jobs/:id shows every input');
});
