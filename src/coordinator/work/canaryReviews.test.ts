import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { PlexusReader } from '../../chain/types.ts';
import { decodeSafetensors, encodeSafetensors } from '../../protocol/safetensors.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import { checkReinstatementFacts, checkReinstatementVerdicts } from '../../validator/checkReinstatements.ts';
import { readChainInputs } from '../settlement/readEpochInputs.ts';
import { readReputationJournal } from '../settlement/readRandomFacts.ts';
import { newReputation } from '../verification/reputation.ts';
import { openCanaryReview } from './canaryReviewQueries.ts';
import { reviewToCheck } from './canaryReviews.ts';
import { recordFault } from './faults.ts';
import {
  checkReview,
  commitAndReveal,
  knownToStore,
  output,
  type ScriptedProvider,
  workFixture,
} from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/** A reputation past the trust bar with a long record (`run` valid results in a row). */
const trusted = (t: number, run = 25) => ({
  ...newReputation(t),
  alpha: 40,
  consecutiveValid: run,
  verifiedValid: run,
});

/** A known-answer task whose known answer is `expected`, vouched for by `sources`. */
async function addCanary(f: Fixture, expected: TensorSet, sources: string[] = []): Promise<string> {
  const id = `canary-${randomBytes(4).toString('hex')}`;
  await f.db
    .insertInto('canary_tasks')
    .values({
      id,
      source_task_id: `0x${randomBytes(32).toString('hex')}`,
      source_job_id: `0x${randomBytes(32).toString('hex')}`,
      model: f.put(randomBytes(8)),
      input_cid: f.put(randomBytes(8)),
      gpu: 0,
      timeout_ms: 60_000,
      expected_digest: tensorSetDigest(expected),
      expected_cid: f.put(encodeSafetensors(expected)),
      issued: 0,
      retired: 0,
      created_at: f.clock.t,
    })
    .execute();
  for (const p of sources)
    await f.db.insertInto('canary_sources').values({ canary_id: id, provider: p }).execute();
  return id;
}

const setRate = (f: Fixture, rate: number) => {
  (f.state as { canaryRate: number }).canaryRate = rate;
};

/** Connects `p`'s slot to a fresh one-task job and returns the assignment it got (a canary here). */
async function takeSlot(f: Fixture, p: ScriptedProvider) {
  const before = p.assigned().length;
  await f.submitJob();
  await f.work.dispatch();
  await f.idle();
  const a = p.assigned()[before];
  assert.ok(a, 'the provider got an assignment');
  return a;
}

const answer = commitAndReveal;

