/**
 * What a lease fixes when it is made and billing then keeps to: the class it is billed in (0052)
 * and the most it may bill, from the job's verified task size (0063). Real work loop, real market,
 * real capability proofs (with hardware classes sized down so a test can answer them).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import { solveCapabilityChallenge } from '../../protocol/capabilityChallenge.ts';
import type { CoordinatorMessage, HardwareClaim } from '../../protocol/schemas.ts';
import { BILLED_LEASE_SLACK_MS, BILLED_SIZE_SLACK } from '../market/constants.ts';
import { createMarket, type Market } from '../market/createMarket.ts';
import { createEpochClock } from '../market/epochClock.ts';
import { HARDWARE_CLASSES, type HardwareClass } from '../verification/capabilityProof.ts';
import { handleCommit, handleResult } from './results.ts';
import { providerConnected } from './sessions.ts';
import { output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/** Capability classes a test answers in microseconds (n = 8, one product, a minute of budget). */
const small = (c: HardwareClass): HardwareClass => ({ ...c, n: 8, k: 1, minGflops: 1e-6, slackMs: 60_000 });
const classes = Object.fromEntries(Object.entries(HARDWARE_CLASSES).map(([id, c]) => [id, small(c)]));

/** A fixture whose market is the real one (createMarket), in development mode (no chain). */
async function withMarket(): Promise<Fixture> {
  let real: Market | undefined;
  const market = new Proxy({} as Market, { get: (_t, k) => real![k as keyof Market] });
  const f = await workFixture({ market, capabilityClasses: classes });
  real = createMarket({
    db: f.db,
    clock: createEpochClock(f.clock.t - 1000, 3_600_000),
    log: createLogger('test', { level: 'silent' }),
    now: () => f.clock.t,
  });
  return f;
}

const gpuHardware = (name: string, memoryMiB: number): HardwareClaim => ({
  cpuModel: 'test',
  cpuCores: 4,
  memoryBytes: 8 * 1024 ** 3,
  gpus: [{ name, memoryMiB }],
  executionProviders: ['cuda', 'cpu'],
});

/** Answers the provider's open capability challenge correctly, at once. */
async function prove(f: Fixture, p: ScriptedProvider): Promise<void> {
  const ch = p.sent.findLast(
    (m): m is Extract<CoordinatorMessage, { type: 'capability' }> => m.type === 'capability',
  );
  assert.ok(ch, 'the provider was sent a capability challenge');
  const answer = solveCapabilityChallenge({ ...ch, k: ch.k ?? 1 });
  f.work.proofs.digest(p.address, { challengeId: ch.challengeId, digest: answer.digest });
  await f.work.proofs.answer(p.address, { challengeId: ch.challengeId, productCid: f.put(answer.product) });
}

/** Makes a submitted job billable (a client's cap) and, optionally, a GPU job. */
async function billable(f: Fixture, jobId: string, gpu: boolean): Promise<void> {
  const row = await f.job(jobId);
  const spec = JSON.parse(row.spec) as { resources: { gpu: boolean } };
  spec.resources.gpu = gpu;
  await f.db
    .updateTable('jobs')
    .set({ spec: JSON.stringify(spec), max_price: (10n ** 16n).toString() })
    .where('id', '=', jobId)
    .execute();
}

/** The memo of the charge of one assignment. */
async function chargeOf(f: Fixture, assignmentId: string) {
  const e = await f.db
    .selectFrom('ledger_entries')
    .select('memo')
    .where('ref', '=', `exec:${assignmentId}`)
    .executeTakeFirst();
  assert.ok(e, `assignment ${assignmentId} was charged`);
  return JSON.parse(e.memo) as { class: string; unitsMilli: string; sizeCapMilli?: string };
}

