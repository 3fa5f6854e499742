/**
 * A provider's failure reports must not tell a canary lease from a real one (issue 15, review s13
 * F6). On the code before: a signed `failure` naming its lease with a wrong `taskId` was refused
 * PLX_TASK_REF_MISMATCH for a real task (its row found first) but PLX_STALE_ASSIGNMENT for a canary
 * (only task leases were looked up), the lease left open: a free oracle. And an honest failure
 * report on a canary was refused while one on a real task was accepted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { listProviderAssignments } from '../jobs/jobQueries.ts';
import { listProviderShadowLeases, shadowAggregates } from '../jobs/shadowJobs.ts';
import { handleFailure } from './leases.ts';
import { handleCommit, handleResult } from './results.ts';
import { output, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;
type Provider = Awaited<ReturnType<Fixture['connected']>>;
type Lease = ReturnType<Provider['assigned']>[number];

/** A known-answer task in the pool; its expected output is `output(7)`. */
async function addCanary(f: Fixture): Promise<void> {
  await f.db
    .insertInto('canary_tasks')
    .values({
      id: `canary-${randomBytes(4).toString('hex')}`,
      source_task_id: `0x${randomBytes(32).toString('hex')}`,
      source_job_id: `0x${randomBytes(32).toString('hex')}`,
      model: f.put(randomBytes(8)),
      input_cid: f.put(randomBytes(8)),
      gpu: 0,
      timeout_ms: 60_000,
      expected_digest: tensorSetDigest(output(7)),
      expected_cid: f.put(encodeSafetensors(output(7))),
      issued: 0,
      retired: 0,
      created_at: f.clock.t,
    })
    .execute();
}

const randomId = () => `0x${randomBytes(32).toString('hex')}` as Hex;
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: unknown) => (e as { code?: string }).code ?? String(e),
  );

/** The status of lease `id`, whichever table holds it. */
async function statusOf(f: Fixture, id: string): Promise<string | undefined> {
  const task = await f.db.selectFrom('assignments').select('status').where('id', '=', id).executeTakeFirst();
  const canary = await f.db
    .selectFrom('canary_assignments')
    .select('status')
    .where('id', '=', id)
    .executeTakeFirst();
  return task?.status ?? canary?.status;
}

/** Every answer a provider can draw about lease `a` without ending it, by probe. */
async function probe(f: Fixture, p: Provider, other: Provider, a: Lease): Promise<Record<string, string>> {
  const wrong = { ...a, taskId: randomId() };
  const out: Record<string, string> = {
    failureWrongTaskId: await codeOf(handleFailure(f.state, f.work, p.address, await p.failure(wrong))),
    commitWrongTaskId: await codeOf(
      handleCommit(f.state, f.work, p.address, await p.commit(wrong, output(7), randomId())),
    ),
    resultWrongTaskId: await codeOf(
      handleResult(f.state, f.work, p.address, await p.result(wrong, output(7))),
    ),
    // Another key naming this lease properly: not its lease.
    failureNotYours: await codeOf(handleFailure(f.state, f.work, other.address, await other.failure(a))),
    commitNotYours: await codeOf(
      handleCommit(f.state, f.work, other.address, await other.commit(a, output(7), randomId())),
    ),
    resultNotYours: await codeOf(
      handleResult(f.state, f.work, other.address, await other.result(a, output(7))),
    ),
  };
  out.leaseAfter = (await statusOf(f, a.assignmentId)) ?? 'none';
  return out;
}

test('a failure, commitment or result with a wrong taskId, or on a lease not yours, is answered alike for a canary and a real task (review s13 F6)', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f);
    const p = await f.connected();
    const other = await f.provider();
    const { taskIds } = await f.submitJob({ tasks: 1, verification: { policy: 'audit' } });
    await f.work.dispatch();
    await f.idle();
    const canary = p.assigned()[0]!;
    assert.notEqual(f.taskOf(canary), taskIds[0], 'the first slot went to a canary (probation)');
    const onCanary = await probe(f, p, other, canary);
    // Answer the canary; the freed slot takes the real task (no canary left unseen).
    await handleResult(f.state, f.work, p.address, await p.result(canary, output(7)));
    await f.idle();
    const real = p.assigned()[1]!;
    assert.equal(f.taskOf(real), taskIds[0], 'the second lease is the real task');
    const onReal = await probe(f, p, other, real);
    const expected = {
      failureWrongTaskId: 'PLX_TASK_REF_MISMATCH',
      commitWrongTaskId: 'PLX_TASK_REF_MISMATCH',
      resultWrongTaskId: 'PLX_TASK_REF_MISMATCH',
      failureNotYours: 'PLX_STALE_ASSIGNMENT',
      commitNotYours: 'PLX_STALE_ASSIGNMENT',
      resultNotYours: 'PLX_STALE_ASSIGNMENT',
      leaseAfter: 'leased',
    };
    assert.deepEqual(onCanary, onReal, 'every probe answers a canary lease as it answers a real one');
    assert.deepEqual(
      onReal,
      expected,
      'a wrong reference is refused before any lookup; a lease not yours is stale',
    );
    // An id that names no lease at all is answered as one that is not yours.
    const none = randomId();
    const unknown = await p.failure({ assignmentId: none, taskId: none });
    assert.equal(await codeOf(handleFailure(f.state, f.work, p.address, unknown)), 'PLX_STALE_ASSIGNMENT');
  } finally {
    await f.close();
  }
});

