/**
 * Timeouts are journaled with their causes (timeoutCause.ts, migration 0031): on the coordinator's
 * own work loop (in-memory store), a redundant task whose first execution fails by the provider's
 * signed report and another whose lease runs out; the journal read for a bundle carries each
 * timeout's lease, deadline and signed failure, and the validator's check (checkTimeouts.ts) holds
 * for them and refuses them altered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLeases } from '../../validator/checkLeases.ts';
import { checkTimeouts } from '../../validator/checkTimeouts.ts';
import { checkLeaseResults } from '../../validator/checkUnpaidResults.ts';
import type { TimeoutCause } from '../settlement/epochFacts.ts';
import { readEndedLeases, readUnpaidResults } from '../settlement/readEndedLeases.ts';
import { readReputationJournal } from '../settlement/readRandomFacts.ts';
import { handleFailure, sweep } from './leases.ts';
import { handleResult } from './results.ts';
import { output, workFixture } from './workFixture.ts';

test("a failed and an expired execution are journaled as timeouts with their lease, deadline and the provider's signed failure", async () => {
  const f = await workFixture();
  try {
    const a = await f.connected();
    const b = await f.connected();
    const { taskIds } = await f.submitJob({
      verification: { policy: 'redundant', k: 2 },
      taskTimeoutSec: 10,
    });
    const taskId = taskIds[0]!;
    await f.work.dispatch();
    const paidB = b.assigned()[0]!;
    // b delivers; a reports a failure (signed); its slot goes to c, which lets its lease run out; then d.
    await handleResult(f.state, f.work, b.address, await b.result(b.assigned()[0]!, output(1)));
    const failed = a.assigned()[0]!;
    await handleFailure(f.state, f.work, a.address, await a.failure(failed));
    const c = await f.connected();
    await f.work.dispatch();
    const lapsed = c.assigned()[0];
    assert.ok(lapsed, 'c got the slot');
    f.clock.t += 11_000;
    await sweep(f.state, f.work);
    await f.idle();
    const d = await f.connected();
    await f.work.dispatch();
    const paidD = d.assigned()[0]!;
    await handleResult(f.state, f.work, d.address, await d.result(paidD, output(1)));
    await f.idle();
    assert.equal((await f.task(taskId)).status, 'completed');
    const journal = await f.db.transaction().execute((trx) => readReputationJournal(trx, 1));
    const timeouts = journal.filter((e) => e.kind === 'timeout');
    const of = (p: string) => timeouts.find((e) => e.provider === p.toLowerCase());
    const byA = of(a.address)?.cause as Extract<TimeoutCause, { lease: string }> | undefined;
    const byC = of(c.address)?.cause as Extract<TimeoutCause, { lease: string }> | undefined;
    assert.ok(byA?.failure, "a's timeout carries its signed failure");
    assert.equal(byA.lease, failed.assignmentId);
    assert.equal(byA.task, taskId);
    assert.ok(byC, "c's timeout carries its lease");
    assert.equal(byC.code, 'PLX_LEASE_EXPIRED');
    assert.equal(byC.timeoutSec, 10);
    assert.ok(byC.endedAt >= byC.leasedAt + 10_000, 'ended past its deadline');
    const facts = { jobs: [], charges: [], canaries: [], reputation: journal };
    const strict = { causesRequired: true, legacyAllowed: false };
    assert.equal(await checkTimeouts(facts as never, f.work.chainId, strict), null);
    // Altered: a's failure moved to another lease, c's lease ended early.
    const i = journal.findIndex((e) => e.cause === byA);
    const moved = journal.map((e) => (e.cause === byA ? { ...e, cause: { ...byA, lease: byC.lease } } : e));
    const early = journal.map((e) =>
      e.cause === byC ? { ...e, cause: { ...byC, endedAt: byC.leasedAt + 9_000 } } : e,
    );
    const r1 = await checkTimeouts({ ...facts, reputation: moved } as never, f.work.chainId, strict);
    assert.equal(r1?.fact, `reputation[${i}].failure`);
    const r2 = await checkTimeouts({ ...facts, reputation: early } as never, f.work.chainId, strict);
    assert.match(r2?.fact ?? '', /\.deadline$/);
    // Evidence version 6 (0037): the ended leases the same close lists are what the causes name; the
    // validator (checkLeases.ts) accepts the honest journal, and refuses it with c's timeout left
    // out (c was leased after b's paid result) once the task is paid.
    const ended = await f.db.transaction().execute((trx) => readEndedLeases(trx, 1));
    assert.deepEqual(
      ended.map((l) => l.lease).sort(),
      [paidB.assignmentId, failed.assignmentId, lapsed.assignmentId, paidD.assignmentId].sort(),
      'every ended lease, once',
    );
    assert.equal(
      (await f.db.transaction().execute((trx) => readEndedLeases(trx, 2))).length,
      0,
      'reported once',
    );
    const charges = [
      { taskId, provider: b.address, assignmentId: paidB.assignmentId },
      { taskId, provider: d.address, assignmentId: paidD.assignmentId },
    ];
    const inputs = { closedAt: f.clock.t, endsAt: f.clock.t };
    const bundle = { ...facts, charges, slashes: [], endedLeases: ended };
    const honest = checkLeases(bundle as never, inputs, undefined);
    assert.ok(!('fact' in honest), `the honest listing holds: ${JSON.stringify(honest)}`);
    const spared = journal.filter((e) => e.cause !== byC);
    const r3 = checkLeases({ ...bundle, reputation: spared } as never, inputs, undefined);
    assert.equal('fact' in r3 ? r3.fact : null, `endedLease[${lapsed.assignmentId.toLowerCase()}].timeout`);
    // Version 7: the paying bundle carries the signed result of a lease on the task it does not pay
    // (none when both are paid); the validator verifies its signature.
    const unpaid = (paid: typeof charges) =>
      f.db.transaction().execute((trx) => readUnpaidResults(trx, paid as never, []));
    assert.deepEqual(await unpaid(charges), [], 'both results paid: nothing more');
    const left = await unpaid([charges[0]!]);
    assert.deepEqual(
      left.map((u) => [u.lease, u.provider]),
      [[paidD.assignmentId, d.address.toLowerCase()]],
      "d's result, unpaid",
    );
    const sig = await checkLeaseResults(
      { jobs: [], charges: [], slashes: [], unpaidResults: left },
      f.work.chainId,
      [],
    );
    assert.equal(sig, null, 'signed by d over its lease');
  } finally {
    await f.close();
  }
});
