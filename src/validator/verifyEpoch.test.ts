/**
 * The validator's decision over one epoch, without processes: an honest claim is signed as
 * recomputed; each kind of altered claim is refused with the first differing fact named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Address } from 'viem';
import { computeEpoch, type EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import { encodeEvidence, GENESIS_EVIDENCE_HASH } from '../coordinator/settlement/evidence.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';

const p1 = `0x${'a1'.repeat(20)}` as Address;
const c1 = `0x${'c1'.repeat(20)}` as Address;
const settlement = `0x${'5e'.repeat(20)}` as Address;
const target = { chainId: 31337, settlement };

const inputs: EpochInputs = {
  epoch: 3,
  startsAt: 10_000,
  endsAt: 11_000,
  closedAt: 11_200,
  emissionPerEpoch: 0n,
  sensorEmissionPerEpoch: 0n,
  unsettled: [{ client: c1, amount: 60n, escrow: 100n }],
  slashRequests: [{ id: 1, provider: p1, amount: 5n }],
  stakeHeld: [{ provider: p1, held: 100n }],
  sessions: [],
  activeOnChain: [],
  faulted: [],
  providers: [],
  sensorScores: [],
  providerBalances: [{ account: `provider:${p1}:earnings`, balance: -57n }],
  epochBalances: [{ account: `provider:${p1}:earnings`, balance: -57n }],
  tasksSettled: 2,
  leases: [],
  prices: [{ class: 'cpu', basePrice: 8_000_000n }],
};
const { text, hash } = encodeEvidence({
  version: 1,
  epoch: 3,
  ...target,
  prevHash: GENESIS_EVIDENCE_HASH,
  inputs,
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

test('an honest claim is verified and the recomputed payload, evidence hash included, is what gets signed', () => {
  const v = verifyEpoch({ evidence: text, claim: honestClaim(), target, prevHash: GENESIS_EVIDENCE_HASH });
  assert.ok(v.ok);
  assert.equal(v.payload.evidenceHash, hash);
  assert.equal(v.payload.totalEarned, 57n);
});

test('each altered fact is refused and named', () => {
  const cases: [string, (c: EpochClaim) => void, RegExp][] = [
    ['earnings +1', (c) => (c.leaves[0]!.cumulativeAmount = '58'), /^rewards\[0xa1/],
    ['charged twice', (c) => (c.payload.charges[0]!.amount = '120'), /^charge\[0xc1/],
    ['a charge never owed', (c) => c.payload.charges.push({ client: p1, amount: '1' }), /^charge\[0xa1/],
    [
      'a slash with no evidence',
      (c) => (c.payload.slashes = [...c.payload.slashes, { provider: c1, amount: '1' }]),
      /^slash\[0xc1/,
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
    const v = verifyEpoch({ evidence: text, claim, target, prevHash: null });
    assert.ok(!v.ok, name);
    assert.match(v.fact, fact, name);
  }
});

test('evidence for another contract, off the chain of bundles, or not canonical is refused', () => {
  const claim = honestClaim();
  const other = { chainId: 31337, settlement: `0x${'77'.repeat(20)}` as Address };
  const a = verifyEpoch({ evidence: text, claim, target: other, prevHash: null });
  assert.ok(!a.ok && a.fact === 'evidence.settlement');
  const b = verifyEpoch({ evidence: text, claim, target, prevHash: `0x${'11'.repeat(32)}` });
  assert.ok(!b.ok && b.fact === 'evidence.prevHash');
  const c = verifyEpoch({ evidence: `${text} `, claim, target, prevHash: null });
  assert.ok(!c.ok && c.fact === 'evidence');
});