const lease = (f: Fixture, id: string) =>
  f.db.selectFrom('canary_assignments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** Chain reads of an epoch close, as a stand-in: every provider active and well staked. */
const chain = {
  addresses: { registry: '0x0000000000000000000000000000000000000001' },
  publicClient: {
    async readContract(a: { functionName: string }) {
      if (a.functionName === 'isActive') return true;
      return {
        registeredAt: 1n,
        stake: 10n ** 24n,
        unbonding: 0n,
        unbondingReadyAt: 0n,
        capabilitiesDigest: `0x${'0'.repeat(64)}`,
        region: `0x${'0'.repeat(64)}`,
        uri: '',
      };
    },
  },
} as unknown as PlexusReader;

test('a poisoned canary: once a provider that vouched for it is proven faulty, a trusted check finds it wrong and the honest provider it faulted is made whole (slash withdrawn, reputation back); a provider wrong against both keeps its fault', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const ring = `0x${'a1'.repeat(20)}`;
    // The ring planted output(7) as the answer; the truth is output(3). Its members connected to
    // another replica: only the store knows them.
    await knownToStore(f, [ring, `0x${'a2'.repeat(20)}`]);
    const canaryId = await addCanary(f, output(7), [ring, `0x${'a2'.repeat(20)}`]);
    const victim = await f.connected();
    const victimRecord = { ...trusted(f.clock.t, 6), alpha: 8 };
    f.state.reputations.set(victim.address, victimRecord);
    const v = await takeSlot(f, victim);
    await answer(f, victim, v, output(3));
    const liar = await f.connected();
    const l = await takeSlot(f, liar);
    await answer(f, liar, l, output(9));
    assert.equal((await lease(f, v.assignmentId)).status, 'failed');
    assert.equal(f.state.reputations.get(victim.address)?.faults, 1);
    assert.equal(f.state.reputations.get(victim.address)?.consecutiveValid, 0);
    const slashes = await f.db.selectFrom('slashes').selectAll().orderBy('id').execute();
    assert.deepEqual(
      slashes.map((s) => s.provider),
      [victim.address, liar.address],
    );

    // A ring member is proven faulty elsewhere: every canary it vouched for is re-verified.
    setRate(f, 1e-12);
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: ring,
        taskId: `0x${randomBytes(32).toString('hex')}`,
        jobId: null,
        kind: 'capability',
        evidence: {},
      }),
    );
    const [opened] = await f.db.selectFrom('canary_reviews').selectAll().execute();
    assert.equal(opened?.canary_id, canaryId);
    assert.equal(opened?.reason, 'source-faulted');
    assert.equal(opened?.status, 'open');
    const retired = await f.db
      .selectFrom('canary_tasks')
      .select('retired')
      .where('id', '=', canaryId)
      .executeTakeFirst();
    assert.equal(retired?.retired, 1, 'a canary under review judges nobody');

    // An untrusted provider never checks; a trusted one's next slot does.
    const untrusted = await f.connected();
    const u = await takeSlot(f, untrusted);
    assert.equal(
      (await f.db.selectFrom('canary_assignments').select('id').where('id', '=', u.assignmentId).execute())
        .length,
      0,
    );
    const checker = await f.connected();
    f.state.reputations.set(checker.address, trusted(f.clock.t));
    const c = await takeSlot(f, checker);
    assert.equal((await lease(f, c.assignmentId)).canary_id, canaryId, 'the trusted slot went to the check');
    await answer(f, checker, c, output(3));

    // One check that finds the answer wrong reverses nothing: a second independent check must agree.
    let review = await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow();
    assert.deepEqual(
      [review.status, review.first_checked_by, review.check_lease_id],
      ['open', checker.address, null],
    );
    assert.deepEqual(
      await f.db.selectFrom('fault_reversals').selectAll().execute(),
      [],
      'nothing reversed yet',
    );
    assert.equal(f.state.reputations.get(victim.address)?.faults, 1);
    assert.equal(
      await reviewToCheck(f.state, f.work, checker.address),
      undefined,
      'the first checker never makes the second check',
    );
    const { checker: second } = await checkReview(f, output(3));

    review = await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow();
    assert.equal(review.status, 'poisoned');
    assert.equal(review.checked_by, second.address);
    const reversals = await f.db.selectFrom('fault_reversals').selectAll().execute();
    assert.deepEqual(
      reversals.map((r) => [r.provider, r.withdrawn, r.compensation, r.slash_id]),
      [[victim.address, 1, '0', slashes[0]?.id]],
    );
    const rep = f.state.reputations.get(victim.address);
    assert.equal(rep?.faults, 0);
    assert.equal(rep?.consecutiveValid, victimRecord.consecutiveValid, 'its run of valid results is back');
    assert.ok((rep?.beta ?? 99) < 1.01, `the fault's weight is off beta (${rep?.beta})`);
    assert.equal((await lease(f, v.assignmentId)).status, 'voided');
    assert.equal(
      (await lease(f, l.assignmentId)).status,
      'failed',
      'wrong against the check too: still a fault',
    );
    assert.equal(f.state.reputations.get(liar.address)?.faults, 1);
    const events = await f.eventTypes();
    assert.ok(events.includes('provider.reinstated'), "events.includes('provider.reinstated')");
    // The reinstatement journals its review (evidence version 7): both checks, signed, overturning.
    const journal = await f.db.transaction().execute((trx) => readReputationJournal(trx, 99));
    assert.deepEqual(
      journal
        .filter((e) => e.kind === 'reinstate')
        .map((e) => [e.provider, e.review?.firstCheck.provider, e.review?.check.provider]),
      [[victim.address, checker.address.toLowerCase(), second.address.toLowerCase()]],
      'the victim reinstated with both checks',
    );
    assert.equal(await checkReinstatementFacts(journal, f.work.chainId, true), null, 'the checks are signed');
    const read = async (cid: string) => decodeSafetensors(await f.work.blobs.read(cid));
    assert.equal(await checkReinstatementVerdicts(journal, read), null, 'and overturn the known answer');
    // The withdrawn slash is never applied by an epoch; the liar's still is.
    const inputs = await readChainInputs(f.db, chain, { epoch: 1, startsAt: 0, endsAt: f.clock.t + 1 });
    assert.deepEqual(
      inputs.slashRequests.map((r) => r.provider),
      [liar.address, ring],
    );
    assert.equal(
      (await f.db.selectFrom('canary_tasks').select('retired').where('id', '=', canaryId).executeTakeFirst())
        ?.retired,
      1,
    );
  } finally {
    await f.close();
  }
});