test('a lease is billed in the class it was made in: a reconnect mid-lease claiming an H100 bills nothing as an H100', async () => {
  const f = await withMarket();
  try {
    const p = await f.provider();
    const rtx = { ...p.hello(1), hardware: gpuHardware('NVIDIA GeForce RTX 3060', 12_288) };
    await providerConnected(f.state, f.work, p.link, rtx);
    await f.work.proofs.start(p.address, rtx.hardware);
    await prove(f, p);
    assert.equal(f.work.proofs.gpuTrusted(p.address), true, 'its RTX 3060 is proven');
    const { jobId, taskIds } = await f.submitJob({ tasks: 2 });
    await billable(f, jobId, true);
    await f.work.dispatch();
    await f.idle();
    const [lease] = p.assigned();
    assert.equal(f.taskOf(lease), taskIds[0], 'the proven RTX 3060 got the GPU task');
    const [row] = await f.assignments(taskIds[0]!);
    assert.equal(row?.lease_class, 'gpu:nvidia-geforce-rtx-3060', 'the lease stores its billing class');

    // Mid-lease it reconnects claiming an H100 (a dearer class), with the lease in flight and a
    // free slot: until a proof of the H100 passes it gets no GPU work at all.
    f.clock.t += 5_000;
    const h100 = {
      ...p.hello(2, [lease!.assignmentId]),
      hardware: gpuHardware('NVIDIA H100 80GB HBM3', 81_559),
    };
    await providerConnected(f.state, f.work, p.link, h100);
    await f.work.dispatch();
    await f.idle();
    assert.equal(f.work.proofs.gpuTrusted(p.address), false, 'the RTX 3060 proof does not vouch for an H100');
    assert.equal(p.assigned().length, 1, 'no GPU task leased on the unproven H100 claim');

    await handleResult(
      f.state,
      f.work,
      p.address,
      await p.result(lease!, output(1), undefined, { wallMs: 4_000, cpuMs: 4_000, peakRssBytes: 0 }),
    );
    await f.idle();
    const memo = await chargeOf(f, lease!.assignmentId);
    // Before: billed as 'gpu:nvidia-h100-80gb-hbm3', the class of the session at the verdict.
    assert.equal(memo.class, 'gpu:nvidia-geforce-rtx-3060', 'billed in the class it was leased in');
    assert.equal(memo.unitsMilli, '4000', 'its reported GPU time, inside the lease');
  } finally {
    await f.close();
  }
});

test("a lone unaudited execution bills at most BILLED_SIZE_SLACK × the job's verified task size, however long it held the result", async () => {
  const f = await withMarket();
  try {
    const model = f.put(new Uint8Array([1, 2, 3, 4]));
    // Two replicas verify the model's size (the fixture's agents report 10 ms of CPU).
    await f.submitJob({ model, verification: { policy: 'redundant', k: 2 } });
    const a = await f.connected();
    const b = await f.connected();
    await f.idle();
    const salt = `0x${'5a'.repeat(32)}` as const;
    for (const p of [a, b]) {
      const [x] = p.assigned();
      assert.ok(x, 'each replica got the task');
      await handleCommit(f.state, f.work, p.address, await p.commit(x, output(7), salt));
    }
    for (const p of [a, b])
      await handleResult(f.state, f.work, p.address, await p.result(p.assigned()[0]!, output(7), { salt }));
    await f.idle();
    // The same client's next job of that model, without verification: one execution, never checked.
    const { jobId, taskIds } = await f.submitJob({ model, taskTimeoutSec: 600 });
    await billable(f, jobId, false);
    await f.work.dispatch();
    await f.idle();
    const holder = [a, b].find((p) => p.assignedTo(taskIds[0]!).length > 0);
    assert.ok(holder, 'the unverified task was leased');
    const lease = holder.assignedTo(taskIds[0]!)[0]!;
    const [row] = await f.assignments(taskIds[0]!);
    const cap = 10n * BILLED_SIZE_SLACK; // the replicas reported the fixture's 10 ms each
    assert.equal(
      row?.size_cap_milli,
      cap.toString(),
      'the cap is fixed at lease time: slack × verified size',
    );
    // It holds the result back to just before the deadline and reports the whole lease, 4 cores busy.
    f.clock.t += 590_000;
    await handleResult(
      f.state,
      f.work,
      holder.address,
      await holder.result(lease, output(7), undefined, {
        wallMs: 590_000,
        cpuMs: 2_360_000,
        peakRssBytes: 0,
      }),
    );
    await f.idle();
    const memo = await chargeOf(f, lease.assignmentId);
    // Before: (590 s + 1 s slack) × 4 cores = 2,364,000 milli-units for a task verified at 10 ms.
    assert.equal(
      memo.unitsMilli,
      cap.toString(),
      `billed the cap, not (lease + ${BILLED_LEASE_SLACK_MS} ms) × 4 cores`,
    );
    assert.equal(
      memo.sizeCapMilli,
      cap.toString(),
      'the cap is in the charge memo (the validator applies it)',
    );
  } finally {
    await f.close();
  }
});
