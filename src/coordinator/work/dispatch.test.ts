import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import { boundLeaseId } from '../../protocol/taskRef.ts';
import { UNVERIFIED_REGION } from '../market/constants.ts';
import { createMarket, type Market } from '../market/createMarket.ts';
import { createEpochClock } from '../market/epochClock.ts';
import { computeProviderEmission } from '../settlement/epochComputation.ts';
import { readStoreInputs } from '../settlement/readEpochInputs.ts';
import { newReputation } from '../verification/reputation.ts';
import { dispatch, leaseOne, pickFor } from './dispatch.ts';
import { jobInfo } from './jobs.ts';
import { handleResult } from './results.ts';
import { providerConnected, providerDisconnected, providerDraining } from './sessions.ts';
import { output, workFixture } from './workFixture.ts';

test('dispatch leases a queued task to a connected provider: one transaction, an assign message, events', async () => {
  const f = await workFixture();
  try {
    const { jobId, taskIds } = await f.submitJob({ taskTimeoutSec: 30 });
    const p = await f.connected();
    await f.idle();
    const [assign] = p.assigned();
    assert.ok(assign, 'the provider got an assignment');
    // Protocol v3: the provider sees the assignment's opaque id only, never the task's or the job's.
    assert.equal(assign.taskId, assign.assignmentId);
    assert.ok(!JSON.stringify(assign).includes(taskIds[0]!.slice(2)), 'no task id in the assign');
    assert.ok(!JSON.stringify(assign).includes(jobId.slice(2)), 'no job id in the assign');
    assert.equal(assign.timeoutMs, 30_000);
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'assigned');
    assert.equal(task.attempts, 1);
    const [lease] = await f.assignments(taskIds[0]!);
    assert.equal(lease?.id, assign.assignmentId);
    assert.equal(lease?.provider, p.address);
    assert.equal(lease?.status, 'leased');
    assert.equal(lease?.lease_expires_at, f.clock.t + 30_000);
    // Bound to its task (0066): id = keccak256(abi.encode(taskId, provider, salt)); the salt stays
    // in the store (the evidence publishes it), never in what the provider is sent.
    assert.match(String(lease?.lease_salt), /^0x[0-9a-f]{64}$/);
    assert.equal(lease?.id, boundLeaseId(taskIds[0]!, p.address, lease?.lease_salt as string));
    assert.ok(!JSON.stringify(p.sent).includes(String(lease?.lease_salt).slice(2)), 'no salt sent');
    assert.equal((await f.job(jobId)).status, 'running');
    assert.deepEqual(await f.eventTypes(jobId), ['job.running', 'task.assigned']);
    assert.equal(f.work.scheduler.active(p.address), 1);
  } finally {
    await f.close();
  }
});

test('dispatch stops at the free slots, leaves the rest queued in order, and skips draining providers', async () => {
  const f = await workFixture();
  try {
    const busy = await f.provider();
    const idle = await f.connected();
    await providerDraining(f.state, f.work, idle.address);
    await providerConnected(f.state, f.work, busy.link, busy.hello(1));
    await f.idle();
    const { taskIds } = await f.submitJob({ tasks: 3 });
    // Concurrent calls join the run in progress instead of leasing twice.
    await Promise.all([dispatch(f.state, f.work), dispatch(f.state, f.work)]);
    assert.equal(idle.assigned().length, 0, 'a draining provider takes no new work');
    assert.deepEqual(
      busy.assigned().map((a) => busy.taskOf(a)),
      [taskIds[0]],
      'one slot (a newcomer is trusted with one lease): the first task in queue order',
    );
    assert.equal((await f.task(taskIds[1]!)).status, 'queued');
    assert.equal((await f.task(taskIds[2]!)).status, 'queued');
  } finally {
    await f.close();
  }
});

