/**
 * The adversary harness against the live coordinator, on one network: real provider processes
 * started with `plexus provider start --behaviour …`. Three honest providers first run a redundant
 * job (which seeds the canary pool and gives them a record); then one provider of every dishonest
 * kind joins (always wrong, wrong half the time, lazy zeros, lazy random, copycat, fake GPU, slow,
 * disconnecting mid-task) and a job runs under the default adaptive audit with canaries mixed in,
 * next to a GPU job. Every wrong output is caught (faulted with evidence, slash entry, reputation
 * down), slow and vanishing providers are neutralized (their work moves on, no fault), the fake GPU
 * is exposed by its capability proof and gets no GPU work, no honest provider is ever faulted, and
 * the client receives only outputs that honest providers agreed on.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import {
  ocrInput,
  ppocrDetectionModelPath,
  randomAccount,
  tempDir,
  testCoordinator,
} from './helpers/fixtures.ts';
import { trustProviderDir } from './helpers/trustedProvider.ts';

const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const silentPrint = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

let c: Awaited<ReturnType<typeof testCoordinator>>;
let dir: string;
let cleanup: () => Promise<void>;
const children: NodeChild[] = [];

/**
 * Starts a provider process. `trusted`: its record is written to the store before it first
 * connects (the coordinator keeps a stored reputation on connect), standing in for genesis
 * operators: canaries are seeded only from verdicts an already trusted provider agreed with.
 */
async function startProviderProcess(name: string, behaviour: string, trusted = false): Promise<string> {
  const pdir = join(dir, name);
  if (trusted) await trustProviderDir(c.store.db, pdir, DEVNET_PASSWORD);
  const child = spawnPlexus(
    name,
    ['provider', 'start', '--coordinator', c.url, '--data-dir', pdir, '--behaviour', behaviour],
    { env, print: silentPrint, showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40 },
  );
  children.push(child);
  const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 300_000);
  return address.toLowerCase();
}

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-adversary-'));
  // Canaries at 20% and capability re-challenges every ~15 s, so both show within the test.
  c = await testCoordinator({ canaryRate: 0.2, capabilityRecheckMs: 15_000 });
});
after(async () => {
  await Promise.all(children.map((p) => p.stop(5000)));
  await c.cleanup();
  await cleanup();
});

async function waitOnline(client: ReturnType<typeof createClient>, n: number): Promise<void> {
  // Eight provider processes starting at once on a loaded 2-core machine: minutes, not seconds.
  const deadline = Date.now() + 300_000;
  while ((await client.health()).providersOnline < n) {
    if (Date.now() > deadline) throw new Error('providers did not come online');
    await new Promise((r) => setTimeout(r, 100));
  }
}

type View = {
  reputation: { score: number; faults: number };
  capability: { class: string; proven: boolean; gpuTrusted: boolean; lastOutcome: string } | null;
};

