/**
 * A caught provider's delivered outputs of jobs that already ended (recheckCaught.ts
 * `reviewEndedOutputs`, `revokeOverturnedOutput`): they are not reopened (delivered, billed) but
 * re-verified by independently drawn trusted providers; two checks that agree with each other and
 * not with the delivered output revoke it — the client is told (`output.revoked`, `revoked` on the
 * task) and sees the replacement. And a long record caught twice in quick succession is suspended
 * (reputation.ts `isSuspended`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { checkCompensationEntry, checkCompensationVerdicts } from '../../validator/checkCompensations.ts';
import { revokedOutputsOf } from '../jobs/jobQueries.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { Market } from '../market/createMarket.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { newReputation } from '../verification/reputation.ts';
import { recordFault } from './faults.ts';
import { payOwedCompensations } from './reviewCompensations.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { commitAndReveal, idleMarket, output, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/** A market as far as the review's money needs one: the ledger's current epoch. */
const fakeMarket = idleMarket({ currentEpoch: async () => 7 });

const longRecord = (t: number) => ({
  ...newReputation(t),
  alpha: 60,
  consecutiveValid: 50,
  verifiedValid: 50,
});

const caughtOnCanary = (f: Fixture, provider: string, tag: string) =>
  f.db.transaction().execute((trx) =>
    recordFault(f.state, f.work, trx, {
      provider,
      taskId: `0x${tag.repeat(32)}`,
      jobId: null,
      kind: 'canary',
      evidence: { reason: 'wrong known answer' },
    }),
  );

/**
 * Trusted checkers, one fresh provider at a time (one slot each), take the review checks their
 * slots are drawn for and answer the truth of the lease's input, until no review is open (at most
 * `max` rounds). Returns who made each check.
 */
async function checkOpenReviews(f: Fixture, truthOfInput: Map<string, TensorSet>, max: number) {
  const checkers: Awaited<ReturnType<Fixture['provider']>>[] = [];
  const answered = new Set<string>();
  const checks: string[] = [];
  for (let i = 0; i < max; i++) {
    // Every review check leased so far (a checker's freed slot may take the next one) is answered.
    for (const c of checkers)
      for (const lease of c.assigned()) {
        const truth = truthOfInput.get(lease.input);
        if (!truth || answered.has(lease.assignmentId)) continue;
        answered.add(lease.assignmentId);
        await commitAndReveal(f, c, lease, truth);
        checks.push(c.address);
      }
    const open = await f.db.selectFrom('canary_reviews').select('id').where('status', '=', 'open').execute();
    if (open.length === 0) break;
    const checker = await f.provider();
    f.state.reputations.set(checker.address, { ...longRecord(f.clock.t), alpha: 40, consecutiveValid: 25 });
    await providerConnected(f.state, f.work, checker.link, checker.hello(1));
    checkers.push(checker);
    await f.submitJob({ tasks: 1 });
    await f.work.dispatch();
    await f.idle();
  }
  return checks;
}

/**
 * A long-record cheater alone online (nothing audited) delivers a wrong answer for task 0 and the
 * right one for task 1 of an audited job that ends; it leaves. `beforeCaught` runs before it is
 * caught on a canary.
 */
async function endedJobOfCheater(
  f: Fixture,
  beforeCaught?: (cheater: string, jobId: string, taskIds: string[]) => Promise<void>,
) {
  const cheater = await f.provider();
  f.state.reputations.set(cheater.address, longRecord(f.clock.t));
  await providerConnected(f.state, f.work, cheater.link, cheater.hello(2));
  const { jobId, taskIds } = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
  await f.work.dispatch();
  await f.idle();
  const truth = [output(3), output(4)];
  const delivered = [output(9), output(4)];
  for (const [i, id] of taskIds.entries()) {
    await commitAndReveal(f, cheater, cheater.assignedTo(id)[0]!, delivered[i]!);
  }
  await f.idle();
  assert.equal((await f.job(jobId)).status, 'completed', 'the job ended with both outputs delivered');
  const deliveredCids = await Promise.all(taskIds.map(async (id) => (await f.task(id)).output_cid));
  await providerDisconnected(f.state, f.work, cheater.link);
  await beforeCaught?.(cheater.address, jobId, taskIds);
  await caughtOnCanary(f, cheater.address, 'c1');
  const truthOfInput = new Map<string, TensorSet>();
  for (const [i, id] of taskIds.entries()) truthOfInput.set((await f.task(id)).input_cid, truth[i]!);
  return { cheater: cheater.address, jobId, taskIds, deliveredCids, truthOfInput };
}

