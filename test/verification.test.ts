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
import { type Coordinator, startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import {
  ocrInput,
  ppocrDetectionModelPath,
  randomAccount,
  tempDir,
  testCoordinator,
} from './helpers/fixtures.ts';
import { fetchAsClient } from './helpers/jobRead.ts';
import { leaseTask } from './helpers/leaseTask.ts';
import { connectRawProvider, firstOf, type RawProvider } from './helpers/rawProvider.ts';
import { trustProvider } from './helpers/trustedProvider.ts';

/** The task an assignment is for, by the coordinator's mapping (an assign names none: protocol v3). */
const taskOf = async (db: Parameters<typeof leaseTask>[0], m: Record<string, unknown>) =>
  (await leaseTask(db, m)).taskId;

let c: Awaited<ReturnType<typeof testCoordinator>>;
let modelBytes: Uint8Array;

before(async () => {
  // No canaries here: these tests script each assignment, and a canary drawn for a slot (2 % by
  // default, once earlier tests have seeded the pool) takes the assignment a test waits for. That made
  // three of them fail now and then (at canaryRate 1 they fail every time). Canaries have their own
  // test below, on a coordinator of their own.
  c = await testCoordinator({ canaryRate: 0 });
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
  const account = randomAccount();
  const client = createClient({ url, account });
  const model = await client.uploadBlob(modelBytes);
  const input = await client.uploadBlob(encodeSafetensors(ocrInput(seed, 32, 32)));
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 60,
    ...(verification ? { verification } : {}),
  } as Parameters<typeof client.submitJob>[0]);
  return { client, jobId, account };
}

/**
 * A provider's record as the coordinator keeps it: its stored reputation and the audit rate it
 * gives. (`GET /v1/providers` shows the reputation the current epoch began with, so that no
 * verified outcome of an open epoch — a passed canary — shows at once: publicReputation.ts.)
 */
async function providerView(coord: Pick<Coordinator, 'store' | 'loop'>, address: string) {
  const row = await coord.store.db
    .selectFrom('providers')
    .select('reputation')
    .where('address', '=', address.toLowerCase())
    .executeTakeFirst();
  assert.ok(row, `provider ${address} is known`);
  return coord.loop.verificationView(address, row.reputation);
}

/**
 * A fresh account whose record is past the trust bar, written to `db` before it first connects
 * (the coordinator keeps a stored reputation on connect) — a genesis operator. An untrusted head
 * count faults nobody (no ground truth), so a lie is caught where a trusted provider takes part.
 */
