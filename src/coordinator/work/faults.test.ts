import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordFault, recordOutcome } from './faults.ts';
import { providerConnected } from './sessions.ts';
import { workFixture } from './workFixture.ts';

test('recordOutcome moves the stored reputation and the scheduler’s limit follows it', async () => {
  const f = await workFixture();
  try {
    const p = await f.provider();
    await providerConnected(f.state, f.work, p.link, p.hello(8));
    assert.equal(f.work.scheduler.freeSlots(), 1, 'a newcomer is trusted with one lease');
    await f.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 6; i++) await recordOutcome(f.state, f.work, trx, p.address.toUpperCase(), 'valid');
    });
    const rep = f.state.reputations.get(p.address);
    assert.equal(rep?.verifiedValid, 6);
    assert.equal(rep?.consecutiveValid, 6);
    const row = await f.db
      .selectFrom('providers')
      .selectAll()
      .where('address', '=', p.address)
      .executeTakeFirst();
    assert.deepEqual(JSON.parse(row!.reputation!), rep);
    assert.ok(f.work.scheduler.freeSlots() > 1, 'verified work earns more concurrent leases');
  } finally {
    await f.close();
  }
});

test('recordFault writes the fault, a slash of the slashable amount, a failure count and an event', async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: p.address,
        taskId: '0xfeed',
        jobId: null,
        kind: 'capability',
        evidence: { reason: 'wrong product' },
      }),
    );
    const [fault] = await f.db.selectFrom('verification_faults').selectAll().execute();
    assert.equal(fault?.provider, p.address);
    assert.equal(fault?.kind, 'capability');
    assert.equal(fault?.job_id, '');
    assert.deepEqual(JSON.parse(fault!.evidence), { reason: 'wrong product' });
    const [slash] = await f.db.selectFrom('slashes').selectAll().execute();
    assert.equal(slash?.amount, f.state.slashable.toString());
    assert.ok(f.state.slashable > 0n, 'f.state.slashable > 0n');
    const row = await f.db
      .selectFrom('providers')
      .selectAll()
      .where('address', '=', p.address)
      .executeTakeFirst();
    assert.equal(row?.tasks_failed, 1);
    assert.equal(f.state.reputations.get(p.address)?.faults, 1);
    const [event] = await f.db
      .selectFrom('events')
      .selectAll()
      .where('type', '=', 'provider.faulted')
      .execute();
    assert.deepEqual(JSON.parse(event!.data), {
      provider: p.address,
      taskId: '0xfeed',
      kind: 'capability',
      slashed: f.state.slashable.toString(),
    });
  } finally {
    await f.close();
  }
});