/** What a failure report moves that its provider can read: /metrics, its counts, the stats, its history. */
async function observable(f: Fixture, p: Provider): Promise<Map<string, number | string>> {
  const out = new Map<string, number | string>();
  for (const m of await f.work.metrics.registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('plexus_') || m.name.startsWith('plexus_process_')) continue;
    type S = { value: number; labels: Record<string, unknown>; metricName?: string };
    for (const s of (m as { values: S[] }).values) {
      if (String(m.type) === 'histogram' && s.metricName !== `${m.name}_count`) continue;
      out.set(`${s.metricName ?? m.name}${JSON.stringify(s.labels)}`, s.value);
    }
  }
  const row = await f.db
    .selectFrom('providers')
    .select(['tasks_failed', 'tasks_completed'])
    .where('address', '=', p.address.toLowerCase())
    .executeTakeFirstOrThrow();
  out.set('provider.tasksFailed', Number(row.tasks_failed));
  out.set('provider.tasksCompleted', Number(row.tasks_completed));
  const events = await f.db.selectFrom('events').select('id').execute();
  out.set('events.lastId', Math.max(0, ...events.map((e) => Number(e.id))));
  const real = await f.db
    .selectFrom('assignments')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const shadow = await shadowAggregates(f.db, 0);
  for (const r of [...real, ...shadow.assignments])
    out.set(`assignments.${r.status}`, ((out.get(`assignments.${r.status}`) as number) ?? 0) + Number(r.n));
  return out;
}

function delta(a: Map<string, number | string>, b: Map<string, number | string>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = Number(b.get(k) ?? 0) - Number(a.get(k) ?? 0);
    if (x !== 0) d[k] = x;
  }
  return d;
}

/** Fails lease `a` honestly (dispatch held back, so only the failure is measured). */
async function fail(f: Fixture, p: Provider, a: Lease) {
  const dispatch = f.work.dispatch;
  f.work.dispatch = async () => {};
  try {
    const before = await observable(f, p);
    const code = await codeOf(
      handleFailure(f.state, f.work, p.address, await p.failure(a, 'PLX_RUNTIME_FAILED', 'out of memory')),
    );
    await f.idle();
    return {
      code,
      moved: delta(before, await observable(f, p)),
      leaseAfter: await statusOf(f, a.assignmentId),
    };
  } finally {
    f.work.dispatch = dispatch;
  }
}

test('an honest failure report on a canary is accepted and counted as one on a real task (review s13 F6)', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f);
    const p = await f.connected();
    const { taskIds } = await f.submitJob({ tasks: 1, verification: { policy: 'audit' } });
    await f.work.dispatch();
    await f.idle();
    const canary = p.assigned()[0]!;
    assert.notEqual(f.taskOf(canary), taskIds[0], 'the first slot went to a canary (probation)');
    const onCanary = await fail(f, p, canary);
    assert.equal(onCanary.code, 'accepted', 'a canary’s failure report is accepted');
    await f.work.dispatch();
    await f.idle();
    const real = p.assigned()[1]!;
    assert.equal(f.taskOf(real), taskIds[0], 'the next lease is the real task');
    const onReal = await fail(f, p, real);
    assert.equal(onReal.code, 'accepted', 'a real task’s failure report is accepted');
    assert.deepEqual(onCanary.moved, onReal.moved, 'the failure moves what a real one moves');
    assert.equal(onReal.moved['provider.tasksFailed'], 1, 'a failed task counted');
    assert.equal(
      onReal.moved['plexus_task_attempts_finished_total{"status":"failed"}'],
      1,
      'a failed attempt',
    );
    assert.equal(onCanary.leaseAfter, 'expired', 'the canary lease ended');
    assert.equal(onReal.leaseAfter, 'failed', 'the real lease ended');
    // Its history entry reads as a real failed lease's: status `failed`, the provider's code.
    const [shown] = await listProviderShadowLeases(f.db, p.address.toLowerCase(), 10);
    const [realShown] = await listProviderAssignments(f.db, p.address.toLowerCase(), 10);
    assert.deepEqual(
      { status: shown?.status, code: shown?.error_code },
      { status: realShown?.status, code: realShown?.error_code },
      'listed like the real failed lease',
    );
    // The shadow job got the task.retry a real job gets.
    const shadow = await f.db
      .selectFrom('shadow_jobs')
      .select('id')
      .where('lease_id', '=', canary.assignmentId)
      .executeTakeFirstOrThrow();
    assert.ok((await f.eventTypes(shadow.id)).includes('task.retry'), 'the shadow job has a task.retry');
  } finally {
    await f.close();
  }
});
