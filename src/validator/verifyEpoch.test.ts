/**
 * The validator's decision over one epoch, without processes: an honest claim is signed as
 * recomputed; each kind of altered claim is refused with the first differing fact named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Address, Hex } from 'viem';
import { computeEpoch } from '../coordinator/settlement/epochComputation.ts';
import type { ReputationEntry, ReviewCheckBasis } from '../coordinator/settlement/epochFacts.ts';
import {
  EVIDENCE_VERSION,
  encodeEvidence,
  GENESIS_EVIDENCE_HASH,
} from '../coordinator/settlement/evidence.ts';
import { checkReviewCheckers } from './checkReviewCheckers.ts';
import {
  CHAIN_ID,
  cheater,
  cheaterKey,
  checkerKeys,
  client,
  honestEpoch,
  provider,
  SETTLEMENT,
  signedResult,
} from './factsFixture.ts';
import { ReputationReplay } from './reputationReplay.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';

const { inputs, facts } = await honestEpoch();
const p1 = provider;
const c1 = client;
const settlement = SETTLEMENT;
const target = { chainId: CHAIN_ID, settlement };
const { text, hash } = encodeEvidence({
  version: EVIDENCE_VERSION,
  epoch: 3,
  ...target,
  prevHash: GENESIS_EVIDENCE_HASH,
  inputs,
  facts,
});

/** The claim an honest coordinator publishes for `inputs`. */
function honestClaim(): EpochClaim {
  const o = computeEpoch(inputs, hash);
  const json = JSON.parse(JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  const leaves = (JSON.parse(o.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
    account: v.value[0],
    cumulativeAmount: v.value[1],
  }));
  return { epoch: 3, payload: json, leaves };
}

test('an honest claim is verified and the recomputed payload, evidence hash included, is what gets signed', async () => {
  const v = await verifyEpoch({
    evidence: text,
    claim: honestClaim(),
    target,
    prevHash: GENESIS_EVIDENCE_HASH,
  });
  assert.ok(v.ok, 'v.ok');
  assert.equal(v.payload.evidenceHash, hash);
  assert.equal(v.payload.totalEarned, BigInt(facts.charges[0]!.providerAmount));
});

test('each altered fact is refused and named', async () => {
  const cases: [string, (c: EpochClaim) => void, RegExp][] = [
    [
      'earnings +1',
      (c) => (c.leaves[0]!.cumulativeAmount = (BigInt(c.leaves[0]!.cumulativeAmount) + 1n).toString()),
      new RegExp(`^rewards\\[${p1}`),
    ],
    [
      'charged twice',
      (c) => (c.payload.charges[0]!.amount = (2n * BigInt(c.payload.charges[0]!.amount)).toString()),
      new RegExp(`^charge\\[${c1}`),
    ],
    [
      'a charge never owed',
      (c) => c.payload.charges.push({ client: p1, amount: '1' }),
      new RegExp(`^charge\\[${p1}`),
    ],
    [
      'a slash with no evidence',
      (c) => (c.payload.slashes = [...c.payload.slashes, { provider: c1, amount: '1' }]),
      new RegExp(`^slash\\[${c1}`),
    ],
    ['emission invented', (c) => (c.payload.emission = '1'), /^payload\.emission$/],
    [
      'another evidence hash',
      (c) => (c.payload.evidenceHash = `0x${'00'.repeat(31)}01`),
      /^payload\.evidenceHash$/,
    ],
  ];
  for (const [name, alter, fact] of cases) {
    const claim = honestClaim();
    alter(claim);
    const v = await verifyEpoch({ evidence: text, claim, target, prevHash: null });
    assert.ok(!v.ok, name);
    assert.match(v.fact, fact, name);
  }
});

test('evidence for another contract, off the chain of bundles, or not canonical is refused', async () => {
  const claim = honestClaim();
  const other = { chainId: 31337, settlement: `0x${'77'.repeat(20)}` as Address };
  const a = await verifyEpoch({ evidence: text, claim, target: other, prevHash: null });
  assert.ok(!a.ok && a.fact === 'evidence.settlement', "!a.ok && a.fact === 'evidence.settlement'");
  const b = await verifyEpoch({ evidence: text, claim, target, prevHash: `0x${'11'.repeat(32)}` });
  assert.ok(!b.ok && b.fact === 'evidence.prevHash', "!b.ok && b.fact === 'evidence.prevHash'");
  const c = await verifyEpoch({ evidence: `${text} `, claim, target, prevHash: null });
  assert.ok(!c.ok && c.fact === 'evidence', "!c.ok && c.fact === 'evidence'");
});