test('a redundant task is leased to k different providers at once, as replicas', async () => {
  const f = await workFixture();
  try {
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    const a = await f.connected();
    const b = await f.connected();
    await f.idle();
    assert.equal(a.taskOf(a.assigned()[0]), taskIds[0]);
    assert.equal(b.taskOf(b.assigned()[0]), taskIds[0]);
    const leases = await f.assignments(taskIds[0]!);
    assert.deepEqual(new Set(leases.map((l) => l.provider)), new Set([a.address, b.address]));
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'assigned', 'every replica is out');
    assert.equal(task.attempts, 2);
    const assigned = await f.db
      .selectFrom('events')
      .select('data')
      .where('job_id', '=', jobId)
      .where('type', '=', 'task.assigned')
      .execute();
    // Public events name neither the role nor the provider of an open task's executions.
    assert.equal(assigned.length, 2);
    for (const e of assigned) assert.deepEqual(Object.keys(JSON.parse(e.data)).sort(), ['taskId']);
    const log = f.state.verifications.get(taskIds[0]!)!.log();
    assert.deepEqual(
      log.filter((e) => e.type === 'assign').map((e) => (e as { role: string }).role),
      ['replica', 'replica'],
    );
    assert.ok(f.state.verifications.has(taskIds[0]!), 'the verification is open in memory');
  } finally {
    await f.close();
  }
});

test('every redundant round gets a trusted member, drawn at random, while one is online', async () => {
  const f = await workFixture();
  try {
    const untrusted = await Promise.all([0, 1, 2, 3].map(() => f.provider()));
    for (const p of untrusted) await providerConnected(f.state, f.work, p.link, p.hello(1));
    const t = await f.provider();
    f.state.reputations.set(t.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 20,
      verifiedValid: 20,
    });
    await providerConnected(f.state, f.work, t.link, t.hello(2));
    // t is the most loaded (one of two slots busy): a least-loaded pick alone would pass it over.
    const others = new Set(untrusted.map((p) => p.address as string));
    assert.equal(
      f.work.scheduler.pick({ model: 'm', minMemoryMiB: 0, gpu: false, exclude: others }),
      t.address,
    );
    const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await f.idle();
    const leases = await f.assignments(taskIds[0]!);
    assert.equal(leases.length, 2);
    assert.ok(
      leases.some((l) => l.provider === t.address),
      'the trusted provider is one of the replicas',
    );
  } finally {
    await f.close();
  }
});

test('a redundant round waits for a busy trusted provider rather than seating only untrusted replicas', async () => {
  const f = await workFixture();
  try {
    const t = await f.provider();
    f.state.reputations.set(t.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 20,
      verifiedValid: 20,
    });
    await providerConnected(f.state, f.work, t.link, t.hello(1));
    // The trusted provider's only slot is taken by a plain task.
    const busy = await f.submitJob({ verification: { policy: 'none' } });
    await f.work.dispatch();
    await f.idle();
    assert.equal(t.taskOf(t.assigned()[0]), busy.taskIds[0]);
    const untrusted = await Promise.all([0, 1, 2].map(() => f.provider()));
    for (const p of untrusted) await providerConnected(f.state, f.work, p.link, p.hello(1));
    const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 3 } });
    await f.work.dispatch();
    await f.idle();
    assert.equal(
      (await f.assignments(taskIds[0]!)).length,
      0,
      'no replica seated while the trusted slot is busy',
    );
    // The trusted provider finishes: its slot goes to the redundant round first, then the rest.
    await handleResult(f.state, f.work, t.address, await t.result(t.assigned()[0]!, output(1)));
    await f.idle();
    const leases = await f.assignments(taskIds[0]!);
    assert.equal(leases.length, 3);
    assert.ok(
      leases.some((l) => l.provider === t.address),
      'the trusted provider is one of the replicas',
    );
  } finally {
    await f.close();
  }
});

