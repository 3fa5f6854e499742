/**
 * Verification wired into the live coordinator (docs/verification.md), with scripted providers on
 * raw WebSockets: redundant execution with float noise and a liar, the default adaptive audit
 * catching a wrong primary through an auditor and a tie-breaker, and a coordinator restart in the
 * middle of a verification. Faults, slash entries and reputation are read back from the store and
 * the API; the client only ever receives an output that honest providers agreed on.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import {
  ocrInput,
  ppocrDetectionModelPath,
  randomAccount,
  tempDir,
  testCoordinator,
} from './helpers/fixtures.ts';
import { connectRawProvider, firstOf, type RawProvider } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
let modelBytes: Uint8Array;

before(async () => {
  c = await testCoordinator();
  modelBytes = new Uint8Array(await readFile(ppocrDetectionModelPath()));
});
after(async () => {
  await c.cleanup();
});

const honest = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([0.5, 0.25, 0.125, 1]) },
});
/** The same output with float noise well inside the float32 tolerance. */
const noisy = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([0.5000001, 0.25, 0.1250001, 0.9999999]) },
});
const zeros = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array(4) },
});

async function submit(url: string, seed: number, verification?: Record<string, unknown>) {
  const client = createClient({ url, account: randomAccount() });
  const model = await client.uploadBlob(modelBytes);
  const input = await client.uploadBlob(encodeSafetensors(ocrInput(seed, 32, 32)));
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 60,
    ...(verification ? { verification } : {}),
  } as Parameters<typeof client.submitJob>[0]);
  return { client, jobId };
}

async function providerView(url: string, address: string) {
  const { providers } = await createClient({ url }).listProviders();
  const p = providers.find((x) => x.address === address.toLowerCase());
  assert.ok(p, `provider ${address} is listed`);
  return p as {
    reputation: { score: number; faults: number; consecutiveValid: number; trusted: boolean };
    auditRate: number;
  };
}

function ack(m: Record<string, unknown>) {
  assert.equal(m.accepted, true, `result accepted (${String(m.code)})`);
}

test('a job spec refuses k without the redundant policy', async () => {
  const client = createClient({ url: c.url, account: randomAccount() });
  const model = await client.uploadBlob(modelBytes);
  await assert.rejects(
    client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [model.cid],
      deadline: Math.floor(Date.now() / 1000) + 60,
      verification: { policy: 'audit', k: 3 },
    } as Parameters<typeof client.submitJob>[0]),
    /PLX_VALIDATION|k is only allowed/,
  );
});