test('a dishonest coordinator that invents a timeout for an honest provider is refused, the timeout named', async () => {
  const { inputs: i5, facts: f5 } = await honestEpoch();
  const bundleWith = (reputation: NonNullable<typeof f5.reputation>) =>
    encodeEvidence({
      version: EVIDENCE_VERSION,
      epoch: 3,
      ...target,
      prevHash: GENESIS_EVIDENCE_HASH,
      inputs: i5,
      facts: { ...f5, reputation },
    });
  const claimFor = (h: `0x${string}`): EpochClaim => {
    const o = computeEpoch(i5, h);
    const json = JSON.parse(JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    const leaves = (JSON.parse(o.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
      account: v.value[0],
      cumulativeAmount: v.value[1],
    }));
    return { epoch: 3, payload: json, leaves };
  };
  const c = f5.charges[0]!;
  const at = i5.startsAt + 5_000;
  const cases: [string, NonNullable<typeof f5.reputation>, RegExp][] = [
    ['a timeout with nothing behind it', [{ provider: p1, kind: 'timeout', at }], /^reputation\[0\]\.cause$/],
    [
      'a timeout for the lease the provider delivered and was paid for',
      [
        { provider: p1, kind: 'agreed', at: at - 1 },
        {
          provider: p1,
          kind: 'timeout',
          at,
          cause: {
            lease: c.assignmentId,
            task: c.taskId,
            job: c.jobId,
            leasedAt: at - 200_000,
            endedAt: at - 1,
            code: 'PLX_LEASE_EXPIRED',
            timeoutSec: 120,
          },
        },
      ],
      /^reputation\[1\]\.paid$/,
    ],
  ];
  for (const [name, journal, fact] of cases) {
    const b = bundleWith(journal);
    const v = await verifyEpoch({ evidence: b.text, claim: claimFor(b.hash), target, prevHash: null });
    assert.ok(!v.ok, name);
    assert.match(v.fact, fact, name);
    assert.match(v.claimed, new RegExp(`timeout of ${p1}`), `${name}: the dispute names the provider`);
  }
  // The same epoch without the invented timeout is signed.
  const honest = bundleWith([{ provider: p1, kind: 'agreed', at }]);
  const ok = await verifyEpoch({
    evidence: honest.text,
    claim: claimFor(honest.hash),
    target,
    prevHash: null,
  });
  assert.ok(ok.ok, 'the honest journal is signed');
});

test('review 2 (compensations): a validator that follows the network from its first bundle keeps every charge it signs, with the job’s client, and has no grace for unseen ones', async () => {
  const replay = new ReputationReplay({ complete: false });
  const v = await verifyEpoch({
    evidence: text,
    claim: honestClaim(),
    target,
    prevHash: GENESIS_EVIDENCE_HASH,
    reputation: replay,
    charges: { seen: () => undefined, used: () => false },
  });
  assert.ok(v.ok && v.charges && v.reputation, 'signed, with its charges');
  assert.deepEqual(
    v.charges.charges.map((c) => [c.ref, c.client, c.charge]),
    facts.charges.map((c) => [c.ref.toLowerCase(), c1.toLowerCase(), c.charge]),
  );
  assert.equal(v.charges.endsAt, inputs.endsAt);
  assert.deepEqual(v.reputation.charges, { from: inputs.closedAt, grace: false });
  // One that joins later (not the genesis bundle's replay) gets the grace.
  const late = new ReputationReplay({ complete: false, seen: true });
  const w = await verifyEpoch({
    evidence: text,
    claim: honestClaim(),
    target,
    prevHash: GENESIS_EVIDENCE_HASH,
    reputation: late,
    charges: { seen: () => undefined, used: () => false },
  });
  assert.ok(w.ok && w.reputation?.charges?.grace === true, 'a validator without the history has the grace');
});