test('a canary miss by a provider with a long good record opens a re-verification instead of a fault; a trusted check that confirms the answer makes it the fault it was', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const canaryId = await addCanary(f, output(7));
    const veteran = await f.connected();
    f.state.reputations.set(veteran.address, trusted(f.clock.t));
    const m = await takeSlot(f, veteran);
    await answer(f, veteran, m, output(8));
    assert.equal((await lease(f, m.assignmentId)).status, 'review');
    assert.equal(f.state.reputations.get(veteran.address)?.faults, 0, 'no automatic fault');
    assert.deepEqual(await f.db.selectFrom('slashes').selectAll().execute(), []);
    const [open] = await f.db.selectFrom('canary_reviews').selectAll().execute();
    assert.equal(open?.reason, 'record-miss');
    assert.equal(open?.provider, veteran.address);

    setRate(f, 1e-12);
    const checker = await f.connected();
    f.state.reputations.set(checker.address, trusted(f.clock.t));
    const c = await takeSlot(f, checker);
    assert.equal((await lease(f, c.assignmentId)).canary_id, canaryId);
    await answer(f, checker, c, output(7));
    const review = await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow();
    assert.equal(review.status, 'confirmed');
    assert.equal((await lease(f, m.assignmentId)).status, 'failed');
    const faults = await f.db.selectFrom('verification_faults').selectAll().execute();
    assert.deepEqual(
      faults.map((x) => [x.provider, x.kind]),
      [[veteran.address, 'canary']],
    );
    assert.equal(JSON.parse(faults[0]!.evidence).review.checkedBy, checker.address);
    assert.equal((await f.db.selectFrom('slashes').selectAll().execute())[0]?.provider, veteran.address);
    assert.equal(f.state.reputations.get(veteran.address)?.faults, 1);
    const canary = await f.db
      .selectFrom('canary_tasks')
      .select('retired')
      .where('id', '=', canaryId)
      .executeTakeFirst();
    assert.equal(canary?.retired, 0, 'a confirmed canary goes back into the pool');
  } finally {
    await f.close();
  }
});

test('a veteran whose miss a trusted check agrees with is never faulted: the canary was poisoned', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    await addCanary(f, output(7));
    const veteran = await f.connected();
    f.state.reputations.set(veteran.address, trusted(f.clock.t));
    const m = await takeSlot(f, veteran);
    await answer(f, veteran, m, output(3));
    setRate(f, 1e-12);
    const checker = await f.connected();
    f.state.reputations.set(checker.address, trusted(f.clock.t));
    const c = await takeSlot(f, checker);
    await answer(f, checker, c, output(3));
    assert.equal((await lease(f, m.assignmentId)).status, 'review', 'one check decides nothing');
    await checkReview(f, output(3));
    assert.equal(
      (await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow()).status,
      'poisoned',
    );
    assert.equal((await lease(f, m.assignmentId)).status, 'voided');
    assert.deepEqual(await f.db.selectFrom('verification_faults').selectAll().execute(), []);
    assert.deepEqual(await f.db.selectFrom('slashes').selectAll().execute(), []);
    assert.equal(f.state.reputations.get(veteran.address)?.faults, 0);
    assert.equal(f.state.reputations.get(veteran.address)?.consecutiveValid, 26);
  } finally {
    await f.close();
  }
});

