import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { workFixture } from './workFixture.ts';

test('connect stores the provider and joins the scheduler; disconnect gives its leases a grace, once', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    await f.idle();
    const row = await f.db
      .selectFrom('providers')
      .selectAll()
      .where('address', '=', p.address)
      .executeTakeFirst();
    assert.equal(row?.connected, 1);
    assert.equal(row?.slots, 1);
    assert.equal(f.state.links.get(p.address), p.link);
    assert.deepEqual(await f.eventTypes(), ['provider.connected']);

    const { taskIds } = await f.submitJob({ taskTimeoutSec: 600 });
    await f.work.dispatch();
    assert.equal(p.assigned().length, 1);

    // A newer session replaces the link; the old session's disconnect changes nothing.
    const newer = { ...p.link };
    await providerConnected(f.state, f.work, newer, p.hello(1, [p.assigned()[0]!.assignmentId]));
    await providerDisconnected(f.state, f.work, p.link);
    assert.equal(f.state.links.get(p.address), newer);
    assert.equal((await f.assignments(taskIds[0]!))[0]?.status, 'leased', 'an in-flight lease is kept');

    f.clock.t += 1000;
    await providerDisconnected(f.state, f.work, newer);
    assert.equal(f.state.links.size, 0);
    const after = await f.db
      .selectFrom('providers')
      .selectAll()
      .where('address', '=', p.address)
      .executeTakeFirst();
    assert.equal(after?.connected, 0);
    const [lease] = await f.assignments(taskIds[0]!);
    assert.equal(lease?.status, 'leased');
    assert.equal(lease?.lease_expires_at, f.clock.t + DISCONNECT_GRACE_SEC * 1000, 'shortened to the grace');
    const types = await f.eventTypes();
    assert.equal(types.filter((t) => t === 'provider.disconnected').length, 1);
    assert.equal(f.work.scheduler.freeSlots(), 0, 'a disconnected provider has no slots');
  } finally {
    await f.close();
  }
});

test('a provider that reconnects without a lease it held loses it: the task is retried', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { jobId, taskIds } = await f.submitJob();
    await f.work.dispatch();
    const [first] = p.assigned();
    assert.ok(first, 'first');
    // Reconnects (e.g. the assign message died with a coordinator restart) with nothing in flight.
    await providerConnected(f.state, f.work, p.link, p.hello(1, []));
    await f.idle();
    const leases = await f.assignments(taskIds[0]!);
    assert.equal(leases[0]?.status, 'expired');
    assert.equal(leases[0]?.error_code, 'PLX_LEASE_LOST');
    const types = await f.eventTypes(jobId);
    assert.ok(types.includes('task.retry'), "types.includes('task.retry')");
    // Back in the queue and leased again to the only provider (a second attempt of three).
    assert.equal(leases.length, 2);
    assert.equal(leases[1]?.status, 'leased');
    assert.equal((await f.task(taskIds[0]!)).attempts, 2);
    assert.equal(p.assigned().length, 2);
  } finally {
    await f.close();
  }
});
