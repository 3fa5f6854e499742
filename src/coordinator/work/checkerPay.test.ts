import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decodeSafetensors, encodeSafetensors } from '../../protocol/safetensors.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import { checkCompensationEntry, checkCompensationVerdicts } from '../../validator/checkCompensations.ts';
import { checkReviewCheckers } from '../../validator/checkReviewCheckers.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { CompensationMemo, EntryFact } from '../settlement/epochFacts.ts';
import { newReputation } from '../verification/reputation.ts';
import { payOwedCompensations } from './reviewCompensations.ts';
import {
  commitAndReveal,
  idleMarket,
  knownToStore,
  output,
  type ScriptedProvider,
  workFixture,
} from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

const CLIENT = '0x000000000000000000000000000000000000c11e';

/** A reputation past the trust bar with a long record (a canary miss is held for review). */
const veteranRecord = (t: number) => ({
  ...newReputation(t),
  alpha: 40,
  consecutiveValid: 25,
  verifiedValid: 25,
});

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

/** The compensation entries of the ledger as an epoch's facts report them. */
async function compensationFacts(f: Fixture): Promise<EntryFact[]> {
  const entries = await f.db
    .selectFrom('ledger_entries')
    .select(['id', 'ref', 'kind', 'memo'])
    .where('kind', '=', 'compensation')
    .orderBy('id')
    .execute();
  const out: EntryFact[] = [];
  for (const e of entries) {
    const postings = await f.db
      .selectFrom('ledger_postings')
      .select(['account', 'amount'])
      .where('entry_id', '=', e.id)
      .orderBy('id')
      .execute();
    out.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
  }
  return out;
}

/**
 * A canary whose known answer is `expected`, made from a real accepted task of a job whose
 * execution was charged (1000, 950 to its provider `voucher`).
 */
