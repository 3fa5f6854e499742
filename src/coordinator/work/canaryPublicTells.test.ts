/**
 * The canary tells of public aggregates (issue 15, jobs/shadowOutcomes.ts): a provider that reads
 * `/v1/stats` (job, task and execution counts; verification totals), the public event ids, the
 * network event stream and every Prometheus counter, gauge and histogram count just before it
 * commits and just after it answers must see them move for a canary exactly as for a real task
 * that no audit was drawn for. On the code before: the verification totals and event ids did not
 * move for a canary, a miss counted a `failed` attempt, a long-record provider's held miss put
 * `canary.review-opened` on the network stream at once, and a canary lease was not timed in
 * `plexus_dispatch_seconds` (review s13 F2: its `_count` rose for real leases only).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { countByStatus } from '../jobs/jobQueries.ts';
import { findShadowJob, shadowAggregates, sumRows } from '../jobs/shadowJobs.ts';
import { publicVerificationTotals } from '../jobs/shadowOutcomes.ts';
import { newReputation } from '../verification/reputation.ts';
import { handleCommit, handleResult } from './results.ts';
import { stockShadowJob } from './shadowStock.ts';
import { output, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

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

/** Everything public that a poller can count, as numbers by name. */
async function snapshot(f: Fixture): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const put = (k: string, v: number) => out.set(k, v);
  const v = await publicVerificationTotals(f.db);
  for (const [k, n] of Object.entries(v.tasks)) put(`verification.tasks.${k}`, n);
  for (const [k, n] of Object.entries(v.policies)) put(`verification.policies.${k}`, n);
  for (const [k, n] of Object.entries(v.faults.byKind)) put(`verification.faults.${k}`, n);
  put('verification.verified', v.verified);
  put('verification.unverified', v.unverified);
  put('verification.audited', v.audited);
  const real = await countByStatus(f.db);
  const shadow = await shadowAggregates(f.db, 0);
  const rows = [
    ...sumRows('status', real.jobs, shadow.jobs).map((r) => [`jobs.${r.status}`, r.n] as const),
    ...sumRows<'status', { status: string; n: number }>('status', real.tasks, shadow.tasks).map(
      (r) => [`tasks.${r.status}`, r.n] as const,
    ),
    ...sumRows<'status', { status: string; n: number }>('status', real.assignments, shadow.assignments).map(
      (r) => [`assignments.${r.status}`, r.n] as const,
    ),
  ];
  for (const [k, n] of rows) put(k, Number(n));
  const events = await f.db.selectFrom('events').select(['id', 'job_id', 'type']).execute();
  put('events.lastId', Math.max(0, ...events.map((e) => Number(e.id))));
  for (const e of events.filter((x) => x.job_id === null))
    put(`network.${e.type}`, (out.get(`network.${e.type}`) ?? 0) + 1);
  // Every metric of our own on /metrics (served to anyone): counters and gauges by value, each
  // histogram by its count (its buckets and sum are timings, which differ between any two leases).
  for (const m of await f.work.metrics.registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('plexus_') || m.name.startsWith('plexus_process_')) continue;
    const type = String(m.type);
    assert.ok(
      ['counter', 'gauge', 'histogram'].includes(type),
      `metric ${m.name} of type ${type} is compared`,
    );
    type S = { value: number; labels: Record<string, unknown>; metricName?: string };
    for (const s of (m as { values: S[] }).values) {
      if (type === 'histogram' && s.metricName !== `${m.name}_count`) continue;
      put(`${s.metricName ?? m.name}${JSON.stringify(s.labels)}`, s.value);
    }
  }
  return out;
}

/** What moved between two snapshots (zero changes left out). */
function delta(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = (b.get(k) ?? 0) - (a.get(k) ?? 0);
    if (x !== 0) d[k] = x;
  }
  return d;
}

/**
 * The public movement of one answer: after its commitment, and after its result. The freed slot's next lease is held
 * back until after the second snapshot (dispatch paused), so only the answer is measured.
 */
async function around(f: Fixture, p: Awaited<ReturnType<Fixture['connected']>>, t = output(7)) {
  const a = p.assigned().at(-1)!;
  const dispatch = f.work.dispatch;
  f.work.dispatch = async () => {};
  try {
    const before = await snapshot(f);
    const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
    await handleCommit(f.state, f.work, p.address, await p.commit(a, t, salt));
    await f.idle();
    const committed = delta(before, await snapshot(f));
    await handleResult(f.state, f.work, p.address, await p.result(a, t, { salt }));
    await f.idle();
    return { committed, answered: delta(before, await snapshot(f)) };
  } finally {
    f.work.dispatch = dispatch;
    await f.work.dispatch();
    await f.idle();
  }
}

