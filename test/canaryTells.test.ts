/**
 * The API-reading cheater (issue 15): a scripted provider that, before answering each assignment,
 * looks it up through everything public — the job (`GET /v1/jobs/:id`), the job list, the network
 * event stream, a job's assignments and verification, its own history — and tries to tell a
 * canary from real work. Whatever it reads must be the same for both, so it can do no better than
 * chance. On the code before shadow jobs it found every canary: the task id was in no job's task
 * list (the job was the canary's finished source job), the job's status was `completed` while it
 * held a lease of it, the input cid was listed in that job's public spec, and the network stream
 * announced `task.assigned` for real tasks only. The job's own client still reads its tasks.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, tempDir } from './helpers/fixtures.ts';
import { leaseTask } from './helpers/leaseTask.ts';
import { connectRawProvider, type Msg, type RawProvider } from './helpers/rawProvider.ts';
import { trustProvider } from './helpers/trustedProvider.ts';

const honest = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([0.5, 0.25, 0.125, 1]) },
});
const noisy = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([0.5000001, 0.25, 0.1250001, 0.9999999]) },
});

type Features = Record<string, unknown>;

/** GET `url` without any signature: status and body. */
async function read(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

/** Every network event so far (`/v1/events?after=0`, read until the stream says it caught up). */
async function networkEvents(url: string): Promise<string[]> {
  const ac = new AbortController();
  const deadline = setTimeout(() => ac.abort(), 30_000);
  let text = '';
  try {
    const res = await fetch(`${url}/v1/events?after=0`, { signal: ac.signal });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes(': caught up')) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(deadline);
    ac.abort();
  }
  return text.split('\n\n').filter((e) => e.includes('data:'));
}

/**
 * What the cheater can learn about one assignment before it answers, from public reads only. Since
 * protocol v3 the assign names neither its task nor its job (only its own opaque id, `ref`): the
 * cheater looks that up, and — as if it had learnt them anyway, from a colluding client say — the
 * real `task` and `job` ids, which the test reads from the coordinator's own mapping.
 */
async function lookUp(url: string, m: Msg, task: { taskId: string; jobId: string }): Promise<Features> {
  const { jobId, taskId } = task;
  const ref = m.taskId as string;
  const input = m.input as string;
  const byRef = await read(`${url}/v1/jobs/${ref}`);
  const refHits = ((await read(`${url}/v1/search?q=${ref}`)).body.hits as unknown[] | undefined) ?? [];
  const job = await read(`${url}/v1/jobs/${jobId}`);
  const tasks = (job.body.tasks as { id: string; input: string }[] | undefined) ?? [];
  const spec = (job.body.spec as { inputs?: string[] } | undefined) ?? {};
  const list = await read(`${url}/v1/jobs?limit=200`);
  const jobs = (list.body.jobs as { id: string; spec: { inputs?: string[] } }[] | undefined) ?? [];
  const events = await networkEvents(url);
  const assignments = await read(`${url}/v1/jobs/${jobId}/assignments`);
  const verification = await read(`${url}/v1/jobs/${jobId}/verification`);
  const results = await read(`${url}/v1/jobs/${jobId}/results?partial=true`);
  const hits = async (q: string) =>
    ((await read(`${url}/v1/search?q=${q}`)).body.hits as { type: string; id: string }[]).filter(
      (h) => h.type === 'job',
    );
  const byId = await hits(jobId);
  const byInput = await hits(input);
  const stats = (await read(`${url}/v1/stats`)).body as {
    jobs: Record<string, number>;
    tasks: Record<string, number>;
    assignments: Record<string, number>;
  };
  return {
    refIsAssignment: ref === m.assignmentId,
    refFound: byRef.status,
    refSearched: refHits.length,
    refEvent: events.some((e) => e.includes(ref.slice(2))),
    jobFound: job.status,
    jobStatus: job.body.status,
    jobTasksTotal: job.body.tasksTotal,
    taskListed: tasks.some((t) => t.id === taskId),
    tasksShown: tasks.length > 0,
    clientShown: job.body.client !== null && job.body.client !== undefined,
    costShown: job.body.cost !== null && job.body.cost !== undefined,
    inputInJobSpec: (spec.inputs ?? []).includes(input),
    jobListed: jobs.some((j) => j.id === jobId),
    inputListedElsewhere: jobs.some((j) => j.id !== jobId && (j.spec.inputs ?? []).includes(input)),
    taskEvent: events.some((e) => e.includes(taskId)),
    jobEvent: events.some((e) => e.includes(jobId)),
    assignments: assignments.status,
    verification: verification.status,
    results: results.status,
    messageKeys: Object.keys(m).sort().join(','),
    searchFindsJob: byId.some((h) => h.id === jobId),
    searchByInput: byInput.map((h) => (h.id === jobId ? 'own job' : 'another job')).join(','),
    // The public counters while it holds this one lease (nothing else runs meanwhile).
    runningJobs: stats.jobs.running,
    assignedTasks: stats.tasks.assigned,
    leasedExecutions: stats.assignments.leased,
  };
}

