/**
 * What a provider's public standing told about canaries (issue 15), read from the attacker's side:
 * a provider that reads its own row of `GET /v1/providers`, its fault history, `/v1/stats` and the
 * network event stream around each answer. On the code before: a passed canary raised its
 * reputation, trust progress and audit-rate relief at once while an unaudited real task did not
 * (and a real task counted in `tasksCompleted`, a canary not); a missed canary put
 * `provider.faulted` with kind `canary` and no job on the network stream (a real verdict's fault
 * goes to its job's stream only), and the history listed it as kind `canary` with no job.
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
const wrong = (): Record<string, Tensor> => ({
  y: { dtype: 'float32', shape: [4], data: new Float32Array([9, 9, 9, 9]) },
});

async function read(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Every network event so far (read until the stream says it caught up). */
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

/** The numbers of a provider's own public row that say anything about its verified record. */
async function standing(url: string, address: string): Promise<Record<string, number | boolean>> {
  const p = (await read(`${url}/v1/providers/${address}`)) as {
    reputation: Record<string, number | boolean>;
    auditRate: number;
    tasksCompleted: number;
    tasksFailed: number;
  };
  const out: Record<string, number | boolean> = {
    auditRate: p.auditRate,
    tasksCompleted: p.tasksCompleted,
    tasksFailed: p.tasksFailed,
  };
  for (const [k, v] of Object.entries(p.reputation)) out[`reputation.${k}`] = v;
  return out;
}

/** What changed between two readings. */
function moved(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return Object.keys({ ...a, ...b })
    .filter((k) => a[k] !== b[k])
    .sort();
}

async function answer(p: RawProvider, m: Msg, tensors: Record<string, Tensor>): Promise<void> {
  const opening = await p.commit(m, tensors);
  await p.next('reveal', 60_000);
  const ack = await p.deliver(m, tensors, opening);
  assert.equal(ack.accepted, true, `result accepted (${String(ack.code)})`);
}

/**
 * Runs `run` against a coordinator (canary rate 1) with two canaries in its pool, seeded by a
 * trusted veteran and a second provider agreeing on a 2-task job; both gone again.
 */
async function withCanaries(
  run: (c: {
    url: string;
    coord: Awaited<ReturnType<typeof startCoordinator>>;
    open: RawProvider[];
    submit: (
      seeds: number[],
      verification?: Record<string, unknown>,
    ) => Promise<{ client: ReturnType<typeof createClient>; jobId: string }>;
    canaryLease: (m: Msg) => Promise<boolean>;
  }) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = await tempDir('plexus-canary-standing-');
  const log = createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' });
  // Long epochs: the whole test runs inside one (the public reputation is the epoch's start).
  const coord = await startCoordinator(
    { dataDir: dir, port: 0, sweepIntervalMs: 100, canaryRate: 1, epochSeconds: 30 * 86400 },
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
      const [o1, o2] = await Promise.all([p1!.commit(m1, honest()), p2!.commit(m2, honest())]);
      await Promise.all([p1!.next('reveal', 60_000), p2!.next('reveal', 60_000)]);
      await Promise.all([p1!.deliver(m1, honest(), o1), p2!.deliver(m2, honest(), o2)]);
    }
    assert.equal((await seeded.client.waitForJob(seeded.jobId)).status, 'completed', 'seeded');
    const pool = await coord.store.db.selectFrom('canary_tasks').select('id').execute();
    assert.equal(pool.length, 2, 'both verified tasks became canaries');
    await Promise.all([p1!.close(), p2!.close()]);
    const canaryLease = async (m: Msg) =>
      (await coord.store.db
        .selectFrom('canary_assignments')
        .select('id')
        .where('id', '=', m.assignmentId as string)
        .executeTakeFirst()) !== undefined;

    await run({ url, coord, open, submit, canaryLease });
  } finally {
    await Promise.all(open.map((p) => p.close()));
    await coord.stop();
    await cleanup();
  }
}

