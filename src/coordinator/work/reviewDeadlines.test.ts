import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { Market } from '../market/createMarket.ts';
import { CANARY_REVIEW_DEADLINE_MS, COMPENSATION_DEADLINE_MS } from '../verification/constants.ts';
import { newReputation } from '../verification/reputation.ts';
import { sweep } from './leases.ts';
import { payOwedCompensations } from './reviewCompensations.ts';
import { commitAndReveal, output, workFixture } from './workFixture.ts';

test('a review nobody can check ends at its deadline: the held miss is voided (no fault, no slash) and the canary stays retired', async () => {
  const f = await workFixture({ canaries: { rate: 1 } });
  try {
    const expected = output(7);
    await f.db
      .insertInto('canary_tasks')
      .values({
        id: 'canary-1',
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
    const veteran = await f.connected();
    f.state.reputations.set(veteran.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 25,
      verifiedValid: 25,
    });
    await f.submitJob();
    await f.work.dispatch();
    await f.idle();
    const [m] = veteran.assigned();
    assert.ok(m, 'the veteran got the canary');
    await commitAndReveal(f, veteran, m, output(8));
    const lease = () =>
      f.db
        .selectFrom('canary_assignments')
        .selectAll()
        .where('id', '=', m.assignmentId)
        .executeTakeFirstOrThrow();
    assert.equal((await lease()).status, 'review');
    // No trusted provider ever checks it. Just before the deadline it is still open.
    f.clock.t += CANARY_REVIEW_DEADLINE_MS - 1000;
    await sweep(f.state, f.work);
    assert.equal(
      (await f.db.selectFrom('canary_reviews').select('status').executeTakeFirstOrThrow()).status,
      'open',
    );
    f.clock.t += 2000;
    await sweep(f.state, f.work);
    const review = await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow();
    assert.equal(review.status, 'expired');
    assert.equal((await lease()).status, 'voided');
    assert.deepEqual(await f.db.selectFrom('verification_faults').selectAll().execute(), [], 'no fault');
    assert.deepEqual(await f.db.selectFrom('slashes').selectAll().execute(), [], 'no slash');
    const canary = await f.db.selectFrom('canary_tasks').select('retired').executeTakeFirstOrThrow();
    assert.equal(canary.retired, 1, 'a doubtful answer never judges anyone again');
    assert.ok((await f.eventTypes()).includes('canary.review-expired'), 'the expiry is recorded');
  } finally {
    await f.close();
  }
});

type Fixture = Awaited<ReturnType<typeof workFixture>>;

/** The market's two calls the compensation sweep makes (the epoch it pays in is 3). */
function withMarket(f: Fixture): void {
  (f.work as { market?: Market }).market = {
    currentEpoch: async () => 3,
    onVerdict: async () => {},
  } as unknown as Market;
}

/** An owed client refund, funded by `funder`'s seized stake. */
function owedRefund(o: {
  ref: string;
  taskId: string;
  client: string;
  funder: string;
  amount: bigint;
  at: number;
}) {
  return {
    ref: o.ref,
    part: 'refund' as const,
    task_id: o.taskId,
    job_id: null,
    payee: accounts.refunds(o.client),
    amount: o.amount.toString(),
    funders: JSON.stringify([o.funder]),
    memo: JSON.stringify({ part: 'refund', taskId: o.taskId }),
    created_at: o.at,
    paid_epoch: null,
    paid_at: null,
  };
}

/** `amount` of `provider`'s stake seized by a slash applied in epoch 2. */
async function seize(f: Fixture, provider: string, amount: bigint): Promise<void> {
  await f.db.transaction().execute((trx) =>
    postEntry(
      trx,
      {
        ref: `slash:${provider}`,
        kind: 'slash',
        epoch: 2,
        postings: [
          { account: `provider:${provider}:stake`, amount },
          { account: accounts.providerSlashed(provider), amount: -amount },
        ],
      },
      f.clock.t,
    ),
  );
}

test('an owed refund its funders’ seized stake never fully covers is settled at its deadline: what is covered is paid, the rest lapses (recorded), nothing stays owed', async () => {
  const f = await workFixture();
  try {
    withMarket(f);
    const wrong = `0x${'ab'.repeat(20)}`;
    const client = `0x${'cd'.repeat(20)}`;
    await f.db
      .insertInto('review_compensations')
      .values(
        owedRefund({
          ref: 'review:t1:refund',
          taskId: 't1',
          client,
          funder: wrong,
          amount: 100n,
          at: f.clock.t,
        }),
      )
      .execute();
    // Only 40 of the wrong provider's stake was ever seized (the chain capped its slash).
    await seize(f, wrong, 40n);
    await payOwedCompensations(f.work);
    const row = () => f.db.selectFrom('review_compensations').selectAll().executeTakeFirstOrThrow();
    assert.equal((await row()).paid_at, null, 'owed while the deadline has not passed');
    f.clock.t += COMPENSATION_DEADLINE_MS;
    await payOwedCompensations(f.work);
    const done = await row();
    assert.equal(done.lapsed_at, f.clock.t, 'closed at the deadline');
    assert.equal(done.paid_epoch, 3);
    const balances = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(balances.get(accounts.refunds(client)), -40n, 'the covered part is paid');
    assert.equal(balances.get(accounts.providerSlashed(wrong)) ?? 0n, 0n, 'never overdrawn');
    assert.ok((await f.eventTypes()).includes('review.compensation-lapsed'), 'the lapse is recorded');
    await payOwedCompensations(f.work);
    assert.equal(
      (await readBalances(f.db, { prefix: 'provider:' })).get(accounts.refunds(client)),
      -40n,
      'paid once',
    );
  } finally {
    await f.close();
  }
});

test('rows that stay uncovered do not hold the queue: a newer covered refund behind a full page of them is paid by the next sweep', async () => {
  const f = await workFixture();
  try {
    withMarket(f);
    const broke = `0x${'ab'.repeat(20)}`;
    const seized = `0x${'ef'.repeat(20)}`;
    const client = `0x${'cd'.repeat(20)}`;
    const row = (ref: string, funder: string, at: number) =>
      owedRefund({ ref, taskId: ref, client, funder, amount: 10n, at });
    // 120 refunds owed by a provider nothing was ever seized from (they wait for their deadline),
    // all older than one whose funder's seized stake covers it.
    for (let i = 0; i < 120; i++)
      await f.db
        .insertInto('review_compensations')
        .values(row(`review:old${String(i).padStart(3, '0')}:refund`, broke, f.clock.t - 1000 + i))
        .execute();
    await f.db
      .insertInto('review_compensations')
      .values(row('review:new:refund', seized, f.clock.t))
      .execute();
    await seize(f, seized, 10n);
    const paidAt = async () =>
      (
        await f.db
          .selectFrom('review_compensations')
          .select('paid_at')
          .where('ref', '=', 'review:new:refund')
          .executeTakeFirstOrThrow()
      ).paid_at;
    await payOwedCompensations(f.work);
    assert.equal(await paidAt(), null, 'the first sweep reads only the oldest page');
    await payOwedCompensations(f.work);
    assert.equal(await paidAt(), f.clock.t, 'the next sweep goes on past that page and pays it');
    const left = await f.db
      .selectFrom('review_compensations')
      .select('ref')
      .where('paid_at', 'is', null)
      .where('lapsed_at', 'is', null)
      .execute();
    assert.equal(left.length, 120, 'the uncovered ones still wait for their deadline');
  } finally {
    await f.close();
  }
});