async function trustedAccount(db: typeof c.store.db) {
  const account = randomAccount();
  await trustProvider(db, account.address);
  return account;
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
  // p1 is trusted: the round has ground truth (an untrusted 2-of-3 head count faults nobody).
  const veteran = await trustedAccount(c.store.db);
  const ps = await Promise.all(
    [veteran, randomAccount(), randomAccount()].map((a) => connectRawProvider(c.url, a)),
  );
  const [p1, p2, liar] = ps as [RawProvider, RawProvider, RawProvider];
  try {
    const { client, jobId } = await submit(c.url, 1, { policy: 'redundant', k: 3 });
    const assigns = await Promise.all(ps.map((p) => p.next('assign')));
    assert.equal(
      new Set(await Promise.all(assigns.map((a) => taskOf(c.store.db, a)))).size,
      1,
      'all three run the same task',
    );
    assert.equal(new Set(assigns.map((a) => a.assignmentId)).size, 3, 'each under an id of its own');
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
    const locks = db.selectFrom('stake_locks').selectAll();
    const [lock] = await locks.where('provider', '=', mine[0]!.provider).execute();
    // The first task of a job locks its worst case; the slash is k × what the task really cost
    // (its agreeing executions' billed size), at most the lock.
    assert.equal(lock?.status, 'slashed');
    assert.ok(
      BigInt(mine[0]!.amount) > 0n && BigInt(mine[0]!.amount) <= BigInt(lock!.amount),
      'BigInt(mine[0]!.amount) > 0n && BigInt(mine[0]!.amount) <= BigInt(lock!.amount)',
    );
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
    assert.ok(evidence.reasons.length > 0, 'evidence.reasons.length > 0');

    const liarView = await providerView(c, liar.account.address);
    const goodView = await providerView(c, p2.account.address);
    assert.equal(liarView.reputation.faults, 1);
    assert.ok(liarView.reputation.score < 0.2, `liar score ${liarView.reputation.score}`);
    // p2 agreed with an already trusted provider: a checked valid result, one step towards trust.
    assert.equal(goodView.reputation.verifiedValid, 1);
    assert.equal(goodView.reputation.consecutiveValid, 1);
    assert.equal(goodView.reputation.faults, 0);
    assert.ok(
      goodView.reputation.score > liarView.reputation.score,
      'goodView.reputation.score > liarView.reputation.score',
    );
    assert.ok(liarView.auditRate > 0.8 && liarView.auditRate <= 1, `liar audit rate ${liarView.auditRate}`);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('default audit: a wrong primary is caught by the auditor and a tie-breaker', async () => {
  // A newcomer takes the task; two trusted providers (the auditor and tie-breaker are drawn from
  // them) come online before it commits, so its audit is drawn with them online.
  const ps = [await connectRawProvider(c.url, randomAccount())];
  try {
    const { client, jobId } = await submit(c.url, 2);
    const primary = await firstOf(ps, 'assign');
    for (let i = 0; i < 2; i++) ps.push(await connectRawProvider(c.url, await trustedAccount(c.store.db)));
    ack(await primary.provider.deliver(primary.msg, zeros()));
    // A newcomer is audited at rate 1: the task goes to a second provider.
    const auditor = await firstOf(
      ps.filter((p) => p !== primary.provider),
      'assign',
    );
    assert.equal(await taskOf(c.store.db, auditor.msg), await taskOf(c.store.db, primary.msg));
    ack(await auditor.provider.deliver(auditor.msg, honest()));
    // 1 against 1: a tie-breaker decides.
    const third = ps.find((p) => p !== primary.provider && p !== auditor.provider)!;
    const tie = await third.next('assign');
    assert.equal(await taskOf(c.store.db, tie), await taskOf(c.store.db, primary.msg));
    ack(await third.deliver(tie, noisy()));
    const final = await client.waitForJob(jobId);
    assert.equal(final.status, 'completed');
    const out = (await client.jobResults(jobId)).outputs[0]!;
    assert.equal(out.provider, auditor.provider.account.address.toLowerCase());
    const view = await providerView(c, primary.provider.account.address);
    assert.equal(view.reputation.faults, 1);
    const events = await c.store.db
      .selectFrom('events')
      .select(['type', 'data'])
      .where('job_id', '=', jobId)
      .execute();
    // The roles are in the verdict; the public task.assigned events carry neither role nor provider,
    // and only the primary's lease has one (the auditor and tie-breaker were secret until the verdict).
    const assigned = events
      .filter((e) => e.type === 'task.assigned')
      .map((e) => JSON.parse(e.data) as object);
    assert.equal(assigned.length, 1);
    for (const e of assigned) assert.ok(!('role' in e) && !('provider' in e), JSON.stringify(e));
    const verdictRow = await c.store.db
      .selectFrom('task_verifications')
      .select('verdict')
      .where('task_id', '=', await taskOf(c.store.db, primary.msg))
      .executeTakeFirstOrThrow();
    const roles = (JSON.parse(verdictRow.verdict!) as { outcomes: { role: string }[] }).outcomes.map(
      (o) => o.role,
    );
    assert.deepEqual(roles, ['primary', 'auditor', 'tiebreaker']);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('nothing about an open task leaks: no audit flag, roles, executions or co-executors before the verdict', async () => {
  const ps = await Promise.all([0, 1].map(() => connectRawProvider(c.url, randomAccount())));
  try {
    const stats = async () =>
      ((await (await fetch(`${c.url}/v1/stats`)).json()) as { verification: { audited: number } })
        .verification.audited;
    const auditedBefore = await stats();
    const { client, jobId, account } = await submit(c.url, 11);
    // The job's client reads its task views (signed); nobody else reads them at all.
    const asClient = async (path: string) => (await fetchAsClient(c.url, path, account, jobId)).json();
    const primary = await firstOf(ps, 'assign');
    const opening = await primary.provider.commit(primary.msg, honest());
    // The audit is drawn by now (a newcomer's rate is 1), and the primary may reveal.
    assert.equal((await primary.provider.next('reveal')).assignmentId, primary.msg.assignmentId);
    assert.equal((await fetch(`${c.url}/v1/jobs/${jobId}/verification`)).status, 401, 'unsigned: refused');
    const view = (await asClient(`/v1/jobs/${jobId}/verification`)) as {
      tasks: { audit: boolean; status: string; executions: unknown[] }[];
    };
    assert.equal(view.tasks[0]?.status, 'open');
    assert.equal(view.tasks[0]?.audit, false, 'the audit draw is not shown before the verdict');
    assert.deepEqual(view.tasks[0]?.executions, [], 'no executions, roles or co-executors while open');
    const open = (await asClient(`/v1/jobs/${jobId}/assignments`)) as { assignments: [] };
    assert.deepEqual(open.assignments, [], 'nobody is named on an open task');
    assert.equal(await stats(), auditedBefore, 'the audited count moves only with verdicts');
    const history = await fetch(`${c.url}/v1/providers/${primary.provider.account.address}/history`);
    const { assignments } = (await history.json()) as { assignments: unknown[] };
    assert.deepEqual(assignments, [], "an open task is not in its provider's history either");

    ack(await primary.provider.deliver(primary.msg, honest(), opening));
    const auditor = await firstOf(
      ps.filter((p) => p !== primary.provider),
      'assign',
    );
    ack(await auditor.provider.deliver(auditor.msg, noisy()));
    assert.equal((await client.waitForJob(jobId)).status, 'completed');
    const done = (await asClient(`/v1/jobs/${jobId}/verification`)) as {
      tasks: { audit: boolean; executions: { role: string }[] }[];
    };
    assert.equal(done.tasks[0]?.audit, true, 'after the verdict the draw is shown (to the client)');
    assert.deepEqual(
      done.tasks[0]?.executions.map((e) => e.role),
      ['primary', 'auditor'],
    );
    const after = (await asClient(`/v1/jobs/${jobId}/assignments`)) as {
      assignments: [];
    };
    assert.equal(after.assignments.length, 2);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('a failure after a signed commitment is a proven fault with the commitment as evidence, not a timeout', async () => {
  const ps = await Promise.all([0, 1].map(() => connectRawProvider(c.url, randomAccount())));
  try {
    const { client, jobId } = await submit(c.url, 12);
    const primary = await firstOf(ps, 'assign');
    await primary.provider.commit(primary.msg, zeros());
    await primary.provider.next('reveal');
    // An audit-aware cheater bails out instead of revealing.
    await primary.provider.fail(primary.msg, 'PLX_RUNTIME_FAILED', 'changed my mind');
    const other = ps.find((p) => p !== primary.provider)!;
    const retry = await other.next('assign', 30_000);
    assert.equal(await taskOf(c.store.db, retry), await taskOf(c.store.db, primary.msg));
    ack(await other.deliver(retry, honest()));
    assert.equal((await client.waitForJob(jobId)).status, 'completed');
    const db = c.store.db;
    const me = primary.provider.account.address.toLowerCase();
    const faults = await db
      .selectFrom('verification_faults')
      .selectAll()
      .where('provider', '=', me)
      .execute();
    assert.deepEqual(
      faults.map((f) => f.kind),
      ['bad-reveal'],
    );
    const signed = await db.selectFrom('task_commitments').selectAll().execute();
    const mine = signed.find((x) => x.assignment_id === primary.msg.assignmentId)!;
    assert.match(faults[0]!.evidence, new RegExp(mine.commitment), 'the signed commitment is the evidence');
    assert.equal((await db.selectFrom('slashes').selectAll().where('provider', '=', me).execute()).length, 1);
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
    const { jobId, account } = await submit(coord.url, 4, { policy: 'redundant', k: 2 });
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
    // A trusted tie-breaker (an untrusted one would leave a head count without ground truth).
    const p3 = await connectRawProvider(coord.url, await trustedAccount(coord.store.db));
    others.push(p3);
    const tie = await p3.next('assign');
    assert.equal(await taskOf(coord.store.db, tie), await taskOf(coord.store.db, m1));
    ack(await p3.deliver(tie, noisy()));
    const client = createClient({ url: coord.url, account });
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

test('signed commit–reveal: reveals open only when the round committed, and only the own commitment', async () => {
  const ps = await Promise.all([0, 1].map(() => connectRawProvider(c.url, randomAccount())));
  const [p1, p2] = ps as [RawProvider, RawProvider];
  try {
    const { client, jobId } = await submit(c.url, 5, { policy: 'redundant', k: 2 });
    const [m1, m2] = await Promise.all([p1.next('assign'), p2.next('assign')]);
    const o1 = await p1.commit(m1, honest());
    const early = await p1.deliver(m1, honest(), o1);
    assert.equal(early.code, 'PLX_VERIFICATION_REVEAL_TOO_EARLY', 'no reveal before the round committed');
    assert.equal(p1.take('reveal'), undefined);
    const o2 = await p2.commit(m2, noisy());
    assert.equal((await p1.next('reveal')).assignmentId, m1.assignmentId);
    assert.equal((await p2.next('reveal')).assignmentId, m2.assignmentId);
    const wrongSalt = await p1.deliver(m1, honest(), { ...o1, salt: o2.salt });
    assert.equal(wrongSalt.code, 'PLX_REVEAL_MISMATCH');
    const otherOutput = await p2.deliver(m2, honest(), o1);
    assert.equal(otherOutput.code, 'PLX_REVEAL_MISMATCH', "another provider's opening does not open mine");
    const unopened = await p2.deliver(m2, noisy());
    assert.equal(unopened.code, 'PLX_REVEAL_MISMATCH', 'a committed execution must reveal');
    ack(await p1.deliver(m1, honest(), o1));
    ack(await p2.deliver(m2, noisy(), o2));
    assert.equal((await client.waitForJob(jobId)).status, 'completed');
    const commits = await c.store.db
      .selectFrom('task_commitments')
      .select(['provider', 'signature'])
      .where('task_id', '=', await taskOf(c.store.db, m1))
      .execute();
    assert.equal(commits.length, 2);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});

test('canaries: seeded from a verified task, issued alongside real work, a wrong answer is a fault, never billed, kept over a restart', async () => {
  const { dir, cleanup } = await tempDir('plexus-canary-');
  const log = createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' });
  const start = () =>
    startCoordinator({ dataDir: dir, port: 0, sweepIntervalMs: 100, canaryRate: 1 }, { log });
  let coord = await start();
  const open: RawProvider[] = [];
  try {
    // Canaries are seeded only from verdicts an already trusted provider agreed with: p1 is
    // trusted (its record written to the store before it connects again).
    const veteran = randomAccount();
    await (await connectRawProvider(coord.url, veteran)).close();
    await coord.store.db
      .updateTable('providers')
      .set({
        reputation: JSON.stringify({
          alpha: 40,
          beta: 1,
          consecutiveValid: 20,
          verifiedValid: 20,
          faults: 0,
          timeouts: 0,
          updatedAt: Date.now(),
        }),
      })
      .where('address', '=', veteran.address.toLowerCase())
      .execute();
    const [p1, p2] = await Promise.all(
      [veteran, randomAccount()].map((a) => connectRawProvider(coord.url, a)),
    );
    open.push(p1!, p2!);
    const seeded = await submit(coord.url, 6, { policy: 'redundant', k: 2 });
    const [m1, m2] = await Promise.all([p1!.next('assign'), p2!.next('assign')]);
    ack(await p1!.deliver(m1, honest()));
    ack(await p2!.deliver(m2, noisy()));
    assert.equal((await seeded.client.waitForJob(seeded.jobId)).status, 'completed');
    const pool = await coord.store.db.selectFrom('canary_tasks').selectAll().execute();
    assert.equal(pool.length, 1, 'the verified task became a canary');
    await Promise.all([p1!.close(), p2!.close()]);

    // A newcomer takes a real task and, at rate 1, a canary with it; it answers the canary wrong.
    const p3 = await connectRawProvider(coord.url, randomAccount());
    open.push(p3);
    const job = await submit(coord.url, 7);
    // The slot goes to the canary first (rate 1); the real task waits for the slot to free.
    const canary = await p3.next('assign');
    const issued = await coord.store.db
      .selectFrom('canary_assignments')
      .selectAll()
      .executeTakeFirstOrThrow();
    assert.equal(canary.assignmentId, issued.id);
    assert.equal('jobId' in canary, false, 'it carries no job id (protocol v3), like any assignment');
    const canaryTask = await leaseTask(coord.store.db, canary);
    assert.notEqual(canaryTask.jobId, seeded.jobId, 'it runs under a shadow job, not its source job');
    assert.equal(canary.input, pool[0]!.input_cid);
    const opening = await p3.commit(canary, zeros());
    await p3.next('reveal');
    ack(await p3.deliver(canary, zeros(), opening));
    // Caught on its first canary with no record: suspended, it takes no more work. The veteran
    // comes back and takes the real task (it executed the canary's source, so it gets no canary).
    assert.deepEqual((await providerView(coord, p3.account.address)).reputation.faults, 1);
    const vet = await connectRawProvider(coord.url, veteran);
    open.push(vet);
    const real = await vet.next('assign');
    assert.equal((await leaseTask(coord.store.db, real)).jobId, job.jobId);
    assert.deepEqual(Object.keys(canary).sort(), Object.keys(real).sort(), 'same message shape');
    ack(await vet.deliver(real, honest()));
    assert.equal(p3.take('assign'), undefined, 'the suspended provider got nothing more');
    assert.equal((await job.client.waitForJob(job.jobId)).status, 'completed');
    const faults = await coord.store.db.selectFrom('verification_faults').selectAll().execute();
    assert.deepEqual(
      faults.map((f) => [f.provider, f.kind, f.task_id]),
      [[p3.account.address.toLowerCase(), 'canary', canaryTask.taskId]],
    );
    const slashes = await coord.store.db.selectFrom('slashes').select('task_id').execute();
    assert.deepEqual(
      slashes.map((s) => s.task_id),
      [canaryTask.taskId],
    );
    const charges = await coord.store.db.selectFrom('ledger_entries').select(['ref', 'memo']).execute();
    assert.ok(
      charges.some((e) => e.ref === `exec:${real.assignmentId}`),
      'the real task is billed',
    );
    assert.ok(
      charges.every((e) => e.ref !== `exec:${canary.assignmentId}` && !e.memo.includes(canaryTask.taskId)),
      'the canary is not billed',
    );
    const tasks = await coord.store.db
      .selectFrom('tasks')
      .select('id')
      .where('id', '=', canaryTask.taskId)
      .execute();
    assert.deepEqual(tasks, [], 'a canary is no task of any job');
    await p3.close();
    await coord.stop();

    // After a restart the pool is still there: another newcomer gets the canary.
    coord = await start();
    const p4 = await connectRawProvider(coord.url, randomAccount());
    open.push(p4);
    await submit(coord.url, 8);
    await p4.next('assign');
    const again = await coord.store.db
      .selectFrom('canary_assignments')
      .select('provider')
      .where('provider', '=', p4.account.address.toLowerCase())
      .execute();
    assert.equal(again.length, 1);
  } finally {
    await Promise.all(open.map((p) => p.close()));
    await coord.stop();
    await cleanup();
  }
});