test("attacker: a caught provider's wrong output of a job that already ended is re-verified and revoked by two independent trusted checks (client told, replacement shown); its right one stands", async () => {
  const f = await workFixture({ canaries: { rate: 1e-12 } });
  try {
    // It delivered, left, and is caught later (a long record: one fault does not suspend it).
    const { cheater, jobId, taskIds, deliveredCids, truthOfInput } = await endedJobOfCheater(f);
    assert.deepEqual(
      await Promise.all(taskIds.map(async (id) => (await f.task(id)).status)),
      ['completed', 'completed'],
      'an ended job is not reopened',
    );
    const reviews = await f.db
      .selectFrom('canary_reviews as r')
      .innerJoin('canary_tasks as c', 'c.id', 'r.canary_id')
      .select(['c.source_task_id', 'c.retired', 'r.reason', 'r.status'])
      .execute();
    assert.deepEqual(
      reviews.map((r) => [r.source_task_id, r.retired, r.reason, r.status]).sort(),
      taskIds.map((id) => [id, 1, 'source-faulted', 'open']).sort(),
      'each delivered unchecked output is under review, as a known answer that never circulates',
    );
    const checkers = await checkOpenReviews(f, truthOfInput, 8);
    assert.equal(checkers.length, 3, `two checks for the wrong output, one for the right one (${checkers})`);
    assert.ok(!checkers.includes(cheater), 'the caught provider checks nothing');
    const revoked = await revokedOutputsOf(f.db, jobId);
    assert.deepEqual([...revoked.keys()], [taskIds[0]], 'only the wrong output is revoked');
    const r0 = revoked.get(taskIds[0]!)!;
    assert.equal(r0.checkedBy.length, 2, 'by two checkers');
    assert.notEqual(r0.checkedBy[0], r0.checkedBy[1], 'two independent checkers');
    const [event] = await f.db
      .selectFrom('events')
      .select('data')
      .where('type', '=', 'output.revoked')
      .where('job_id', '=', jobId)
      .execute();
    assert.ok(event, 'the client is told on its job stream');
    const data = JSON.parse(event.data) as Record<string, unknown>;
    assert.deepEqual(
      [data.taskId, data.provider, data.revoked, data.replacement],
      [taskIds[0], cheater, deliveredCids[0], r0.replacement],
      'which task, whose output, and its replacement',
    );
    assert.notEqual(r0.replacement, deliveredCids[0], 'the replacement is the checks’ output');
    const t0 = await f.task(taskIds[0]!);
    assert.equal(t0.output_cid, deliveredCids[0], 'the task keeps the output its provider signed (evidence)');
  } finally {
    await f.close();
  }
});