test('a canary answer — passed, or a long record’s held miss — moves every public counter as an unaudited real task does', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f);
    await addCanary(f);
    const p = await f.connected();
    // A long record: a miss is held for review (not faulted) and the canary rate is not probation's.
    f.state.reputations.set(p.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 30,
      verifiedValid: 30,
    });
    const { taskIds } = await f.submitJob({ tasks: 1, verification: { policy: 'audit' } });
    await f.work.dispatch();
    await f.idle();
    assert.notEqual(f.taskOf(p.assigned()[0]), taskIds[0], 'the slot went to a canary');
    const canaryPass = await around(f, p);
    // The freed slot takes the second canary (rate 1); it misses it.
    assert.notEqual(f.taskOf(p.assigned()[1]), taskIds[0], 'the second slot went to a canary');
    const heldMiss = await around(f, p, output(8));
    const held = await f.db
      .selectFrom('canary_assignments')
      .select('status')
      .where('id', '=', p.assigned()[1]!.assignmentId)
      .executeTakeFirstOrThrow();
    assert.equal(held.status, 'review', 'the long record’s miss is held for a review');
    // Then the real task (no canary left unseen). One provider online: no audit can be drawn.
    assert.equal(f.taskOf(p.assigned()[2]), taskIds[0], 'the real task');
    const realTask = await around(f, p, output(3));
    const v = await f.db
      .selectFrom('task_verifications')
      .select(['audit', 'status'])
      .where('task_id', '=', taskIds[0]!)
      .executeTakeFirstOrThrow();
    assert.deepEqual(v, { audit: 0, status: 'accepted' }, 'the real task was not audited');
    assert.ok(Object.keys(realTask.committed).length > 0, 'the real task’s commitment moved public counters');
    assert.ok(Object.keys(realTask.answered).length > 0, 'the real task’s answer moved public counters');
    assert.deepEqual(canaryPass, realTask, 'a passed canary moves what a real unaudited task moves');
    assert.deepEqual(heldMiss, realTask, 'a held canary miss moves what a real unaudited task moves');
  } finally {
    await f.close();
  }
});

test('a canary lease claims a shadow job stocked ahead: listed queued since its submission, its lease moves /v1/stats, event ids and /metrics as a real first lease does', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f);
    const stockedAt = f.clock.t;
    assert.equal(await stockShadowJob(f.db, f.work.events, stockedAt), true, 'stocked');
    const [pending] = await f.db.selectFrom('shadow_pending').selectAll().execute();
    assert.ok(pending, 'a shadow job is stocked');
    const queued = await findShadowJob(f.db, pending.id);
    assert.equal(queued?.status, 'queued', 'listed as a queued job before any lease');
    assert.equal(await f.eventTypes(pending.id).then((t) => t.join()), 'job.submitted');
    f.clock.t += 5_000;
    const p = await f.connected();
    const { taskIds } = await f.submitJob({ tasks: 1, verification: { policy: 'audit' } });
    const before = await snapshot(f);
    await f.work.dispatch();
    await f.idle();
    const canaryLease = delta(before, await snapshot(f));
    const [assign] = p.assigned();
    // An `assign` names no job (protocol v3): the coordinator's shadow job for this lease.
    const leased = await f.db
      .selectFrom('shadow_jobs')
      .select('id')
      .where('lease_id', '=', assign!.assignmentId)
      .executeTakeFirst();
    assert.equal(leased?.id, pending.id, 'the canary went out under the stocked job');
    const running = await findShadowJob(f.db, pending.id);
    assert.equal(running?.status, 'running');
    assert.equal(running?.created_at, stockedAt, 'its submission time is when it was stocked');
    // Answer the canary (its movement is the first test's), then measure the real first lease.
    const dispatch = f.work.dispatch;
    f.work.dispatch = async () => {};
    await handleResult(f.state, f.work, p.address, await p.result(assign!, output(7)));
    await f.idle();
    f.work.dispatch = dispatch;
    const mid = await snapshot(f);
    await f.work.dispatch();
    await f.idle();
    const realLease = delta(mid, await snapshot(f));
    assert.equal(f.taskOf(p.assigned()[1]), taskIds[0], 'the real task’s first lease');
    assert.ok(
      realLease['jobs.queued'] === -1 && realLease['jobs.running'] === 1,
      'a real first lease: queued → running',
    );
    assert.deepEqual(canaryLease, realLease, 'the canary lease moves what a real first lease moves');
  } finally {
    await f.close();
  }
});