test('version 7: a reinstatement carries the signed checks of its review; one invented for an ally is refused and named', async () => {
  const { inputs: i7fixture, facts: f7 } = await honestEpoch();
  // The checks' draws fall in this epoch (checkCheckerDraw.ts: a draw's epoch is the one its time
  // is in): the epoch runs from the fixture's start past the fixture's signing time.
  const signedAtMs = 1_790_000_000_000;
  const i7 = { ...i7fixture, endsAt: signedAtMs + 1_000, closedAt: signedAtMs + 1_200 };
  const at = i7.startsAt + 5_000;
  const faultTask = `0x${'7f'.repeat(32)}` as Hex;
  const canaryTask = `0x${'7c'.repeat(32)}` as Hex;
  const [first, second] = checkerKeys;
  const review = {
    expectedCid: 'e0'.repeat(32),
    check: {
      provider: second.address.toLowerCase(),
      result: await signedResult(second, `0x${'c2'.repeat(32)}`, canaryTask, 'e1'.repeat(32)),
    },
    firstCheck: {
      provider: first.address.toLowerCase(),
      result: await signedResult(first, `0x${'c1'.repeat(32)}`, canaryTask, 'e1'.repeat(32)),
    },
    wronged: await signedResult(cheaterKey, `0x${'b7'.repeat(32)}`, faultTask, 'e1'.repeat(32)),
  };
  // Version 10: each check carries what its checker was drawn on (checkReviewCheckers.ts).
  const basisOf = (c: typeof review.check, parties: string[]): ReviewCheckBasis => ({
    at: c.result.issuedAt * 1000 - 1,
    epoch: 3,
    draw: 0.1,
    parties,
    identities: Object.fromEntries(
      [c.provider, ...parties].map((a) => [a, { prefix: null, funders: [] as string[] }]),
    ),
    hubs: [],
    // Version 12: the draw's review and the providers drawn lower (none: each was drawn first).
    reviewId: 'review-7',
    openedAt: c.result.issuedAt * 1000 - 1,
    lower: [],
  });
  const v9Review = review;
  const f1 = review.firstCheck.provider;
  const v10Review = {
    ...review,
    check: { ...review.check, basis: basisOf(review.check, [cheater, f1]) },
    firstCheck: { ...review.firstCheck, basis: basisOf(review.firstCheck, [cheater]) },
  };
  const reinstate = (r?: typeof review): ReputationEntry => ({
    provider: cheater,
    kind: 'reinstate',
    at,
    before: null,
    faultAt: at - 1_000,
    ...(r ? { review: r } : {}),
  });
  const check = async (entry: ReputationEntry, version = EVIDENCE_VERSION) => {
    const b = encodeEvidence({
      version,
      epoch: 3,
      ...target,
      prevHash: GENESIS_EVIDENCE_HASH,
      inputs: i7,
      facts: { ...f7, reputation: [entry] },
    });
    const o = computeEpoch(i7, b.hash);
    const payload = JSON.parse(
      JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    );
    const leaves = (JSON.parse(o.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
      account: v.value[0],
      cumulativeAmount: v.value[1],
    }));
    const v = await verifyEpoch({
      evidence: b.text,
      claim: { epoch: 3, payload, leaves },
      target,
      prevHash: null,
    });
    return v.ok ? null : v.fact;
  };
  assert.equal(await check(reinstate(v10Review)), null, 'a reinstatement with its review is signed');
  assert.equal(await check(reinstate(v9Review), 9), null, 'version 9: no check basis needed');
  const v11Review = structuredClone(v10Review);
  for (const c of [v11Review.check, v11Review.firstCheck]) {
    delete c.basis.reviewId;
    delete c.basis.openedAt;
    delete c.basis.lower;
  }
  assert.equal(await check(reinstate(v11Review), 11), null, 'version 11: no draw record needed');
  assert.equal(
    await check(reinstate(v11Review)),
    'reputation[0].review.check.basis.lower',
    'version 12: a check without the providers drawn lower is refused',
  );
  assert.equal(
    await check(reinstate(v9Review)),
    'reputation[0].review.check.basis',
    'version 10: a check without what its checker was drawn on is refused',
  );
  // A check drawn before the coordinator kept bases: allowed only for a result signed before the
  // first version-10 bundle the validator's replay applied closed (ReputationReplay.basesFrom).
  const signedAt = v9Review.check.result.issuedAt * 1000;
  const legacy = { entries: [], reputation: [reinstate(v9Review)] };
  assert.equal(checkReviewCheckers(legacy, undefined, true, signedAt + 1), null, 'drawn before the upgrade');
  assert.equal(
    checkReviewCheckers(legacy, undefined, true, signedAt)?.fact,
    'reputation[0].review.check.basis',
    'signed after it: refused',
  );
  // A dishonest coordinator draws the ally's own funder as its checker.
  const funded = structuredClone(v10Review);
  funded.check.basis.identities[cheater] = { prefix: null, funders: [review.check.provider] };
  assert.equal(
    await check(reinstate(funded)),
    'reputation[0].review.check.basis.independence',
    "the reinstated provider's funder checking it",
  );
  // Or leaves the first checker out of the parties the second one had to be clear of.
  const notClear = structuredClone(v10Review);
  notClear.check.basis.parties = [cheater];
  assert.equal(
    await check(reinstate(notClear)),
    'reputation[0].review.check.basis.parties',
    'the first checker left out of the second draw',
  );
  assert.equal(
    await check(reinstate()),
    'reputation[0].review',
    'a bare reinstatement (an invented one) is refused',
  );
  assert.equal(await check(reinstate(), 6), null, 'a version-6 bundle (no reviews then) is still read');
  const forged = {
    ...review,
    check: { ...review.check, result: { ...review.check.result, outputCid: 'e2'.repeat(32) } },
  };
  assert.equal(
    await check(reinstate(forged)),
    'reputation[0].review.check.signature',
    'a check the checker did not sign',
  );
  const selfChecked = { ...review, check: { provider: cheater, result: review.wronged } };
  assert.equal(
    await check(reinstate(selfChecked)),
    'reputation[0].review.checks',
    'the ally checking itself',
  );
  const allyWronged = { ...review, wronged: { ...review.wronged, outputCid: `${'e1'.repeat(31)}ff` } };
  assert.equal(
    await check(reinstate(allyWronged)),
    'reputation[0].review.wronged.signature',
    'a result the reinstated provider did not sign',
  );
});

