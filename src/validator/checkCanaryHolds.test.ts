/**
 * The long-record rule re-derived (evidence version 9, checkCanaryHolds.ts): a canary miss is held
 * for review exactly when the provider's record reached CANARY_REVIEW_MIN_RECORD (no confirmed
 * review) or a review of the canary is open or poisoned. A miss faulted though the record was long
 * (a wronged provider), one held though it was short (a cheater spared), a held miss reported as a
 * plain `review` without the decision, and a record other than the replayed one are each named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import type { CanaryFact, EpochFacts, ReputationEntry } from '../coordinator/settlement/epochFacts.ts';
import { CANARY_REVIEW_MIN_RECORD } from '../coordinator/verification/constants.ts';
import { checkCanaryHolds } from './checkCanaryHolds.ts';
import { provider } from './factsFixture.ts';
import { ReputationReplay } from './reputationReplay.ts';

const miss = (status: CanaryFact['status'], hold: CanaryFact['hold']): EpochFacts => ({
  jobDomain: { chainId: 1, verifyingContract: null },
  jobs: [],
  charges: [],
  entries: [],
  slashes: [],
  audits: { commitment: { epoch: 3, commitment: `0x${'ab'.repeat(32)}` }, reveals: [] },
  canaries: [
    {
      leaseId: `0x${'c1'.repeat(32)}` as Hex,
      taskId: `0x${'ca'.repeat(32)}` as Hex,
      provider,
      status,
      expectedCid: 'dd'.repeat(32),
      expectedDigest: `0x${'dd'.repeat(32)}`,
      result: {
        outputCid: 'ee'.repeat(32),
        usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 },
        issuedAt: 1,
        signature: '0x',
      },
      draw: { epoch: 1, slot: `0x${'05'.repeat(32)}`, rate: 0.5, draw: 0.1 },
      ...(hold ? { hold } : {}),
    },
  ],
});
const long = CANARY_REVIEW_MIN_RECORD;

test('the hold decision follows from the record and the review state', () => {
  assert.equal(
    checkCanaryHolds(miss('failed', { at: 5, record: 3, review: null, held: false })),
    null,
    'short record: faulted',
  );
  assert.equal(
    checkCanaryHolds(miss('review', { at: 5, record: long, review: null, held: true })),
    null,
    'long record: held',
  );
  assert.equal(
    checkCanaryHolds(miss('review', { at: 5, record: 0, review: 'open', held: true })),
    null,
    'open review: held',
  );
  assert.equal(
    checkCanaryHolds(miss('failed', { at: 5, record: long, review: 'confirmed', held: false })),
    null,
    'confirmed: faulted',
  );
  assert.equal(
    checkCanaryHolds(miss('failed', { at: 5, record: long, review: null, held: true })),
    null,
    'held, then confirmed',
  );
  const named = (f: EpochFacts) => checkCanaryHolds(f)?.fact ?? 'passed';
  assert.match(
    named(miss('failed', { at: 5, record: long, review: null, held: false })),
    /^canary\[0xc1.*\]\.hold$/,
    'a long record faulted',
  );
  assert.match(
    named(miss('review', { at: 5, record: 3, review: null, held: true })),
    /\.hold$/,
    'a short record held',
  );
  assert.match(
    named(miss('review', { at: 5, record: 3, review: null, held: false })),
    /\.hold\.status$/,
    'review without a hold',
  );
  assert.match(named(miss('failed', undefined)), /\.hold$/, 'a miss without its decision');
});

test('with a complete journal replay the record must be the replayed one at the miss', () => {
  const replay = new ReputationReplay({ complete: true });
  const valid = (at: number): ReputationEntry => ({ provider, kind: 'valid', at });
  const entries = Array.from({ length: long }, (_, i) => valid(1_000 + i * 100_000));
  assert.equal(replay.add(entries, 1), null);
  const at = 1_000 + long * 100_000;
  assert.equal(
    checkCanaryHolds(miss('review', { at, record: long, review: null, held: true }), replay),
    null,
    'the replayed record',
  );
  const understated = checkCanaryHolds(miss('failed', { at, record: 3, review: null, held: false }), replay);
  assert.match(
    understated?.fact ?? 'passed',
    /\.hold\.record$/,
    'a record understated to fault a long-record provider',
  );
  assert.match(understated!.recomputed, new RegExp(`${long}`), understated!.recomputed);
});