test('redundant(3): float noise agrees, the liar is outvoted, faulted and slashed', async () => {
  const ps = await Promise.all([0, 1, 2].map(() => connectRawProvider(c.url, randomAccount())));
  const [p1, p2, liar] = ps as [RawProvider, RawProvider, RawProvider];
  try {
    const { client, jobId } = await submit(c.url, 1, { policy: 'redundant', k: 3 });
    const assigns = await Promise.all(ps.map((p) => p.next('assign')));
    assert.equal(new Set(assigns.map((a) => a.taskId)).size, 1, 'all three run the same task');
    ack(await p1.deliver(assigns[0]!, honest()));
    ack(await liar.deliver(assigns[2]!, zeros()));
    assert.equal((await client.getJob(jobId)).status, 'running', 'no verdict before the third result');
    ack(await p2.deliver(assigns[1]!, noisy()));
    const seen: string[] = [];
    const final = await client.waitForJob(jobId, (e) => seen.push(e.type));
    assert.equal(final.status, 'completed');
    const out = (await client.jobResults(jobId)).outputs[0]!;
    assert.ok(
      [p1.account.address.toLowerCase(), p2.account.address.toLowerCase()].includes(out.provider as string),
      'the accepted output comes from an agreeing provider',
    );
    assert.ok(seen.includes('task.verified') && seen.includes('provider.faulted'), seen.join(','));

    const db = c.store.db;
    const slashes = await db.selectFrom('slashes').selectAll().execute();
    const mine = slashes.filter((s) => s.provider === liar.account.address.toLowerCase());
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.amount, '20000000', 'F = min(stake, 20 × reward)');
    const fault = await db
      .selectFrom('verification_faults')
      .selectAll()
      .where('provider', '=', liar.account.address.toLowerCase())
      .executeTakeFirstOrThrow();
    const evidence = JSON.parse(fault.evidence) as { kind: string; agreeing: string[]; reasons: string[] };
    assert.equal(evidence.kind, 'outvoted');
    assert.deepEqual(
      [...evidence.agreeing].sort(),
      [p1.account.address.toLowerCase(), p2.account.address.toLowerCase()].sort(),
    );
    assert.ok(evidence.reasons.length > 0);

    const liarView = await providerView(c.url, liar.account.address);
    const goodView = await providerView(c.url, p1.account.address);
    assert.equal(liarView.reputation.faults, 1);
    assert.ok(liarView.reputation.score < 0.2, `liar score ${liarView.reputation.score}`);
    assert.equal(goodView.reputation.consecutiveValid, 1);
    assert.equal(goodView.reputation.faults, 0);
    assert.ok(liarView.auditRate > 0.8 && liarView.auditRate <= 1, `liar audit rate ${liarView.auditRate}`);
    assert.ok(goodView.auditRate < liarView.auditRate);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('default audit: a wrong primary is caught by the auditor and a tie-breaker', async () => {
  const ps = await Promise.all([0, 1, 2].map(() => connectRawProvider(c.url, randomAccount())));
  try {
    const { client, jobId } = await submit(c.url, 2);
    const primary = await firstOf(ps, 'assign');
    ack(await primary.provider.deliver(primary.msg, zeros()));
    // A newcomer is audited at rate 1: the task goes to a second provider.
    const auditor = await firstOf(
      ps.filter((p) => p !== primary.provider),
      'assign',
    );
    assert.equal(auditor.msg.taskId, primary.msg.taskId);
    ack(await auditor.provider.deliver(auditor.msg, honest()));
    // 1 against 1: a tie-breaker decides.
    const third = ps.find((p) => p !== primary.provider && p !== auditor.provider)!;
    const tie = await third.next('assign');
    assert.equal(tie.taskId, primary.msg.taskId);
    ack(await third.deliver(tie, noisy()));
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed');
    const out = (await client.jobResults(jobId)).outputs[0]!;
    assert.equal(out.provider, auditor.provider.account.address.toLowerCase());
    const view = await providerView(c.url, primary.provider.account.address);
    assert.equal(view.reputation.faults, 1);
    const events = await c.store.db
      .selectFrom('events')
      .select(['type', 'data'])
      .where('job_id', '=', jobId)
      .execute();
    const roles = events
      .filter((e) => e.type === 'task.assigned')
      .map((e) => (JSON.parse(e.data) as { role: string }).role);
    assert.deepEqual(roles, ['primary', 'auditor', 'tiebreaker']);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('a lone provider is not audited against itself: its job completes unverified', async () => {
  const p = await connectRawProvider(c.url, randomAccount());
  try {
    const { client, jobId } = await submit(c.url, 3);
    ack(await p.deliver(await p.next('assign'), honest()));
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed');
    const row = await c.store.db
      .selectFrom('task_verifications')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    assert.equal(row.status, 'accepted');
    assert.equal((JSON.parse(row.verdict!) as { verified: boolean }).verified, false);
  } finally {
    await p.close();
  }
});

test('a coordinator restart mid-verification loses nothing: the verdict uses results from before it', async () => {
  const { dir, cleanup } = await tempDir('plexus-verify-restart-');
  const log = createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' });
  const start = () => startCoordinator({ dataDir: dir, port: 0, sweepIntervalMs: 100 }, { log });
  let coord = await start();
  const a1 = randomAccount();
  const a2 = randomAccount();
  const p1 = await connectRawProvider(coord.url, a1);
  const p2 = await connectRawProvider(coord.url, a2);
  const others: RawProvider[] = [];
  try {
    const { jobId } = await submit(coord.url, 4, { policy: 'redundant', k: 2 });
    const [m1, m2] = await Promise.all([p1.next('assign'), p2.next('assign')]);
    ack(await p1.deliver(m1, honest()));
    await p1.close();
    await p2.close();
    await coord.stop();

    coord = await start();
    // p2 comes back still holding its lease and delivers a wrong output; p1 never returns.
    const p2b = await connectRawProvider(coord.url, a2, { inFlight: [m2.assignmentId as string] });
    others.push(p2b);
    ack(await p2b.deliver(m2, zeros()));
    const p3 = await connectRawProvider(coord.url, randomAccount());
    others.push(p3);
    const tie = await p3.next('assign');
    assert.equal(tie.taskId, m1.taskId);
    ack(await p3.deliver(tie, noisy()));
    const client = createClient({ url: coord.url });
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed');
    const out = (await client.jobResults(jobId)).outputs[0]!;
    assert.equal(out.provider, a1.address.toLowerCase(), 'the pre-restart result won the vote');
    const faulted = await coord.store.db.selectFrom('verification_faults').select('provider').execute();
    assert.deepEqual(
      faulted.map((f) => f.provider),
      [a2.address.toLowerCase()],
    );
  } finally {
    await Promise.all(others.map((p) => p.close()));
    await coord.stop();
    await cleanup();
  }
});
