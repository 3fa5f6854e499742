import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { checkCompensationEntry, checkCompensationVerdicts } from '../../validator/checkCompensations.ts';
import { checkDraws, publishedDraws } from '../../validator/checkDraws.ts';
import { checkFacts } from '../../validator/checkFacts.ts';
import { checkReinstatementFacts, checkReinstatementVerdicts } from '../../validator/checkReinstatements.ts';
import { checkReviewCheckers } from '../../validator/checkReviewCheckers.ts';
import { honestEpoch } from '../../validator/factsFixture.ts';
import { ReputationReplay } from '../../validator/reputationReplay.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import { earningsOfBalances } from '../ledger/rewardsTree.ts';
import type { Market } from '../market/createMarket.ts';
import { packBundle, unpackBundle } from '../settlement/compactBundle.ts';
import { computeEpoch } from '../settlement/epochComputation.ts';
import type { CompensationMemo, EntryFact, EpochFacts, ReviewCheckBasis } from '../settlement/epochFacts.ts';
import { readReputationJournal } from '../settlement/readRandomFacts.ts';
import { epochSeed, seedCommitment } from '../verification/auditSeeds.ts';
import { newReputation } from '../verification/reputation.ts';
import { recordFault } from './faults.ts';
import { sweep } from './leases.ts';
import { handleCommit, handleResult } from './results.ts';
import { payOwedCompensations } from './reviewCompensations.ts';
import { providerConnected } from './sessions.ts';
import { checkReview, output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

const CLIENT = '0x000000000000000000000000000000000000c11e';

async function trustedProvider(f: Fixture): Promise<ScriptedProvider> {
  const p = await f.provider();
  f.state.reputations.set(p.address, {
    ...newReputation(f.clock.t),
    alpha: 40,
    consecutiveValid: 25,
    verifiedValid: 25,
  });
  await providerConnected(f.state, f.work, p.link, p.hello(1));
  return p;
}

/** A market as far as the review's money needs one: the ledger's current epoch. */
const fakeMarket = {
  currentEpoch: async () => 7,
  onVerdict: async () => {},
  clientHeld: () => false,
  ineligible: () => new Set<string>(),
  leaseClass: () => 'cpu',
  stakeOf: () => undefined,
  onConnected: async () => {},
  onDisconnected: async () => {},
} as unknown as Market;

/** The epoch's compensation entries as readEpochFacts reports them. */
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

async function providerBalances(f: Fixture) {
  return readBalances(f.db, { prefix: 'provider:' });
}

/** An output reader as a validator's (checkVerdicts.ts) over the fixture's blobs. */
function outputs(f: Fixture) {
  return async (cid: string): Promise<TensorSet> => decodeSafetensors(await f.work.blobs.read(cid));
}

test('an overturned outvoted verdict pays through the ledger: the applied slash back, the denied reward and the client refund (funded by the wrong answer’s seized stake, owed until applied); the validator checks pass, and dispute an invented or forged compensation', async () => {
  const f = await workFixture({ canaries: { rate: 1e-12 } });
  try {
    (f.state as { canaryPoolSize: number }).canaryPoolSize = 0;
    const t = await trustedProvider(f);
    const r = await f.connected();
    const h = await f.connected();
    const { jobId, taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 3 } });
    const taskId = taskIds[0]!;
    await f.work.dispatch();
    await f.idle();
    for (const [p, o] of [
      [t, 9],
      [r, 9],
      [h, 1],
    ] as const) {
      const [a] = p.assigned();
      await handleResult(f.state, f.work, p.address, await p.result(a!, output(o)));
    }
    await f.idle();
    assert.equal((await f.task(taskId)).status, 'completed');
    // The market billed the wrong majority (t, r): 1000 each, 950 to the provider, 50 in fees.
    const execs = await f.db
      .selectFrom('task_executions')
      .selectAll()
      .where('task_id', '=', taskId)
      .execute();
    for (const e of execs.filter((x) => x.provider !== h.address)) {
      await postEntry(f.db, {
        ref: `exec:${e.assignment_id}`,
        kind: 'charge',
        epoch: 6,
        jobId,
        memo: { taskId, provider: e.provider },
        postings: [
          { account: accounts.clientUnsettled(CLIENT), amount: 1000n },
          { account: accounts.providerEarnings(e.provider), amount: -950n },
          { account: accounts.protocolFees, amount: -50n },
        ],
      });
    }
    // An epoch applied h's slash (it is on chain now: paid back, not withdrawn).
    const hSlash = await f.db
      .selectFrom('slashes')
      .selectAll()
      .where('provider', '=', h.address)
      .executeTakeFirstOrThrow();
    const applySlash = async (provider: string, amount: bigint, id: number, epoch: number) => {
      await postEntry(f.db, {
        ref: `epoch:${epoch}:slash:${provider}`,
        kind: 'slash',
        epoch,
        postings: [
          { account: accounts.settlement, amount },
          { account: accounts.providerSlashed(provider), amount: -amount },
        ],
      });
      await f.db.updateTable('slashes').set({ applied_epoch: epoch }).where('id', '=', id).execute();
    };
    await applySlash(h.address, BigInt(hSlash.amount), hSlash.id, 6);

    // t is proven faulty elsewhere: the verdict is reviewed; the trusted check agrees with h.
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: t.address,
        taskId: `0x${randomBytes(32).toString('hex')}`,
        jobId: null,
        kind: 'capability',
        evidence: {},
      }),
    );
    const x = await trustedProvider(f);
    (f.work as { market?: Market }).market = fakeMarket;
    await f.submitJob({ tasks: 4 });
    await f.work.dispatch();
    await f.idle();
    const [check] = x.assigned();
    assert.ok(check, 'check');
    const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
    await handleCommit(f.state, f.work, x.address, await x.commit(check, output(1), salt));
    await handleResult(f.state, f.work, x.address, await x.result(check, output(1), { salt }));
    await f.idle();
    await checkReview(f, output(1)); // a second independent check that agrees
    assert.equal(
      (await f.db.selectFrom('canary_reviews').select('status').executeTakeFirstOrThrow()).status,
      'poisoned',
    );

    // 1. The applied slash is paid back at once, from h's own seized stake.
    let entries = await compensationFacts(f);
    assert.deepEqual(
      entries.map((e) => e.ref),
      [`review:${taskId}:slash:${h.address}`],
    );
    let b = await providerBalances(f);
    assert.equal(b.get(accounts.providerEarnings(h.address)), -BigInt(hSlash.amount));
    assert.equal(b.get(accounts.providerSlashed(h.address)) ?? 0n, 0n);
    // 2 and 3 are owed: the wrong answer's slashes are not applied yet (nothing seized to pay from).
    const owed = await f.db
      .selectFrom('review_compensations')
      .selectAll()
      .where('paid_at', 'is', null)
      .execute();
    // …and so are both checkers' pay (a source-faulted review's checks: checkerPay.ts), after them.
    assert.deepEqual(owed.map((o) => o.part).sort(), ['check', 'check', 'refund', 'reward']);
    await payOwedCompensations(f.work);
    assert.equal((await compensationFacts(f)).length, 1, 'still owed');

    // t's slash is applied by the next close: the sweep pays the reward and the refund from it.
    const tSlash = await f.db
      .selectFrom('slashes')
      .selectAll()
      .where('provider', '=', t.address)
      .executeTakeFirstOrThrow();
    await applySlash(t.address, 5000n, tSlash.id, 7);
    await sweep(f.state, f.work);
    entries = await compensationFacts(f);
    const checkRefs = entries.filter((e) => e.ref.includes(':check:')).map((e) => e.ref);
    assert.deepEqual(
      entries
        .map((e) => e.ref)
        .filter((r) => !r.includes(':check:'))
        .sort(),
      [
        `review:${taskId}:slash:${h.address}`,
        `review:${taskId}:reward:${h.address}`,
        `review:${taskId}:refund`,
      ].sort(),
    );
    // The two checkers are paid for their checks, from t's seized stake only (t's charge: 950 each
    // at most), after the refund and the reward.
    assert.equal(checkRefs.length, 2, 'both review checks paid');
    assert.ok(checkRefs.includes(`review:${taskId}:check:${x.address}`), 'the second checker is one of them');
    const byRef = (suffix: string) => entries.find((e) => e.ref.endsWith(suffix))!;
    b = await providerBalances(f);
    assert.equal(
      b.get(accounts.providerEarnings(h.address)),
      -BigInt(hSlash.amount) - 950n,
      'the denied reward',
    );
    assert.equal(b.get(accounts.refunds(CLIENT)), -2000n, 'the client gets both charges back');
    assert.equal(b.get(accounts.providerSlashed(t.address)), -5000n + 2950n + 2n * 950n);
    assert.equal(b.get(accounts.providerEarnings(x.address)), -950n, 'the checker paid like an audit');
    // The refund is a rewards-tree leaf of the client's address (claimed like earnings).
    assert.equal(earningsOfBalances(b).get(CLIENT), 2000n);
    await payOwedCompensations(f.work);
    assert.equal((await compensationFacts(f)).length, 5, 'each paid once');
    const types = await f.eventTypes(jobId);
    assert.ok(types.includes('task.overturned'), "types.includes('task.overturned')");
    assert.ok(types.includes('review.compensated'), "types.includes('review.compensated')");

    // The validator: every entry's evidence and postings hold, and the outputs re-derive the overturn.
    const read = outputs(f);
    const output_ = async (cid: string) => read(cid);
    for (const e of entries) assert.equal(await checkCompensationEntry(e, 31337, b), null, e.ref);
    assert.equal(await checkCompensationVerdicts(entries, output_), null);
    // The reinstatement journals its review (evidence version 7): signed checks that overturn.
    const journal = await f.db.transaction().execute((trx) => readReputationJournal(trx, 99));
    const reinstated = journal.filter((e) => e.kind === 'reinstate');
    assert.deepEqual(
      reinstated.map((e) => [e.provider, Boolean(e.review)]),
      [[h.address, true]],
      'h reinstated once, with its review',
    );
    assert.equal(await checkReinstatementFacts(journal, 31337, true), null, 'the review is signed');
    assert.equal(await checkReinstatementVerdicts(journal, output_), null, 'and overturns the fault');
    // Evidence version 10: every check carries what its checker was drawn on (migration 0070), and
    // the validator re-derives its independence from the review's parties and, from the journal
    // replay, its trust at the draw (checkReviewCheckers.ts).
    // The fixture's clock is virtual (2023) while providers sign their results with the wall
    // clock: each draw is placed just before its check's signed result, as on a real coordinator.
    const onWallClock = (c?: { result: { issuedAt: number }; basis?: ReviewCheckBasis }) => {
      if (!c?.basis) return;
      const at = c.result.issuedAt * 1000 - 1;
      // The review's age at the draw (its priority window, version 12) is kept.
      if (c.basis.openedAt !== undefined) c.basis.openedAt += at - c.basis.at;
      c.basis.at = at;
    };
    for (const e of entries) {
      const m = e.memo as CompensationMemo;
      onWallClock(m.check);
      onWallClock(m.firstCheck);
    }
    for (const e of journal) {
      onWallClock(e.review?.check);
      onWallClock(e.review?.firstCheck);
    }
    const facts = { entries, reputation: journal };
    // The fixture made the checkers trusted by setting their reputations (not journaled): the
    // replay starts from those states, as a journal that starts mid-history does.
    const checkers = new Set(
      entries.flatMap((e) => {
        const m = e.memo as CompensationMemo;
        return [m.check?.provider, m.firstCheck?.provider]
          .filter((p): p is string => !!p)
          .map((p) => p.toLowerCase());
      }),
    );
    const starts = [...checkers].map((p) => ({
      provider: p,
      kind: 'state' as const,
      at: 0,
      state: f.state.reputations.get(p) ?? f.state.reputations.get(p as Hex)!,
    }));
    const replay = new ReputationReplay({ complete: true });
    assert.equal(replay.add([...starts, ...journal], 1), null);
    assert.equal(checkReviewCheckers(facts, replay, true), null, 'the honest checks hold');
    // Version 12: each checker is the one the seeded draw picks among the providers online drawn
    // lower (checkCheckerDraw.ts), and every draw a basis publishes recomputes from the epoch's
    // seed once a bundle reveals it (checkDraws.ts): the coordinator's draw and the validator's agree.
    assert.equal(
      checkReviewCheckers(facts, replay, true, undefined, 0),
      null,
      'each checker is the drawn one',
    );
    const seed = await epochSeed(f.db, 7);
    const revealing = (e: EntryFact[]) =>
      ({
        charges: [],
        draws: [],
        canaries: [],
        entries: e,
        reputation: journal,
        audits: {
          commitment: { epoch: 9, commitment: seedCommitment(randomBytes(32).toString('hex')) },
          reveals: [{ epoch: 7, seed, draws: [] }],
        },
      }) as unknown as EpochFacts;
    const drawn = publishedDraws(revealing(entries)).filter((d) => d.kind === 'review-check');
    assert.ok(drawn.length >= 2, `the bases publish their checkers' draws (${drawn.length})`);
    const reveal = (e: EntryFact[]) =>
      checkDraws(revealing(e), {
        epoch: 8,
        policyOf: () => undefined,
        commitmentOf: () => undefined,
        remembered: () => [],
      })?.fact ?? 'passed';
    assert.equal(reveal(entries), 'passed', 'every review-check draw recomputes from the revealed seed');
    const forgedDraw = structuredClone(entries);
    const forgedEntry = forgedDraw.find((e) => e.ref.includes(':reward:'))!;
    (forgedEntry.memo as CompensationMemo).check.basis!.draw = 0; // a checker claimed drawn first
    assert.equal(
      reveal(forgedDraw),
      `compensation[${forgedEntry.ref}].check.basis.draw`,
      'a forged draw is refused at the reveal',
    );
    // A checker drawn past a lower provider that held priority is not the one the draw picks.
    const passedOver = structuredClone(entries);
    const passedEntry = passedOver.find((e) => e.ref.includes(':reward:'))!;
    const passedBasis = (passedEntry.memo as CompensationMemo).check.basis!;
    // (Who was online and drawn lower depends on the fixture's random addresses: one is added.)
    passedBasis.lower = [
      { provider: '0x00000000000000000000000000000000000beef1', draw: passedBasis.draw / 2 },
      ...(passedBasis.lower ?? []).filter((l) => l.draw > passedBasis.draw / 2),
    ];
    assert.equal(
      checkReviewCheckers({ entries: passedOver }, replay, true, undefined, 0)?.fact,
      `compensation[${passedEntry.ref}].check.basis.lower`,
      'a checker drawn past one that held priority',
    );
    const checked = entries.filter((e) => (e.memo as CompensationMemo).check?.basis);
    assert.equal(checked.length, entries.length, 'every compensation carries its check basis');
    const tampered = (edit: (b: ReviewCheckBasis, m: CompensationMemo) => void) => {
      const copy = structuredClone(entries);
      const m = copy.find((e) => e.ref.includes(':reward:'))!.memo as CompensationMemo;
      edit(m.check.basis!, m);
      return checkReviewCheckers({ entries: copy }, undefined, true)?.fact ?? 'passed';
    };
    const rewardRef = entries.find((e) => e.ref.includes(':reward:'))!.ref;
    assert.equal(
      tampered((_, m) => delete m.check.basis),
      `compensation[${rewardRef}].check.basis`,
      'a check without its basis',
    );
    assert.equal(
      tampered((b, m) => {
        const party = b.parties[0]!;
        b.identities[party] = { prefix: '203.0.113/24', funders: [] };
        b.identities[m.check.provider.toLowerCase()]!.prefix = '203.0.113/24';
      }),
      `compensation[${rewardRef}].check.basis.independence`,
      "a checker on a party's network",
    );
    assert.equal(
      tampered((b, m) => {
        b.parties = b.parties.filter((p) => p !== m.provider!.toLowerCase());
      }),
      `compensation[${rewardRef}].check.basis.parties`,
      'the wronged provider left out of the parties the checker was drawn against',
    );
    assert.equal(
      tampered((b) => {
        b.at += 3 * 3_600_000 * 24;
      }),
      `compensation[${rewardRef}].check.basis.at`,
      'a draw after the check came back',
    );
    // A checker the journal never made trusted (its history left out of the replay).
    const untrusted = new ReputationReplay({ complete: true });
    untrusted.add(
      [...starts, ...journal].filter((e) => e.provider.toLowerCase() !== x.address.toLowerCase()),
      1,
    );
    assert.match(
      checkReviewCheckers(facts, untrusted, true)?.fact ?? 'passed',
      /\.basis\.trusted$/,
      'an untrusted checker is named',
    );

    // A checker's pay, forged: raised above the reviewed charge, from a bystander, a third slot,
    // or paid to a checker that is its own funder.
    const paidCheck = entries.find((e) => e.ref.includes(':check:'))!;
    const checkMemo = paidCheck.memo as { slot: number; charges: { provider: string }[] };
    const checkPosting = (
      from: string,
      amount: bigint,
      to = paidCheck.postings.find((p) => BigInt(p.amount) < 0n)!.account,
    ) => [
      { account: from, amount: amount.toString() },
      { account: to, amount: (-amount).toString() },
    ];
    for (const [forged, fact] of [
      [{ ...paidCheck, postings: checkPosting(accounts.providerSlashed(t.address), 951n) }, 'amount'],
      [{ ...paidCheck, postings: checkPosting(accounts.providerSlashed(h.address), 950n) }, 'funder'],
      [{ ...paidCheck, memo: { ...checkMemo, slot: 3 } }, 'slot'],
    ] as const)
      assert.equal(
        (await checkCompensationEntry(forged, 31337, b))?.fact,
        `compensation[${paidCheck.ref}].${fact}`,
      );
    assert.equal(checkMemo.charges.length, 1, 'paid from the faulty voucher’s charge only');
    assert.equal(checkMemo.charges[0]!.provider, t.address, 'the faulty voucher (not r, never faulted)');

    // Invented: no evidence at all.
    const invented: EntryFact = {
      ref: `review:${taskId}:reward:${r.address}`,
      kind: 'compensation',
      postings: [
        { account: accounts.providerSlashed(t.address), amount: '900' },
        { account: accounts.providerEarnings(r.address), amount: '-900' },
      ],
      memo: {},
    };
    assert.equal(
      (await checkCompensationEntry(invented, 31337, b))?.fact,
      `compensation[${invented.ref}].evidence`,
    );
    // Forged: the refund raised above what the client paid.
    const refund = byRef(':refund');
    const raised: EntryFact = {
      ...refund,
      postings: [
        { account: accounts.providerSlashed(t.address), amount: '2500' },
        { account: accounts.refunds(CLIENT), amount: '-2500' },
      ],
    };
    assert.equal(
      (await checkCompensationEntry(raised, 31337, b))?.fact,
      `compensation[${refund.ref}].amount`,
    );
    // Forged: paid from a bystander's seized stake, or to someone else.
    const fromBystander: EntryFact = {
      ...refund,
      postings: [
        { account: accounts.providerSlashed(x.address), amount: '2000' },
        { account: accounts.refunds(CLIENT), amount: '-2000' },
      ],
    };
    assert.equal(
      (await checkCompensationEntry(fromBystander, 31337, b))?.fact,
      `compensation[${refund.ref}].funder`,
    );
    // Overdrawn: more than the applied slashes hold.
    const overdrawn = new Map(b);
    overdrawn.set(accounts.providerSlashed(t.address), 1n);
    assert.equal(
      (await checkCompensationEntry(refund, 31337, overdrawn))?.fact,
      `compensation[${refund.ref}].funder`,
    );
    // Forged overturn: a "wronged" provider whose output is the overturned answer itself.
    const reward = byRef(`:reward:${h.address}`);
    const memo = reward.memo as {
      wronged: { outputCid: string };
      wrong: { result: { outputCid: string } }[];
    };
    const forged = {
      ...reward,
      memo: { ...memo, wronged: { ...memo.wronged, outputCid: memo.wrong[0]!.result.outputCid } },
    };
    assert.equal(
      (await checkCompensationVerdicts([forged], output_))?.fact,
      `compensation[${reward.ref}].wronged`,
    );

    // The whole epoch: an honest bundle (validator fixture) with these entries added passes
    // checkFacts, and computeEpoch pays the refund as the client's rewards leaf; an invented
    // compensation in it is disputed by name.
    const withEntries = async (extra: EntryFact[]) => {
      const { inputs, facts } = await honestEpoch();
      // The checks were drawn in the work loop's epoch 7: the bundle citing them is a later one
      // (a basis's epoch is never after its bundle's, checkDraws.ts).
      inputs.epoch = 8;
      facts.entries.push(...extra);
      const epochBalances = new Map(inputs.epochBalances.map((x) => [x.account, x.balance]));
      for (const e of extra)
        for (const p of e.postings)
          epochBalances.set(p.account, (epochBalances.get(p.account) ?? 0n) + BigInt(p.amount));
      inputs.epochBalances = [...epochBalances].map(([account, balance]) => ({ account, balance }));
      const pb = new Map(inputs.providerBalances.map((x) => [x.account, x.balance]));
      for (const [account, balance] of b) pb.set(account, balance);
      inputs.providerBalances = [...pb].map(([account, balance]) => ({ account, balance }));
      return { inputs, facts };
    };
    const honest = await withEntries(entries);
    assert.equal(await checkFacts(honest.facts, honest.inputs, 31337), null);
    const leaves = JSON.parse(computeEpoch(honest.inputs).tree!) as { values: { value: [string, string] }[] };
    assert.ok(
      leaves.values.some((v) => v.value[0].toLowerCase() === CLIENT && v.value[1] === '2000'),
      "leaves.values.some((v) => v.value[0].toLowerCase() === CLIENT && v.value[1] === '2000')",
    );
    // The entries survive the evidence bundle's packing unchanged (version 4, compactBundle.ts).
    const json = (v: unknown) =>
      JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));
    const packed = json(packBundle(json(honest.inputs), honest.facts));
    assert.deepEqual(unpackBundle(packed.inputs, packed.facts).facts.entries, json(honest.facts.entries));
    const forgedEpoch = await withEntries([...entries, invented]);
    assert.equal(
      (await checkFacts(forgedEpoch.facts, forgedEpoch.inputs, 31337))?.fact,
      `compensation[${invented.ref}].evidence`,
    );
  } finally {
    await f.close();
  }
});
