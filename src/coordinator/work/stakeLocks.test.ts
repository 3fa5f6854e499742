import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newReputation } from '../verification/reputation.ts';
import { sweep } from './leases.ts';
import { handleResult } from './results.ts';
import { providerConnected } from './sessions.ts';
import { freeStake, invalidateStake, lockAmount } from './stakeLocks.ts';
import { output, workFixture } from './workFixture.ts';

// R = 1,000,000 (the placeholder reward), so one lease locks k·R = 20,000,000.
const R = 1_000_000n;

test('a lease locks k × its pay from the stake: a provider holds only as much work as its stake covers, and the verdict releases the lock', async () => {
  // 50·R of stake: two leases (40·R locked), not three, whatever its slots.
  const f = await workFixture({ verification: { stake: 50n * R } });
  try {
    const p = await f.provider();
    // A long good record: the reputation-limited scheduler lets it use all its slots.
    f.state.reputations.set(p.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 20,
      verifiedValid: 20,
    });
    await providerConnected(f.state, f.work, p.link, p.hello(4));
    const { taskIds } = await f.submitJob({ tasks: 3, verification: { policy: 'none' } });
    await f.work.dispatch();
    await f.idle();
    assert.equal(p.assigned().length, 2, 'two leases: the third would lock more than the free stake');
    const locks = await f.db.selectFrom('stake_locks').selectAll().orderBy('created_at').execute();
    assert.equal(locks.length, 2);
    for (const l of locks) {
      assert.equal(l.provider, p.address);
      assert.equal(l.status, 'locked');
      assert.equal(BigInt(l.amount), lockAmount(R));
    }
    assert.equal(await freeStake(f.state, f.work, p.address), 10n * R);
    assert.equal((await f.task(taskIds[2]!)).status, 'queued');
    // A verdict (accepted) releases its lease's lock: the third task is leased.
    await handleResult(f.state, f.work, p.address, await p.result(p.assigned()[0]!, output(1)));
    await f.idle();
    const first = await f.db
      .selectFrom('stake_locks')
      .selectAll()
      .where('assignment_id', '=', p.assigned()[0]!.assignmentId)
      .executeTakeFirstOrThrow();
    assert.equal(first.status, 'released');
    assert.equal(p.assigned().length, 3);
    assert.equal(f.taskOf(p.assigned()[2]), taskIds[2]);
  } finally {
    await f.close();
  }
});

test('a fault slashes the lease’s lock, and the slash counts against the stake until the chain applies it', async () => {
  const f = await workFixture({ verification: { stake: 50n * R } });
  try {
    const ps = await Promise.all([0, 1, 2].map(() => f.provider()));
    for (const p of ps) await providerConnected(f.state, f.work, p.link, p.hello(1));
    const [a, b, liar] = ps as [(typeof ps)[0], (typeof ps)[0], (typeof ps)[0]];
    // `a` is trusted: an untrusted head count would fault nobody (ground truth, taskVerification.ts).
    f.state.reputations.set(a.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 20,
      verifiedValid: 20,
    });
    const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 3 } });
    await f.work.dispatch();
    await f.idle();
    for (const p of ps) assert.equal(p.taskOf(p.assigned()[0]), taskIds[0]);
    await handleResult(f.state, f.work, a.address, await a.result(a.assigned()[0]!, output(1)));
    await handleResult(f.state, f.work, liar.address, await liar.result(liar.assigned()[0]!, output(9)));
    await handleResult(f.state, f.work, b.address, await b.result(b.assigned()[0]!, output(1)));
    await f.idle();
    const locks = await f.db.selectFrom('stake_locks').selectAll().execute();
    assert.equal(locks.length, 3);
    const byProvider = new Map(locks.map((l) => [l.provider, l]));
    assert.equal(byProvider.get(liar.address)?.status, 'slashed');
    assert.equal(byProvider.get(a.address)?.status, 'released');
    assert.equal(byProvider.get(b.address)?.status, 'released');
    const slash = await f.db
      .selectFrom('slashes')
      .selectAll()
      .where('provider', '=', liar.address)
      .executeTakeFirstOrThrow();
    assert.equal(BigInt(slash.amount), lockAmount(R), 'the slash is the lock');
    assert.equal(await freeStake(f.state, f.work, liar.address), 30n * R);
    assert.equal(await freeStake(f.state, f.work, a.address), 50n * R);
    // Applied on chain by an epoch (marked with it, writeEpoch.ts): no longer counted here.
    const applied = async (id: number, epoch: number | null) => {
      await f.db.updateTable('slashes').set({ applied_epoch: epoch }).where('id', '=', id).execute();
      invalidateStake(f.state, liar.address);
    };
    await applied(slash.id, 1);
    assert.equal(await freeStake(f.state, f.work, liar.address), 50n * R, 'applied on chain');
    await applied(slash.id, null);
    assert.equal(await freeStake(f.state, f.work, liar.address), 30n * R, 'pending again (epoch reopened)');
    // Withdrawn on review before any epoch applied it: not counted either.
    await f.db
      .insertInto('fault_reversals')
      .values({
        provider: liar.address,
        task_id: taskIds[0]!,
        slash_id: slash.id,
        withdrawn: 1,
        compensation: '0',
        reason: 'test',
        evidence: '{}',
        created_at: f.clock.t,
      })
      .execute();
    invalidateStake(f.state, liar.address);
    assert.equal(await freeStake(f.state, f.work, liar.address), 50n * R, 'withdrawn on review');
  } finally {
    await f.close();
  }
});

test('a lease that ends without a commitment releases its lock (a timeout is not a fault)', async () => {
  const f = await workFixture({ verification: { stake: 50n * R } });
  try {
    const p = await f.connected();
    await f.submitJob({ verification: { policy: 'none' }, taskTimeoutSec: 30 });
    await f.work.dispatch();
    await f.idle();
    assert.equal(p.assigned().length, 1);
    f.clock.t += 31_000;
    await sweep(f.state, f.work);
    const [l] = await f.db.selectFrom('stake_locks').selectAll().execute();
    assert.equal(l?.status, 'released');
  } finally {
    await f.close();
  }
});