async function chargedCanary(f: Fixture, expected: TensorSet, voucher: string) {
  // A real task of a real job (the verification row references it), already completed.
  const { jobId, taskIds } = await f.submitJob();
  const taskId = taskIds[0]!;
  await f.db.updateTable('tasks').set({ status: 'completed' }).where('id', '=', taskId).execute();
  await f.db
    .insertInto('task_verifications')
    .values({
      task_id: taskId,
      job_id: jobId,
      policy: JSON.stringify({ kind: 'redundant', k: 2 }),
      audit: 0,
      log: '[]',
      status: 'accepted',
      verdict: JSON.stringify({ verified: true, outcomes: [] }),
      created_at: f.clock.t,
      updated_at: f.clock.t,
    })
    .execute();
  await postEntry(f.db, {
    ref: `exec:0x${randomBytes(32).toString('hex')}`,
    kind: 'charge',
    epoch: 6,
    jobId,
    memo: { taskId, provider: voucher },
    postings: [
      { account: accounts.clientUnsettled(CLIENT), amount: 1000n },
      { account: accounts.providerEarnings(voucher), amount: -950n },
      { account: accounts.protocolFees, amount: -50n },
    ],
  });
  const id = `canary-${randomBytes(4).toString('hex')}`;
  await f.db
    .insertInto('canary_tasks')
    .values({
      id,
      source_task_id: taskId,
      source_job_id: jobId,
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
  await f.db.insertInto('canary_sources').values({ canary_id: id, provider: voucher }).execute();
  return id;
}

test('a record-miss review check that confirms the known answer is paid from the seized stake of the misser it faulted; the validator checks pass and dispute a forged one', async () => {
  const f = await workFixture({ canaries: { rate: 1 }, market: idleMarket({ currentEpoch: async () => 7 }) });
  try {
    const voucher = `0x${randomBytes(20).toString('hex')}`;
    await knownToStore(f, [voucher]); // a review about a voucher the store does not know fails closed
    await chargedCanary(f, output(7), voucher);
    // A veteran misses the canary: held for a trusted re-check (record-miss), not faulted.
    const veteran = await f.connected();
    f.state.reputations.set(veteran.address, veteranRecord(f.clock.t));
    const miss = await takeSlot(f, veteran);
    await commitAndReveal(f, veteran, miss, output(8));
    const [review] = await f.db.selectFrom('canary_reviews').selectAll().execute();
    assert.equal(review?.reason, 'record-miss', 'the miss opened a record-miss review');

    // A trusted checker confirms the known answer: the veteran's miss becomes its fault…
    (f.state as { canaryRate: number }).canaryRate = 1e-12;
    const checker = await f.connected();
    f.state.reputations.set(checker.address, veteranRecord(f.clock.t));
    const check = await takeSlot(f, checker);
    await commitAndReveal(f, checker, check, output(7));
    const resolved = await f.db.selectFrom('canary_reviews').selectAll().executeTakeFirstOrThrow();
    assert.equal(resolved.status, 'confirmed');
    // …and the check is owed to the checker, funded by the veteran (not by the right voucher).
    const owed = await f.db
      .selectFrom('review_compensations')
      .selectAll()
      .where('part', '=', 'check')
      .execute();
    assert.equal(owed.length, 1, 'the confirming check is paid (it was unpaid before)');
    assert.deepEqual(JSON.parse(owed[0]!.funders), [veteran.address], 'the misser funds it');
    assert.equal(owed[0]!.payee, accounts.providerEarnings(checker.address));
    assert.equal(owed[0]!.amount, '950', "at most the reviewed task's provider amount");
    // Owed until the veteran's slash is applied (nothing seized yet).
    await payOwedCompensations(f.work);
    assert.equal((await compensationFacts(f)).length, 0, 'nothing seized to pay from yet');
    const slash = await f.db
      .selectFrom('slashes')
      .selectAll()
      .where('provider', '=', veteran.address)
      .executeTakeFirstOrThrow();
    await postEntry(f.db, {
      ref: `epoch:7:slash:${veteran.address}`,
      kind: 'slash',
      epoch: 7,
      postings: [
        { account: accounts.settlement, amount: 5000n },
        { account: accounts.providerSlashed(veteran.address), amount: -5000n },
      ],
    });
    await f.db.updateTable('slashes').set({ applied_epoch: 7 }).where('id', '=', slash.id).execute();
    await payOwedCompensations(f.work);
    const entries = await compensationFacts(f);
    assert.equal(entries.length, 1, 'paid once the slash is applied');
    const b = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(b.get(accounts.providerEarnings(checker.address)), -950n, 'the checker paid like an audit');
    assert.equal(b.get(accounts.providerSlashed(veteran.address)), -5000n + 950n);

    // The validator: signatures, funders and amount hold; the check confirms the answer against the miss.
    const paid = entries[0]!;
    const read = async (cid: string) => decodeSafetensors(await f.work.blobs.read(cid));
    assert.equal(await checkCompensationEntry(paid, 31337, b), null, 'the entry holds');
    assert.equal(await checkCompensationVerdicts(entries, read), null, 'the outputs re-derive it');
    const memo = paid.memo as CompensationMemo;
    assert.equal(
      memo.wrong[0]?.provider,
      veteran.address,
      'the misser and its signed result are the evidence',
    );
    // Evidence version 10: the check carries what its checker was drawn on, the misser among the
    // parties it is clear of (the draw's time is the fixture's virtual clock, the result's the
    // wall clock: placed just before the result, as on a real coordinator).
    const basis = memo.check.basis!;
    assert.ok(basis.parties.includes(veteran.address.toLowerCase()), 'the misser is a party of the draw');
    const onWall = structuredClone(entries);
    const m = onWall[0]!.memo as CompensationMemo;
    const shift = m.check.result.issuedAt * 1000 - 1 - m.check.basis!.at;
    m.check.basis!.at += shift;
    m.check.basis!.openedAt! += shift; // the review's age at the draw (version 12) is kept
    assert.equal(
      checkReviewCheckers({ entries: onWall }, undefined, true),
      null,
      'independent of the misser',
    );
    assert.equal(memo.charges[0]?.provider, voucher.toLowerCase(), 'the reviewed task’s charge bounds it');
    // Forged: paid by the right voucher, not the misser; the misser's result not signed by it; a
    // "misser" whose output agrees with the check; more than the charge.
    const posting = (from: string, amount: bigint) => [
      { account: from, amount: String(amount) },
      { account: accounts.providerEarnings(checker.address), amount: String(-amount) },
    ];
    const bystander = { provider: checker.address.toLowerCase(), result: memo.check.result };
    for (const [forged, fact] of [
      [{ ...paid, postings: posting(accounts.providerSlashed(voucher.toLowerCase()), 950n) }, 'funder'],
      [{ ...paid, postings: posting(accounts.providerSlashed(veteran.address), 951n) }, 'amount'],
      [
        {
          ...paid,
          memo: { ...memo, wrong: [{ provider: voucher.toLowerCase(), result: memo.wrong[0]!.result }] },
        },
        `wrong[${voucher.toLowerCase()}].signature`,
      ],
    ] as const)
      assert.equal(
        (await checkCompensationEntry(forged, 31337, b))?.fact,
        `compensation[${paid.ref}].${fact}`,
        fact,
      );
    const agreeing = { ...paid, memo: { ...memo, wrong: [bystander] } };
    assert.equal(
      (await checkCompensationVerdicts([agreeing], read))?.fact,
      `compensation[${paid.ref}].wrong[${bystander.provider}]`,
      'a "misser" that agrees with the check is refused',
    );
  } finally {
    await f.close();
  }
});