test('a record-miss review is opened at most once per canary: a second veteran miss joins the open review, and the trusted check resolves both', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const canaryId = await addCanary(f, output(7));
    const v1 = await f.connected();
    const v2 = await f.connected();
    f.state.reputations.set(v1.address, trusted(f.clock.t));
    f.state.reputations.set(v2.address, trusted(f.clock.t));
    // Both hold the canary before either misses it. Dispatch may hand either one its canary while
    // serving the other's job (both are connected): take each one's canary lease whenever it came.
    const canaryLeaseOf = async (p: ScriptedProvider) => {
      for (const a of p.assigned()) {
        const row = await f.db
          .selectFrom('canary_assignments')
          .select('canary_id')
          .where('id', '=', a.assignmentId)
          .executeTakeFirst();
        if (row?.canary_id === canaryId) return a;
      }
      return undefined;
    };
    let m1: Awaited<ReturnType<typeof canaryLeaseOf>>;
    let m2: typeof m1;
    for (let i = 0; i < 4 && !(m1 && m2); i++) {
      await f.submitJob();
      await f.work.dispatch();
      await f.idle();
      m1 ??= await canaryLeaseOf(v1);
      m2 ??= await canaryLeaseOf(v2);
    }
    assert.ok(m1 && m2, 'both providers hold the canary');
    await answer(f, v1, m1, output(8));
    await answer(f, v2, m2, output(8));
    const reviews = await f.db.selectFrom('canary_reviews').selectAll().execute();
    assert.equal(reviews.length, 1, 'one review for the canary');
    assert.equal((await lease(f, m2.assignmentId)).status, 'review', 'the second miss is held too');
    assert.deepEqual(await f.db.selectFrom('slashes').selectAll().execute(), []);

    setRate(f, 1e-12);
    const checker = await f.connected();
    f.state.reputations.set(checker.address, trusted(f.clock.t));
    await f.submitJob({ tasks: 4 });
    await f.work.dispatch();
    await f.idle();
    const [c] = checker.assigned();
    assert.ok(c, 'c');
    assert.equal((await lease(f, c.assignmentId)).canary_id, canaryId, 'the trusted slot went to the check');
    await answer(f, checker, c!, output(7));
    assert.equal(
      (await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow()).status,
      'confirmed',
    );
    const faults = await f.db.selectFrom('verification_faults').select('provider').execute();
    assert.deepEqual(faults.map((x) => x.provider).sort(), [v1.address, v2.address].sort());
    assert.equal((await lease(f, m2.assignmentId)).status, 'failed');
  } finally {
    await f.close();
  }
});

test('the store opens a record-miss review of a canary at most once (unique index)', async () => {
  const f = await workFixture();
  try {
    const canaryId = await addCanary(f, output(7));
    const first = await openCanaryReview(f.db, { canaryId, reason: 'record-miss' }, f.clock.t);
    const second = await openCanaryReview(f.db, { canaryId, reason: 'record-miss' }, f.clock.t);
    assert.ok(first, 'first');
    assert.equal(second, undefined);
    // Even a plain insert cannot add a second one.
    await assert.rejects(
      f.db
        .insertInto('canary_reviews')
        .values({
          id: 'review-dup',
          canary_id: canaryId,
          reason: 'record-miss',
          lease_id: null,
          provider: null,
          evidence: null,
          status: 'open',
          check_lease_id: null,
          checked_by: null,
          created_at: f.clock.t,
          resolved_at: null,
        })
        .execute(),
    );
    const rows = await f.db
      .selectFrom('canary_reviews')
      .selectAll()
      .where('canary_id', '=', canaryId)
      .execute();
    assert.equal(rows.length, 1);
  } finally {
    await f.close();
  }
});
