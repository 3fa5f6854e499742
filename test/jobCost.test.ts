/**
 * Issue 22: what a job cost, and attempts that do not count replicas and audits. A live
 * coordinator with scripted providers on raw WebSockets runs one task with `redundant:2`; one
 * replica fails and is replaced. `GET /v1/jobs/:id` must then say 2 attempts (the failed one and
 * the one that produced the output) and 3 executions, and a cost equal to the ledger's charges for
 * the job, per task and in total; the job list carries the same cost. While the task is open its
 * executions are not shown (who runs what is secret until the verdict).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { accounts } from '../src/coordinator/ledger/accounts.ts';
import { readBalances } from '../src/coordinator/ledger/readBalances.ts';
import { JOB_LIST_READ } from '../src/protocol/jobRead.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { fetchAsClient } from './helpers/jobRead.ts';
import { leaseTask } from './helpers/leaseTask.ts';
import { connectRawProvider, firstOf } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;

before(async () => {
  c = await testCoordinator({ canaryRate: 0 });
});
after(async () => {
  await c.cleanup();
});

const output = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([0.5, 0.25, 0.125, 1]) },
});

test('job cost equals the ledger; attempts never count replicas; executions shown after the verdict', async () => {
  const ps = await Promise.all([0, 1, 2].map(() => connectRawProvider(c.url, randomAccount())));
  try {
    const account = randomAccount();
    const client = createClient({ url: c.url, account });
    const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    const input = await client.uploadBlob(encodeSafetensors(ocrInput(7, 32, 32)));
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [input.cid],
      deadline: Math.floor(Date.now() / 1000) + 120,
      verification: { policy: 'redundant', k: 2 },
    });
    const a = await firstOf(ps, 'assign');
    const others = ps.filter((p) => p !== a.provider);
    const b = await firstOf(others, 'assign');

    const open = (await client.getJob(jobId)).tasks[0]!;
    assert.equal(open.attempts, 1, 'two replicas running are one attempt');
    assert.equal(open.executions, null, 'executions of an open task are secret');
    assert.equal(open.cost, '0');

    // One replica fails: the task gets a replacement replica on the third provider.
    await a.provider.fail(a.msg, 'PLX_RUNTIME_FAILED', 'out of memory');
    const third = others.find((p) => p !== b.provider)!;
    await b.provider.deliver(b.msg, output());
    const replacement = await third.next('assign', 60_000);
    assert.equal(
      (await leaseTask(c.store.db, replacement)).taskId,
      (await leaseTask(c.store.db, a.msg)).taskId,
    );
    assert.notEqual(replacement.assignmentId, a.msg.assignmentId);
    await third.deliver(replacement, output());
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed');

    const t = final.tasks[0]!;
    assert.equal(t.attempts, 2, 'the failed try and the one that produced the output');
    assert.equal(t.executions, 3, 'two replicas and the failed one');

    const ledger = await readBalances(c.store.db, {
      jobId,
      kind: 'charge',
      account: accounts.clientUnsettled(account.address),
    });
    const charged = ledger.get(accounts.clientUnsettled(account.address)) ?? 0n;
    assert.ok(charged > 0n, 'the two agreeing replicas were billed');
    assert.equal(final.cost?.charged, charged.toString(), 'job cost = the ledger, to the base unit');
    assert.equal(t.cost, charged.toString(), 'its only task carries the whole cost');
    const row = await c.store.db
      .selectFrom('jobs')
      .select('worst_case')
      .where('id', '=', jobId)
      .executeTakeFirstOrThrow();
    assert.equal(final.cost?.worstCase, row.worst_case);

    const { jobs } = await client.listJobs({ client: account.address });
    assert.deepEqual(jobs.find((j) => j.id === jobId)?.cost, final.cost, 'the list shows the same cost');
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('the job list pages back with a before cursor (explorer pagination)', async () => {
  const account = randomAccount();
  const sdk = createClient({ url: c.url, account });
  const model = await sdk.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const ids: string[] = [];
  for (const seed of [11, 12, 13]) {
    const input = await sdk.uploadBlob(encodeSafetensors(ocrInput(seed, 32, 32)));
    const { jobId } = await sdk.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [input.cid],
      deadline: Math.floor(Date.now() / 1000) + 120,
    });
    ids.push(jobId);
  }
  const seen: string[] = [];
  let before = '';
  for (let page = 0; page < 5; page++) {
    // A client's own list is signed (JobRead of the zero id): whose jobs these are is its own.
    const res = await fetchAsClient(
      c.url,
      `/v1/jobs?client=${account.address}&limit=2${before ? `&before=${before}` : ''}`,
      account,
      JOB_LIST_READ,
    );
    const { jobs } = (await res.json()) as { jobs: { id: string; createdAt: number }[] };
    if (jobs.length === 0) break;
    seen.push(...jobs.map((j) => j.id));
    const last = jobs[jobs.length - 1]!;
    before = `${last.createdAt}:${last.id}`;
  }
  assert.deepEqual(seen, [...ids].reverse(), 'every job once, newest first, across pages of 2');
  const unsigned = await fetch(`${c.url}/v1/jobs?client=${account.address}`);
  assert.equal(unsigned.status, 401, "an unsigned client filter is refused (it would name a client's jobs)");
  await unsigned.arrayBuffer();
  const bad = await fetch(`${c.url}/v1/jobs?before=yesterday`);
  assert.equal(bad.status, 400);
});
