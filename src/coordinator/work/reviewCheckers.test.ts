import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hashUnit } from '../../protocol/rng.ts';
import { checkCheckerDraw } from '../../validator/checkCheckerDraw.ts';
import { newReputation } from '../verification/reputation.ts';
import { reviewToCheck } from './canaryReviews.ts';
import { recordFault } from './faults.ts';
import { CHECKER_PRIORITY_MS } from './reviewCheckers.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { knownToStore, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/**
 * What the validator re-derives of a drawn check (evidence version 12, checkCheckerDraw.ts): null
 * when the checker is the one the recorded draw picks.
 */
const validatorSees = (drawn: Awaited<ReturnType<typeof reviewToCheck>>, checker: string) =>
  drawn
    ? checkCheckerDraw(
        'check',
        checker,
        { ...drawn.drawn.basis, epoch: drawn.drawn.basis.epoch ?? 1 },
        true,
        undefined,
      )
    : { fact: 'not drawn' };
// (The fixture runs without a market, so its draws have no epoch: only a coordinator with epochs
// publishes bundles, whose bases name theirs, checked by checkerDrawEpoch.test.ts.)

const trustedRecord = (t: number) => ({
  ...newReputation(t),
  alpha: 40,
  consecutiveValid: 25,
  verifiedValid: 25,
});

/** A trusted provider connected to this replica from `ip`. */
async function trustedFrom(f: Fixture, ip?: string) {
  const p = await f.provider();
  f.state.reputations.set(p.address, trustedRecord(f.clock.t));
  await providerConnected(f.state, f.work, p.link, { ...p.hello(1), ...(ip ? { remoteAddress: ip } : {}) });
  return p;
}

/** An open source-faulted review of a canary whose source verdict outvoted (and faulted) `outvoted`. */
async function openReview(f: Fixture, outvoted: string, sources: string[] = []) {
  const sourceTask = `0x${randomBytes(32).toString('hex')}`;
  await f.db.transaction().execute((trx) =>
    recordFault(f.state, f.work, trx, {
      provider: outvoted,
      taskId: sourceTask,
      jobId: null,
      kind: 'outvoted',
      evidence: {},
    }),
  );
  const t = f.clock.t;
  await f.db
    .insertInto('canary_tasks')
    .values({
      id: 'canary-1',
      source_task_id: sourceTask,
      source_job_id: 'job-1',
      model: 'm'.repeat(64),
      input_cid: 'i'.repeat(64),
      gpu: 0,
      timeout_ms: 60_000,
      expected_digest: 'd',
      expected_cid: 'e'.repeat(64),
      issued: 0,
      retired: 1,
      created_at: t,
    })
    .execute();
  for (const p of sources)
    await f.db.insertInto('canary_sources').values({ canary_id: 'canary-1', provider: p }).execute();
  await f.db
    .insertInto('canary_reviews')
    .values({
      id: 'review-1',
      canary_id: 'canary-1',
      reason: 'source-faulted',
      lease_id: null,
      provider: null,
      evidence: null,
      status: 'open',
      check_lease_id: null,
      checked_by: null,
      created_at: t,
      resolved_at: null,
    })
    .execute();
}

const drawOf = (f: Fixture, p: string) =>
  hashUnit(f.state.econ.seed, 'review-check', 'review-1', p.toLowerCase());

/** An open review and two trusted providers who may check it, lowest draw first. */
async function reviewWithTwoCheckers(f: Fixture) {
  const outvoted = await f.connected();
  const a = await trustedFrom(f);
  const b = await trustedFrom(f);
  await openReview(f, outvoted.address);
  return drawOf(f, a.address) < drawOf(f, b.address) ? ([a, b] as const) : ([b, a] as const);
}

test('the review check is a seeded draw: only the eligible trusted provider with the lowest draw takes it (an ally with a free slot first does not), and the next one once it is gone', async () => {
  const f = await workFixture();
  try {
    const [low, high] = await reviewWithTwoCheckers(f);
    // The higher-drawn one asks first (say, a ring's trusted ally racing for the slot): refused.
    assert.equal(await reviewToCheck(f.state, f.work, high.address), undefined, 'not drawn: no check');
    const drawn = await reviewToCheck(f.state, f.work, low.address);
    assert.equal(drawn?.review_id, 'review-1');
    assert.equal(drawn?.drawn.draw, drawOf(f, low.address), 'the draw validators recompute');
    // The drawn provider leaves (on any replica: the store says who is online): the next one checks.
    await providerDisconnected(f.state, f.work, low.link);
    assert.equal((await reviewToCheck(f.state, f.work, high.address))?.review_id, 'review-1');
  } finally {
    await f.close();
  }
});