/** Commits, waits for the reveal request and reveals `tensors`; returns whether it was accepted. */
async function answer(p: RawProvider, m: Msg, tensors: Record<string, Tensor>): Promise<void> {
  const opening = await p.commit(m, tensors);
  await p.next('reveal', 60_000);
  const ack = await p.deliver(m, tensors, opening);
  assert.equal(ack.accepted, true, `result accepted (${String(ack.code)})`);
}

test('an API-reading provider cannot tell a canary from real work before its verdict', async () => {
  const { dir, cleanup } = await tempDir('plexus-canary-tells-');
  const log = createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' });
  const coord = await startCoordinator(
    { dataDir: dir, port: 0, sweepIntervalMs: 100, canaryRate: 1 },
    { log },
  );
  const url = coord.url;
  const open: RawProvider[] = [];
  try {
    const modelBytes = new Uint8Array(await readFile(ppocrDetectionModelPath()));
    const submit = async (seeds: number[], verification?: Record<string, unknown>) => {
      const client = createClient({ url, account: randomAccount() });
      const model = await client.uploadBlob(modelBytes);
      const inputs = [];
      for (const s of seeds)
        inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(s, 32, 32)))).cid);
      const { jobId } = await client.submitJob({
        kind: 'onnx.infer',
        model: model.cid,
        inputs,
        deadline: Math.floor(Date.now() / 1000) + 600,
        ...(verification ? { verification } : {}),
      } as Parameters<typeof client.submitJob>[0]);
      return { client, jobId };
    };

    // Two canaries: a trusted veteran and a second provider agree on a 2-task job.
    const veteran = randomAccount();
    await trustProvider(coord.store.db, veteran.address);
    const [p1, p2] = await Promise.all([veteran, randomAccount()].map((a) => connectRawProvider(url, a)));
    open.push(p1!, p2!);
    const seeded = await submit([11, 12], { policy: 'redundant', k: 2 });
    for (let i = 0; i < 2; i++) {
      const [m1, m2] = await Promise.all([p1!.next('assign', 60_000), p2!.next('assign', 60_000)]);
      const [o1, o2] = await Promise.all([p1!.commit(m1, honest()), p2!.commit(m2, noisy())]);
      await Promise.all([p1!.next('reveal', 60_000), p2!.next('reveal', 60_000)]);
      await Promise.all([p1!.deliver(m1, honest(), o1), p2!.deliver(m2, noisy(), o2)]);
    }
    assert.equal(
      (await seeded.client.waitForJob(seeded.jobId)).status,
      'completed',
      'the seeding job completed',
    );
    const pool = await coord.store.db.selectFrom('canary_tasks').select('id').execute();
    assert.equal(pool.length, 2, 'both verified tasks became canaries');
    await Promise.all([p1!.close(), p2!.close()]);

    // The cheater, a newcomer: its first slots go to the two canaries (probation), then to the
    // real job's two tasks. It looks each one up before answering.
    const cheater = await connectRawProvider(url, randomAccount());
    open.push(cheater);
    const real = await submit([21, 22]);
    const seen: { m: Msg; f: Features }[] = [];
    for (let i = 0; i < 4; i++) {
      const m = await cheater.next('assign', 120_000);
      seen.push({ m, f: await lookUp(url, m, await leaseTask(coord.store.db, m)) });
      await answer(cheater, m, honest());
    }

    const leases = await coord.store.db.selectFrom('canary_assignments').select('id').execute();
    const canaryIds = new Set(leases.map((l) => l.id));
    const canaries = seen.filter((s) => canaryIds.has(s.m.assignmentId as string));
    const work = seen.filter((s) => !canaryIds.has(s.m.assignmentId as string));
    assert.equal(canaries.length, 2, 'two of the four assignments were canaries');
    assert.equal(work.length, 2, 'two were the real job’s tasks');
    for (const s of work)
      assert.equal((await leaseTask(coord.store.db, s.m)).jobId, real.jobId, 'real work of the real job');
    for (const s of seen) assert.equal('jobId' in s.m, false, 'no assignment names its job (protocol v3)');
    // The old tells, one by one (each made every canary stand out before shadow jobs).
    for (const s of seen) {
      const kind = canaryIds.has(s.m.assignmentId as string) ? 'canary' : 'real';
      assert.equal(s.f.refIsAssignment, true, `${kind}: it names its task by its own assignment id`);
      assert.equal(s.f.refFound, 404, `${kind}: that id is no job`);
      assert.equal(s.f.refSearched, 0, `${kind}: searching it finds nothing`);
      assert.equal(s.f.refEvent, false, `${kind}: no public event names it`);
      assert.equal(s.f.jobFound, 200, `${kind}: its job id resolves like any job`);
      assert.equal(s.f.jobStatus, 'running', `${kind}: its job is running while the lease is out`);
      assert.equal(s.f.jobListed, true, `${kind}: its job is in the public job list`);
      assert.equal(s.f.taskListed, false, `${kind}: no task id is public (${JSON.stringify(s.f)})`);
      assert.equal(s.f.inputInJobSpec, false, `${kind}: no input cid is public`);
      assert.equal(s.f.inputListedElsewhere, false, `${kind}: the input cid is in no other public job`);
      assert.equal(s.f.taskEvent, false, `${kind}: no public event names the task`);
      assert.equal(s.f.jobEvent, false, `${kind}: no public event names the job`);
      assert.equal(s.f.searchFindsJob, true, `${kind}: searching its job id finds it`);
      assert.equal(s.f.searchByInput, '', `${kind}: searching its input cid finds no job`);
    }
    // Whatever else it reads is the same for a canary and for real work: a classifier on these
    // features does no better than chance.
    const distinct = new Set(seen.map((s) => JSON.stringify(s.f)));
    assert.equal(distinct.size, 1, `canary and real assignments read alike: ${[...distinct].join(' | ')}`);

    // The real job's client still reads its tasks, results and events (signed reads).
    const mine = await real.client.getJob(real.jobId);
    assert.equal(mine.tasks.length, 2, 'the client sees its tasks');
    assert.ok(mine.client, 'and itself as the client');
    assert.ok(mine.cost, 'and the cost');
    const stranger = await read(`${url}/v1/jobs/${real.jobId}`);
    assert.deepEqual(stranger.body.tasks, [], 'anyone else sees no task');
    const otherClient = createClient({ url, account: randomAccount() });
    assert.deepEqual((await otherClient.getJob(real.jobId)).tasks, [], 'nor does another client');
    await assert.rejects(
      otherClient.jobResults(real.jobId, true),
      /no job/,
      'another client reads no results',
    );
    // A shadow job never claims public data (a public job's tasks are anyone's to read).
    for (const s of canaries)
      assert.notEqual(
        (
          (await read(`${url}/v1/jobs/${(await leaseTask(coord.store.db, s.m)).jobId}`)).body.spec as {
            public?: boolean;
          }
        ).public,
        true,
        'a shadow job is never public',
      );
    // The cheater's history lists its canary executions as it lists real ones, after the fact.
    const history = await read(`${url}/v1/providers/${cheater.account.address}/history`);
    const rows = history.body.assignments as { id: string; jobId: string }[];
    for (const s of canaries) {
      const shadow = (await leaseTask(coord.store.db, s.m)).jobId;
      assert.ok(
        rows.some((r) => r.id === s.m.assignmentId && r.jobId === shadow),
        'a finished canary is in the history under its shadow job',
      );
    }
  } finally {
    await Promise.all(open.map((p) => p.close()));
    await coord.stop();
    await cleanup();
  }
});