test('a provider reading its own public row cannot tell a passed canary from an unaudited real task', () =>
  withCanaries(async ({ url, coord, open, submit, canaryLease }) => {
    // The cheater, alone online: two canaries (probation), then the real job's task, which no
    // audit can be drawn for (nobody else is online) — accepted unaudited.
    const cheater = await connectRawProvider(url, randomAccount());
    open.push(cheater);
    const me = cheater.account.address.toLowerCase();
    const real = await submit([21]);
    const deltas: { canary: boolean; moved: string[] }[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await cheater.next('assign', 120_000);
      const before = await standing(url, me);
      await answer(cheater, m, honest());
      const isCanary = await canaryLease(m);
      if (!isCanary) {
        assert.equal((await real.client.waitForJob(real.jobId)).status, 'completed', 'the real job done');
        const v = await coord.store.db
          .selectFrom('task_verifications')
          .select(['audit', 'status'])
          .where('task_id', '=', (await leaseTask(coord.store.db, m)).taskId)
          .executeTakeFirstOrThrow();
        assert.deepEqual(v, { audit: 0, status: 'accepted' }, 'the real task was not audited');
      }
      deltas.push({ canary: isCanary, moved: moved(before, await standing(url, me)) });
    }
    assert.deepEqual(
      deltas.map((d) => d.canary),
      [true, true, false],
      'two canaries, then the real task',
    );
    const stored = await coord.store.db
      .selectFrom('providers')
      .select('reputation')
      .where('address', '=', me)
      .executeTakeFirstOrThrow();
    assert.equal(
      (JSON.parse(stored.reputation ?? '{}') as { verifiedValid?: number }).verifiedValid,
      2,
      'inside, both passed canaries count',
    );
    for (const d of deltas.filter((x) => x.canary))
      assert.deepEqual(d.moved, deltas[2]!.moved, 'a passed canary moves its public row as a real task does');
  }));

test('a missed canary is published as a verdict’s fault on its shadow job, not as a canary', () =>
  withCanaries(async ({ url, coord, open, submit, canaryLease }) => {
    // A second newcomer misses its canary: proven faulty, as after a verdict. Canaries go out in
    // the slots real work opens: a job waits.
    await submit([31]);
    const misser = await connectRawProvider(url, randomAccount());
    open.push(misser);
    const other = misser.account.address.toLowerCase();
    const m = await misser.next('assign', 120_000);
    assert.equal(await canaryLease(m), true, 'its first slot is a canary');
    await answer(misser, m, wrong());
    const shadowJob = (await leaseTask(coord.store.db, m)).jobId;
    const stats = (await read(`${url}/v1/stats`)) as {
      verification: { faults: { total: number; byKind: Record<string, number> } };
    };
    assert.equal(stats.verification.faults.total, 1, 'the fault counts');
    assert.equal(stats.verification.faults.byKind.canary, undefined, 'no fault kind names canaries');
    assert.equal(stats.verification.faults.byKind.outvoted, 1, 'it counts as an audit’s fault');
    const events = await networkEvents(url);
    assert.deepEqual(
      events.filter((e) => e.includes('provider.faulted')),
      [],
      'a job’s fault is on its own stream, not the network’s (as a real verdict’s)',
    );
    const history = (await read(`${url}/v1/providers/${other}/history`)) as {
      faults: { jobId: string; kind: string; evidence: { agreeing: string[]; digests: object } | null }[];
    };
    assert.equal(history.faults.length, 1, 'one fault listed');
    const f = history.faults[0]!;
    assert.equal(f.jobId, shadowJob, 'listed under its shadow job');
    assert.equal(f.kind, 'outvoted', 'with a verdict fault’s kind');
    assert.deepEqual(f.evidence?.agreeing, [], 'who agreed waits for the epoch’s close');
    assert.deepEqual(f.evidence?.digests, {}, 'as do the digests');
    // Inside, the fault keeps its kind: the evidence validators check.
    const stored2 = await coord.store.db
      .selectFrom('verification_faults')
      .select(['kind', 'job_id'])
      .where('provider', '=', other)
      .executeTakeFirstOrThrow();
    assert.deepEqual(stored2, { kind: 'canary', job_id: '' }, 'stored as a canary fault');
  }));