test('a lower-drawn checker that was leased work and let the check go, or stayed idle past its window, no longer holds the review (security reviews)', async () => {
  const f = await workFixture();
  try {
    const [low, next] = await reviewWithTwoCheckers(f);
    f.clock.t += 1_000;
    assert.equal(await reviewToCheck(f.state, f.work, next.address), undefined, 'the lowest draw’s turn');
    // Idle (an ally that never takes work, or a provider with none to take) past its window.
    f.clock.t += CHECKER_PRIORITY_MS;
    const late = await reviewToCheck(f.state, f.work, next.address);
    assert.equal(late?.review_id, 'review-1', 'the next draw may check once the idle one had its time');
    assert.equal(late?.drawn.draw, drawOf(f, next.address), 'with its own draw, which validators recompute');
    // The basis records the idle one drawn lower as holding priority, passed after its hour.
    const held = late?.drawn.basis.lower?.filter((l) => l.skip === undefined).map((l) => l.provider);
    assert.deepEqual(held, [low.address.toLowerCase()], 'the one drawn lower that held it, recorded');
    assert.equal(validatorSees(late, next.address), null, 'the validator re-derives the pick');
    late!.drawn.basis.openedAt! += CHECKER_PRIORITY_MS; // claimed opened an hour later: not its turn
    assert.equal(validatorSees(late, next.address)?.fact, 'check.basis.lower', 'a checker drawn out of turn');
  } finally {
    await f.close();
  }
});

test("a ring's trusted ally never checks a review about a member connected only to another replica (kin from the store), and a party nobody knows makes the review uncheckable (fail closed)", async () => {
  const f = await workFixture();
  try {
    // The ring member the review would clear is connected elsewhere: this replica knows it only
    // from the store, where the other replica kept its network prefix.
    const member = `0x${randomBytes(20).toString('hex')}`;
    await knownToStore(f, [member], '203.0.113/24');
    await openReview(f, member);
    const ally = await trustedFrom(f, '203.0.113.99');
    assert.equal(f.state.identities.has(member), false, 'this replica held no identity for the member');
    assert.equal(
      await reviewToCheck(f.state, f.work, ally.address),
      undefined,
      'the ally is kin: never the checker',
    );
    const independent = await trustedFrom(f, '198.51.100.4');
    const drawn = await reviewToCheck(f.state, f.work, independent.address);
    assert.equal(drawn?.review_id, 'review-1');
    // The ally, if drawn lower, is recorded as kin, its identity with it: the validator agrees.
    const allyLower = drawn?.drawn.basis.lower?.find((l) => l.provider === ally.address.toLowerCase());
    if (allyLower) assert.equal(allyLower.skip, 'kin', 'the ally passed over as kin');
    assert.equal(validatorSees(drawn, independent.address), null, 'the validator re-derives the pick');

    // A source nobody here or in the store knows: no checker at all until its identity is known.
    const ghost = `0x${randomBytes(20).toString('hex')}`;
    await f.db.insertInto('canary_sources').values({ canary_id: 'canary-1', provider: ghost }).execute();
    assert.equal(
      await reviewToCheck(f.state, f.work, independent.address),
      undefined,
      'unknown party: fail closed',
    );
    await knownToStore(f, [ghost], '192.0.2/24');
    assert.equal((await reviewToCheck(f.state, f.work, independent.address))?.review_id, 'review-1');
  } finally {
    await f.close();
  }
});

test('a lower-drawn checker leased other work since the review opened let the check go: the next draw checks at once', async () => {
  const f = await workFixture();
  try {
    const [busy, next] = await reviewWithTwoCheckers(f);
    assert.equal(await reviewToCheck(f.state, f.work, next.address), undefined, 'the lowest draw’s turn');
    f.clock.t += 1_000;
    // It is leased a task of some job (a free slot it filled with other work, not the check).
    const row = { created_at: f.clock.t, updated_at: f.clock.t };
    await f.db
      .insertInto('jobs')
      .values({
        id: '0xj1',
        client: '0xc',
        nonce: '1',
        kind: 'onnx.infer',
        spec: '{}',
        status: 'running',
        tasks_total: 1,
        deadline_ms: 0,
        issued_at: 0,
        signature: '0x',
        error_code: null,
        error_message: null,
        ...row,
      })
      .execute();
    await f.db
      .insertInto('tasks')
      .values({
        id: '0xt1',
        job_id: '0xj1',
        idx: 0,
        input_cid: 'i'.repeat(64),
        status: 'assigned',
        attempts: 1,
        output_cid: null,
        provider: null,
        result: null,
        last_error: null,
        queued_at: 0,
        updated_at: f.clock.t,
      })
      .execute();
    await f.db
      .insertInto('assignments')
      .values({
        id: '0xa1',
        task_id: '0xt1',
        job_id: '0xj1',
        provider: busy.address,
        status: 'leased',
        lease_expires_at: f.clock.t + 60_000,
        created_at: f.clock.t,
        finished_at: null,
        error_code: null,
        error_message: null,
      })
      .execute();
    assert.equal(
      (await reviewToCheck(f.state, f.work, next.address))?.review_id,
      'review-1',
      'leased work without taking the check: its priority is gone',
    );
    const drawn = await reviewToCheck(f.state, f.work, next.address);
    assert.equal(
      drawn?.drawn.basis.lower?.find((l) => l.provider === busy.address.toLowerCase())?.skip,
      'leased',
      'recorded as having let the check go',
    );
    assert.equal(validatorSees(drawn, next.address), null, 'the validator re-derives the pick');
  } finally {
    await f.close();
  }
});