test("the client of a revoked output is refunded its charge from the caught provider's seized stake, and a validator's compensation checks pass", async () => {
  const f = await workFixture({ canaries: { rate: 1e-12 } });
  try {
    const client = `0x${'c1'.repeat(20)}`;
    let slashed = 0n;
    const { cheater, jobId, taskIds, truthOfInput } = await endedJobOfCheater(
      f,
      async (provider, job, ids) => {
        // The job's end billed both unchecked outputs (deferred billing): 1000 each, 950 to it.
        for (const id of ids) {
          const e = await f.db
            .selectFrom('task_executions')
            .select('assignment_id')
            .where('task_id', '=', id)
            .executeTakeFirstOrThrow();
          await postEntry(f.db, {
            ref: `exec:${e.assignment_id}`,
            kind: 'charge',
            epoch: 6,
            jobId: job,
            memo: { taskId: id, provider },
            postings: [
              { account: accounts.clientUnsettled(client), amount: 1000n },
              { account: accounts.providerEarnings(provider), amount: -950n },
              { account: accounts.protocolFees, amount: -50n },
            ],
          });
        }
        await f.db.updateTable('jobs').set({ client }).where('id', '=', job).execute();
      },
    );
    // An epoch applied its slash: its seized stake funds the refund.
    slashed = 5000n;
    await postEntry(f.db, {
      ref: `epoch:7:slash:${cheater}`,
      kind: 'slash',
      epoch: 7,
      postings: [
        { account: accounts.settlement, amount: slashed },
        { account: accounts.providerSlashed(cheater), amount: -slashed },
      ],
    });
    (f.work as { market?: Market }).market = fakeMarket;
    const checks = await checkOpenReviews(f, truthOfInput, 8);
    await payOwedCompensations(f.work); // the sweep: checkers' pay waits for the refund
    const b = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(
      b.get(accounts.refunds(client)),
      -1000n,
      'the wrong output’s charge back, the right one’s kept',
    );
    // Every review check is paid like an audit of the output (its 950 provider amount), from the
    // cheater's seized stake too (checkerPay.ts): one for the right output, two for the wrong one.
    assert.equal(checks.length, 3, 'three review checks');
    assert.equal(
      b.get(accounts.providerSlashed(cheater)),
      -slashed + 1000n + 3n * 950n,
      'from the cheater’s seized stake',
    );
    const entries = await f.db
      .selectFrom('ledger_entries')
      .select(['id', 'ref', 'kind', 'memo'])
      .where('kind', '=', 'compensation')
      .orderBy('id')
      .execute();
    assert.equal(entries[0]?.ref, `review:${taskIds[0]}:refund`, 'the refund is paid first');
    assert.deepEqual(
      entries.map((e) => e.ref).filter((r) => r.includes(':check:')).length,
      3,
      'and the three checks',
    );
    for (const c of checks)
      assert.equal(
        b.get(accounts.providerEarnings(c)) ?? 0n,
        -950n * BigInt(checks.filter((x) => x === c).length),
      );
    const facts: EntryFact[] = [];
    for (const e of entries) {
      const postings = await f.db
        .selectFrom('ledger_postings')
        .select(['account', 'amount'])
        .where('entry_id', '=', e.id)
        .orderBy('id')
        .execute();
      facts.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
    }
    for (const e of facts)
      assert.equal(await checkCompensationEntry(e, 31337, b), null, `the evidence of ${e.ref} holds`);
    const read = async (cid: string) => decodeSafetensors(await f.work.blobs.read(cid));
    assert.equal(await checkCompensationVerdicts(facts, read), null, 'the outputs re-derive the revocation');
    const [event] = await f.db
      .selectFrom('events')
      .select('data')
      .where('type', '=', 'output.revoked')
      .where('job_id', '=', jobId)
      .execute();
    assert.equal(
      (JSON.parse(event!.data) as { refund: boolean }).refund,
      true,
      'the event says it is refunded',
    );
  } finally {
    await f.close();
  }
});

test('attacker: a long-record provider caught twice in quick succession is suspended (no work at all), where one fault only sends it back to probation', async () => {
  const f = await workFixture();
  try {
    const cheater = await f.provider();
    f.state.reputations.set(cheater.address, longRecord(f.clock.t));
    await providerConnected(f.state, f.work, cheater.link, cheater.hello(2));
    await caughtOnCanary(f, cheater.address, 'd1');
    await f.submitJob({ tasks: 1, verification: { policy: 'audit' } });
    await f.work.dispatch();
    await f.idle();
    assert.equal(cheater.assigned().length, 1, 'after one fault a long record still gets work');
    // It passes a check (a verified result since), then is caught again the same day.
    f.state.reputations.set(cheater.address, {
      ...f.state.reputations.get(cheater.address)!,
      consecutiveValid: 1,
      verifiedValid: 51,
    });
    await caughtOnCanary(f, cheater.address, 'd2');
    const before = cheater.assigned().length;
    await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    await f.work.dispatch();
    await f.idle();
    assert.equal(cheater.assigned().length, before, 'suspended after the second fault: nothing leased');
  } finally {
    await f.close();
  }
});