test('pickFor: a trusted-only round falls back to the best-scored eligible provider', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const req = { model: 'm', minMemoryMiB: 0, gpu: false };
    // a's record is worse than b's (a fault): with no trusted provider, b is asked first.
    f.state.reputations.set(a.address, { ...newReputation(f.clock.t), beta: 10, faults: 3 });
    const picked = pickFor(f.state, f.work, req, {
      preferredExclude: new Set(),
      requiredExclude: new Set(),
      trustedOnly: true,
    });
    assert.equal(picked, b.address);
    // Excluded everywhere: nobody.
    const none = pickFor(f.state, f.work, req, {
      preferredExclude: new Set([a.address, b.address]),
      requiredExclude: new Set([a.address, b.address]),
      trustedOnly: false,
    });
    assert.equal(none, undefined);
  } finally {
    await f.close();
  }
});

test('a provider caught cheating is suspended: no real task and no canary until a review reverses its fault; a veteran with one fault is not', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const cheater = await f.connected();
    const veteran = await f.connected();
    const fault = (r: ReturnType<typeof newReputation>) => ({
      ...r,
      beta: r.beta + 4,
      faults: r.faults + 1,
      consecutiveValid: 0,
    });
    f.state.reputations.set(cheater.address, fault(newReputation(f.clock.t)));
    f.state.reputations.set(
      veteran.address,
      fault({ ...newReputation(f.clock.t), alpha: 60, consecutiveValid: 40, verifiedValid: 40 }),
    );
    const { taskIds } = await f.submitJob({ tasks: 3 });
    await f.work.dispatch();
    await f.idle();
    assert.equal(cheater.assigned().length, 0, 'the suspended provider got work');
    assert.equal(veteran.taskOf(veteran.assigned()[0]), taskIds[0], 'the veteran keeps working');
    // Its fault reversed on review (reputation reinstated): it takes work again.
    f.state.reputations.set(cheater.address, newReputation(f.clock.t));
    f.work.scheduler.refresh(cheater.address);
    await f.work.dispatch();
    await f.idle();
    assert.equal(cheater.assigned().length, 1);
  } finally {
    await f.close();
  }
});

test('a pipelined lease is stored and sent only with its commit; one whose provider left before the commit is not taken', async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    await f.idle();
    const { jobId, taskIds } = await f.submitJob({ tasks: 2 });
    const job = await jobInfo(f.state, f.work, jobId);
    assert.ok(job, 'the job is known');
    const pipeline: Promise<void>[] = [];
    const first = await leaseOne(f.state, f.work, await f.task(taskIds[0]!), job, pipeline);
    assert.deepEqual(first, { leased: true, more: false }, 'queued: leased unless the task changes');
    assert.equal(pipeline.length, 1, 'its transaction is queued, not awaited');
    const picked = f.work.scheduler.active(a.address) === 1 ? a : b;
    const other = picked === a ? b : a;
    assert.equal((await f.assignments(taskIds[0]!)).length, 0, 'nothing stored before the commit');
    assert.equal(picked.assigned().length, 0, 'nothing sent before the commit');
    // The provider leaves before the queued lease commits: its leases were shortened to a grace
    // that this one would miss, so it is not taken and the task stays queued for another.
    const left = providerDisconnected(f.state, f.work, picked.link);
    await Promise.all(pipeline);
    await left;
    assert.equal(picked.assigned().length, 0, 'no assignment to a provider that left');
    assert.equal((await f.assignments(taskIds[0]!)).length, 0, 'no lease stored');
    const task = await f.task(taskIds[0]!);
    assert.equal(task.status, 'queued', 'the task is still queued');
    assert.equal(task.attempts, 0, 'no attempt counted');
    // Leasing it again finds the one provider left; committed, the lease is sent.
    const again: Promise<void>[] = [];
    await leaseOne(f.state, f.work, task, job, again);
    await Promise.all(again);
    assert.equal(other.taskOf(other.assigned()[0]), taskIds[0], 'sent to the provider still connected');
    const [lease] = await f.assignments(taskIds[0]!);
    assert.equal(lease?.provider, other.address, 'stored with its commit');
  } finally {
    await f.close();
  }
});