test('version 8: a storage hold carries its price evidence (else refused); an older bundle’s bare hold leaves the price unknown', async () => {
  const { inputs: i8, facts: f8 } = await honestEpoch();
  const objectId = 'ef'.repeat(32);
  const hold = {
    ref: `storage:hold:${objectId}:1`,
    kind: 'storage-hold',
    memo: { client: c1, objectId },
    postings: [
      { account: `client:${c1}:storage-escrow`, amount: '1000' },
      { account: `storage:${objectId}:term`, amount: '-1000' },
    ],
  };
  const inputs8 = {
    ...i8,
    epochBalances: [
      ...i8.epochBalances,
      { account: `client:${c1}:storage-escrow`, balance: 1000n },
      { account: `storage:${objectId}:term`, balance: -1000n },
    ],
  };
  const decide = async (version: number) => {
    const b = encodeEvidence({
      version,
      epoch: 3,
      ...target,
      prevHash: GENESIS_EVIDENCE_HASH,
      inputs: inputs8,
      facts: { ...f8, entries: [...f8.entries, hold] },
    });
    const o = computeEpoch(inputs8, b.hash);
    const payload = JSON.parse(
      JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    );
    const leaves = (JSON.parse(o.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
      account: v.value[0],
      cumulativeAmount: v.value[1],
    }));
    return verifyEpoch({ evidence: b.text, claim: { epoch: 3, payload, leaves }, target, prevHash: null });
  };
  const v8 = await decide(EVIDENCE_VERSION);
  assert.ok(EVIDENCE_VERSION >= 8, 'bundles are written as version 8 or later');
  assert.ok(!v8.ok, 'a version-8 hold without its pricing is refused');
  assert.equal(v8.fact, `entry[${hold.ref}].pricing`, 'the dispute names the hold’s pricing');
  const v7 = await decide(7);
  assert.ok(v7.ok, `a version-7 bundle's bare hold is accepted (${v7.ok ? '' : v7.fact})`);
  assert.deepEqual(v7.storagePrices, [[objectId, null]], 'its object’s price is kept as unknown');
});