test('every dishonest behaviour is caught or neutralized; honest providers never are', async () => {
  const [h1, h2, h3] = await Promise.all([
    startProviderProcess('honest-1', 'honest', true),
    startProviderProcess('honest-2', 'honest', true),
    startProviderProcess('honest-3', 'honest', true),
  ]);
  const t0 = Date.now();
  const mark = (what: string) =>
    process.env.PLEXUS_TEST_MARKS && console.error(`${Date.now() - t0} ms: ${what}`);
  const honest = new Set([h1!, h2!, h3!]);
  const client = createClient({ url: c.url, account: randomAccount() });
  await waitOnline(client, 3);
  const model = await client.uploadFile(ppocrDetectionModelPath());
  const upload = async (from: number, count: number) => {
    const cids: string[] = [];
    for (let i = from; i < from + count; i++)
      cids.push((await client.uploadBlob(encodeSafetensors(ocrInput(i, 160, 64)))).cid);
    return cids;
  };
  // Warm-up: honest (trusted) providers agree on 3 tasks, which become canaries.
  const warm = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: await upload(100, 3),
    deadline: Math.floor(Date.now() / 1000) + 300,
    // Every lease here runs cold (model download, inference session), and a lease that runs out
    // cancels the run, so a retry starts cold again: at load 48 the honest providers' 6 s leases
    // kept running out and the warm-up failed. The lease is a ceiling, not a wait (an idle machine
    // answers in 1–2 s); the jobs below get leases sized from what this warm-up took.
    taskTimeoutSec: 60,
    maxAttempts: 10,
    verification: { policy: 'redundant', k: 3 },
  });
  // The client's streams carry verification events: the warm-up's redundant rounds end in verdicts
  // (the main job below may be done by the trusted providers alone, unaudited, before any
  // adversary is free of its first canary).
  const seen: string[] = [];
  assert.equal((await client.waitForJob(warm.jobId, (e) => seen.push(e.type))).status, 'completed');
  mark('warm-up done');
  const db = c.store.db;
  assert.equal((await db.selectFrom('canary_tasks').select('id').execute()).length, 3);
  // Leases sized to how fast this machine runs a cold task right now: the warm-up's slowest
  // execution (an honest provider's first, model download and session included) is what a cold
  // adversary's first lease needs too. 6 s on an idle machine (as before); on a machine loaded to
  // 40 the warm-up's executions took several seconds and 6 s leases ran out before cold
  // adversaries answered (their work expired, the main job used up its attempts and failed).
  const warmRuns = await db
    .selectFrom('assignments')
    .select(['created_at', 'finished_at'])
    .where('job_id', '=', warm.jobId)
    .where('status', '=', 'completed')
    .execute();
  const slowest = Math.max(0, ...warmRuns.map((a) => (a.finished_at ?? a.created_at) - a.created_at));
  const leaseSec = Math.min(60, Math.max(6, Math.ceil((4 * slowest) / 1000)));
  const deadlineSec = Math.max(150, 25 * leaseSec);
  mark(`leases ${leaseSec} s (slowest warm-up execution ${slowest} ms)`);
  // Canaries inherit the lease of the job they came from (the warm-up's 60 s): the job below's
  // lease instead, as if they came from it. A newcomer's first leases are canaries (probation),
  // and a lease that runs out cancels the run — model download and session creation with it — so
  // an adversary whose cold start outlasts its canaries' lease stays cold and never hands anything
  // in (seen at load 48: four canaries expired in a row, no task ever leased).
  await db
    .updateTable('canary_tasks')
    .set({ timeout_ms: leaseSec * 1000 })
    .execute();

  const names = [
    'always-wrong',
    'wrong:0.5',
    'lazy-zeros',
    'lazy-random',
    'copycat',
    'fake-gpu',
    'slow',
    'disconnect',
  ] as const;
  const addresses = await Promise.all(names.map((b) => startProviderProcess(b.replace(':', '-'), b)));
  const who = Object.fromEntries(names.map((b, i) => [b, addresses[i]!])) as Record<
    (typeof names)[number],
    string
  >;
  await waitOnline(client, 3 + names.length);
  mark('adversaries online');

  const gpuJob = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: await upload(200, 1),
    resources: { gpu: true, minMemoryMiB: 0 },
    deadline: Math.floor(Date.now() / 1000) + 300,
  });
  // More tasks than the honest providers' lease slots (3 × 4); an adversary still busy with its
  // first canary may get none of them (the loop below gives such adversaries more work).
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: await upload(0, 22),
    deadline: Math.floor(Date.now() / 1000) + deadlineSec,
    taskTimeoutSec: leaseSec,
    maxAttempts: 10,
  });
  mark('jobs submitted');
  const final = await client.waitForJob(jobId, (e) => seen.push(e.type));
  assert.equal(final.status, 'completed', JSON.stringify(final));
  mark('job completed');

  // Every delivered output was agreed on by honest providers.
  const results = await client.jobResults(jobId);
  for (const out of results.outputs) {
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
      .filter((e) => honest.has(e.provider) || e.provider === who['fake-gpu'])
      .map((e) => e.output_cid);
    // Honest providers on one machine compute identical bytes: the delivered output is theirs.
    assert.ok(honestCids.includes(out.output as string), `task ${out.index}: output is an honest provider's`);
    const y = Object.values(decodeSafetensors(await client.downloadBlob(out.output as string)))[0]!;
    assert.ok(
      (y.data as Float32Array).some((v) => Math.abs(v) > 0.1),
      'the input has text, so the honest output is clearly not zeros (lazy-zeros must be detectable)',
    );
  }
  // Real agents commit (signed) before they reveal: every execution opened its own commitment.
  const execs = await db.selectFrom('task_executions').select(['assignment_id', 'salt']).execute();
  const commits = new Set(
    (await db.selectFrom('task_commitments').select('assignment_id').execute()).map((r) => r.assignment_id),
  );
  assert.ok(
    execs.length > 0 && execs.every((e) => commits.has(e.assignment_id)),
    'every execution was committed first',
  );

  const faultsOf = (p: string) =>
    db.selectFrom('verification_faults').selectAll().where('provider', '=', p).execute();
  const execsOf = (p: string) =>
    db.selectFrom('task_executions').select(['task_id', 'output_digest']).where('provider', '=', p).execute();
  const canariesOf = (p: string) =>
    db.selectFrom('canary_assignments').select(['status', 'task_id']).where('provider', '=', p).execute();
  const acceptedDigest = async (taskId: string) => {
    const v = await db
      .selectFrom('task_verifications')
      .select('verdict')
      .where('task_id', '=', taskId)
      .executeTakeFirst();
    return v?.verdict ? (JSON.parse(v.verdict) as { acceptedDigest?: string }).acceptedDigest : undefined;
  };

  // An adversary's first lease runs cold (model download, inference session) and on a loaded
  // machine can outlive the job's 6 s lease: an adversary whose only lease was a canary that
  // expired while the job (a few seconds) completed has handed nothing in to check. Such an
  // adversary (not faulted, so not suspended) gets more of the same work until it has.
  const mustCatch = ['always-wrong', 'lazy-zeros', 'lazy-random', 'copycat'] as const;
  const leased = async (p: string) =>
    (
      await db
        .selectFrom('assignments')
        .select('id')
        .where('provider', '=', p)
        .where('status', '=', 'leased')
        .execute()
    ).length + (await canariesOf(p)).filter((x) => x.status === 'leased').length;
  const delivered = async (p: string) =>
    (await execsOf(p)).length +
    (await canariesOf(p)).filter((x) => x.status !== 'leased' && x.status !== 'expired').length;
  for (let round = 0; round < 3; round++) {
    // Leases still out (a canary, say) end first: answered, or expired after their lease.
    for (const until = Date.now() + 60_000 + 2000 * leaseSec; Date.now() < until; ) {
      const out = await Promise.all(mustCatch.map((b) => leased(who[b])));
      if (out.every((n) => n === 0)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const idle: string[] = [];
    for (const b of mustCatch) if ((await delivered(who[b])) === 0) idle.push(b);
    if (idle.length === 0) break;
    mark(`more work: ${idle.join(', ')} handed nothing in`);
    const more = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: await upload(300 + 22 * round, 22),
      deadline: Math.floor(Date.now() / 1000) + deadlineSec,
      taskTimeoutSec: leaseSec,
      maxAttempts: 10,
    });
    assert.equal((await client.waitForJob(more.jobId)).status, 'completed');
  }

  // Always-wrong, lazy and copycat: every output they delivered (task or canary) is a fault.
  for (const b of mustCatch) {
    const p = who[b];
    const tasks = await execsOf(p);
    const canaries = (await canariesOf(p)).filter((x) => x.status !== 'leased' && x.status !== 'expired');
    const faults = await faultsOf(p);
    if (tasks.length + canaries.length < 1) {
      // Say what happened to its leases, so a failure here can be read (the assertion is below).
      const leases = await db
        .selectFrom('assignments')
        .select(['status', 'error_code'])
        .where('provider', '=', p)
        .execute();
      const all = await canariesOf(p);
      console.error(`${b}: assignments ${JSON.stringify(leases)}, canaries ${JSON.stringify(all)}`);
    }
    assert.ok(tasks.length + canaries.length >= 1, `${b} took work`);
    assert.ok(
      canaries.every((x) => x.status === 'failed'),
      `${b}: every canary it answered failed`,
    );
    assert.equal(faults.length, tasks.length + canaries.length, `${b}: every dishonest output was caught`);
    const slashes = await db.selectFrom('slashes').select('id').where('provider', '=', p).execute();
    assert.equal(slashes.length, faults.length, `${b}: each fault has a slash entry`);
    for (const f of faults.filter((x) => x.kind === 'outvoted')) {
      const ev = JSON.parse(f.evidence) as { agreeing: string[] };
      assert.ok(
        ev.agreeing.length >= 2 && ev.agreeing.every((a) => honest.has(a) || a === who['fake-gpu']),
        "ev.agreeing.length >= 2 && ev.agreeing.every((a) => honest.has(a) || a === who['fake-gpu'])",
      );
    }
  }
  // Wrong half the time: its wrong outputs are faults, its right ones are not.
  {
    const p = who['wrong:0.5'];
    const faulted = new Set((await faultsOf(p)).map((f) => f.task_id));
    for (const e of await execsOf(p)) {
      const accepted = await acceptedDigest(e.task_id);
      if (accepted === undefined) continue;
      assert.equal(faulted.has(e.task_id), e.output_digest !== accepted, `wrong:0.5 on ${e.task_id}`);
    }
    for (const x of await canariesOf(p))
      if (x.status === 'failed') assert.ok(faulted.has(x.task_id), 'faulted.has(x.task_id)');
  }
  // Slow and disconnecting providers are neutralized: their leases move on, no fault.
  for (const b of ['slow', 'disconnect'] as const) {
    const p = who[b];
    assert.deepEqual(await faultsOf(p), [], `${b} is not faulted for being unreliable`);
    // A lease it holds when the job completes (a canary, say) may still be running: wait for one to end.
    const lostLeases = async () =>
      (
        await db
          .selectFrom('assignments')
          .select('id')
          .where('provider', '=', p)
          .where('status', '=', 'expired')
          .execute()
      ).length + (await canariesOf(p)).filter((x) => x.status === 'expired').length;
    const until = Date.now() + 20_000 + 2000 * leaseSec;
    while ((await lostLeases()) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    const all = await db
      .selectFrom('assignments')
      .select(['status', 'error_code'])
      .where('provider', '=', p)
      .execute();
    assert.ok(
      (await lostLeases()) >= 1,
      `${b} lost leases: ${JSON.stringify(all)} ${JSON.stringify(await canariesOf(p))}`,
    );
    assert.equal((await execsOf(p)).length, 0, `${b} delivered nothing`);
  }
  // The fake GPU: its proof comes at CPU speed (it stops its chain once past the budget, and the
  // coordinator does not check an answer over budget), so no GPU work and no fault; its CPU work is
  // honest. Its proof still takes this CPU a segment or two of the chain: wait for the verdict.
  const capabilityOf = async (a: string) =>
    ((await client.listProviders()).providers.find((p) => p.address === a) as View).capability;
  const judgedBy = Date.now() + 120_000;
  while ((await capabilityOf(who['fake-gpu']))?.lastOutcome === 'pending' && Date.now() < judgedBy)
    await new Promise((r) => setTimeout(r, 250));
  const { providers } = await client.listProviders();
  const view = (a: string) => providers.find((p) => p.address === a) as View;
  const fake = view(who['fake-gpu']).capability!;
  assert.equal(fake.class, 'gpu-consumer');
  assert.equal(fake.gpuTrusted, false);
  // `slow` (answered past the GPU budget) — or, with the machine loaded (load 40+) and the
  // re-challenges every ~15 s, `missed` (no answer before the deadline): never `passed`.
  assert.ok(['slow', 'missed'].includes(fake.lastOutcome), `fake GPU proof ${fake.lastOutcome}`);
  assert.deepEqual(await faultsOf(who['fake-gpu']), []);
  const gpuLeases = await db
    .selectFrom('assignments')
    .select('provider')
    .where('job_id', '=', gpuJob.jobId)
    .execute();
  assert.deepEqual(gpuLeases, [], 'the GPU job was never given to the fake GPU (nobody proved a GPU)');
  assert.equal((await client.getJob(gpuJob.jobId)).status, 'queued');

  // Honest providers: proven, re-challenged, never faulted.
  const honestFaults = await db
    .selectFrom('verification_faults')
    .select('provider')
    .where('provider', 'in', [...honest])
    .execute();
  assert.deepEqual(honestFaults, [], 'no honest provider was faulted');
  for (const h of honest) {
    assert.equal(view(h).reputation.faults, 0);
    assert.equal(view(h).capability?.proven, true);
    assert.equal(view(h).capability?.class, 'cpu');
  }
  // Re-challenges come every 7.5–22.5 s: on a fast run the job can finish before the first, so
  // wait for it (generous deadline) rather than assume the run took long enough.
  const proofsOfH1 = () =>
    db.selectFrom('capability_proofs').select(['provider', 'outcome']).where('provider', '=', h1!).execute();
  let proofs = await proofsOfH1();
  for (const until = Date.now() + 90_000; proofs.length < 2 && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 500));
    proofs = await proofsOfH1();
  }
  assert.ok(proofs.length >= 2, `re-challenged at random times (${proofs.length} proofs)`);
  // The coordinator's own record: `GET /v1/providers` shows the reputation the current epoch began
  // with (publicReputation.ts: no verified outcome of an open epoch shows at once).
  for (const b of ['always-wrong', 'lazy-zeros', 'lazy-random', 'copycat'] as const) {
    const row = await db
      .selectFrom('providers')
      .select('reputation')
      .where('address', '=', who[b])
      .executeTakeFirst();
    assert.ok(row, `${b} is known`);
    const v = c.loop.verificationView(who[b]!, row.reputation).reputation;
    assert.ok(v.faults >= 1 && v.score < 0.5, `${b} score ${v.score}`);
  }
  assert.ok(seen.includes('task.verified'), "seen.includes('task.verified')");
});