test("a provider that drains stops earning uptime: its session is marked and the epoch's inputs carry it (review p9)", async () => {
  let real: Market | undefined;
  const market = new Proxy({} as Market, { get: (_t, k) => real![k as keyof Market] });
  const f = await workFixture({ market });
  try {
    const t0 = f.clock.t;
    real = createMarket({
      db: f.db,
      clock: createEpochClock(t0 - 1000, 3_600_000),
      log: createLogger('test', { level: 'silent' }),
      now: () => f.clock.t,
    });
    const idler = await f.connected();
    const worker = await f.connected();
    f.clock.t += 1_000;
    await providerDraining(f.state, f.work, idler.address);
    f.clock.t += 3_600_000;
    const inputs = await f.db
      .transaction()
      .execute((trx) => readStoreInputs(trx, real!, { epoch: 1, startsAt: t0, endsAt: t0 + 3_600_000 }));
    const of = (a: string) => inputs.sessions.find((s) => s.provider === a.toLowerCase());
    assert.equal(of(idler.address)?.drainingAt, t0 + 1_000, 'the drainer: its drain time in the inputs');
    assert.equal(of(worker.address)?.drainingAt, undefined, 'the worker: no drain');
    const cap = JSON.stringify({ proven: true, gflops: 10 });
    const e = computeProviderEmission({
      epoch: 1,
      startsAt: t0,
      endsAt: t0 + 3_600_000,
      closedAt: t0 + 3_600_000,
      emissionPerEpoch: 3_601n,
      sessions: inputs.sessions,
      faulted: [],
      activeOnChain: [idler.address.toLowerCase(), worker.address.toLowerCase()],
      providers: [idler, worker].map((p) => ({
        address: p.address.toLowerCase(),
        region: 'eu',
        hardware: { gpus: [], executionProviders: ['cpu'] } as never,
        capability: cap,
      })),
    });
    // Before: both connected the whole hour, 50 PLX each although the drainer refused all work.
    assert.equal(e.shares.get(idler.address.toLowerCase()), 1n, 'one second of uptime: 1 of 3,601');
    assert.equal(e.shares.get(worker.address.toLowerCase()), 3_600n);
  } finally {
    await f.close();
  }
});

test('a self-declared region earns no emission bonus: the epoch inputs carry no claimed region (review p9)', async () => {
  let real: Market | undefined;
  const market = new Proxy({} as Market, { get: (_t, k) => real![k as keyof Market] });
  const f = await workFixture({ market });
  try {
    const t0 = f.clock.t;
    real = createMarket({
      db: f.db,
      clock: createEpochClock(t0 - 1000, 3_600_000),
      log: createLogger('test', { level: 'silent' }),
      now: () => f.clock.t,
    });
    const honest = await f.provider();
    await providerConnected(f.state, f.work, honest.link, { ...honest.hello(1), region: 'eu' });
    const liar = await f.provider();
    await providerConnected(f.state, f.work, liar.link, { ...liar.hello(1), region: 'zz-nowhere' });
    f.clock.t += 3_600_000;
    const inputs = await f.db
      .transaction()
      .execute((trx) => readStoreInputs(trx, real!, { epoch: 1, startsAt: t0, endsAt: t0 + 3_600_000 }));
    const regions = new Set(inputs.providers.map((p) => p.region));
    assert.deepEqual([...regions], [UNVERIFIED_REGION], 'no claimed region reaches emission');
    const cap = JSON.stringify({ proven: true, gflops: 10 });
    const e = computeProviderEmission({
      ...inputs,
      epoch: 1,
      startsAt: t0,
      endsAt: t0 + 3_600_000,
      closedAt: t0 + 3_600_000,
      emissionPerEpoch: 100n,
      activeOnChain: [honest.address.toLowerCase(), liar.address.toLowerCase()],
      providers: inputs.providers.map((p) => ({ ...p, capability: cap })),
    });
    // Before: the liar's made-up region took the whole bonus (13.46 vs 9.6 PLX among ten).
    assert.deepEqual(
      [e.shares.get(honest.address.toLowerCase()), e.shares.get(liar.address.toLowerCase())],
      [50n, 50n],
      'equal capacity and uptime: equal shares whatever region is claimed',
    );
  } finally {
    await f.close();
  }
});
