/**
 * A review check's draw names the epoch whose seed recomputes it (issue 17, F1): a basis with its
 * draw record (version 12) whose epoch is not a whole number, is not the epoch its time falls in
 * or is after the bundle's, is refused — before, a forged draw under a made-up epoch was never
 * recomputed, and any other epoch let the coordinator pick the most favourable revealed seed. Its
 * lower providers are at most the providers the bundle knows (each is kept by the validator).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { EpochFacts, ReviewCheckBasis } from '../coordinator/settlement/epochFacts.ts';
import { reviewCheckDraw } from '../coordinator/work/checkerDraw.ts';
import { type DrawEpochs, epochOfTime } from './checkCheckerDraw.ts';
import { checkDraws, publishedDraws } from './checkDraws.ts';
import { checkReviewCheckers } from './checkReviewCheckers.ts';

const seed = '7c'.repeat(32);
const reviewId = 'review-0001';
const at = 1_790_000_000_000;
const HOUR = 3_600_000;
/** Bundle 8 runs an hour from just before the draw: the draw is in epoch 8. */
const epochs: DrawEpochs = { epoch: 8, startsAt: at - 1000, endsAt: at - 1000 + HOUR, providers: 6 };
const wronged = '0x00000000000000000000000000000000000000a1';
const online = ['b1', 'b2', 'b3', 'b4', 'b5']
  .map((s) => `0x${'0'.repeat(38)}${s}`)
  .map((provider) => ({ provider, draw: reviewCheckDraw(seed, reviewId, provider) }))
  .sort((a, b) => a.draw - b.draw);
const ring = online[4]!; // the coordinator's ally: the highest real draw

/** The ally named with a made-up draw, nobody lower, under `epoch`. */
function forged(epoch: unknown, lower: ReviewCheckBasis['lower'] = []) {
  const identities: ReviewCheckBasis['identities'] = {};
  for (const [i, p] of [wronged, ...online.map((o) => o.provider)].entries())
    identities[p] = { prefix: `10.0.${i}.0/24`, funders: [] };
  const basis = {
    at,
    epoch,
    draw: 0.0001,
    parties: [wronged],
    identities,
    hubs: [],
    reviewId,
    openedAt: at,
    lower,
  } as ReviewCheckBasis;
  const result = { issuedAt: Math.floor(at / 1000) + 1 };
  const commitment = `0x${createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex')}`;
  return {
    entries: [
      {
        kind: 'compensation',
        ref: 'comp:reward:1',
        memo: {
          part: 'reward',
          provider: wronged,
          wrong: [],
          check: { provider: ring.provider, result, basis },
        },
      },
    ],
    reputation: [],
    draws: [],
    canaries: [],
    charges: [],
    audits: { commitment: { epoch: 9, commitment }, reveals: [{ epoch: 8, seed, draws: [] }] },
  } as unknown as EpochFacts;
}

const name = 'compensation[comp:reward:1].check.basis';

test('the epoch of a time is counted in the bundle epoch length', () => {
  assert.equal(epochOfTime(epochs, at), 8, 'in the bundle');
  assert.equal(epochOfTime(epochs, at - 1001), 7, 'just before its start');
  assert.equal(epochOfTime(epochs, at - 1000 + HOUR), 9, 'at its end');
  assert.equal(epochOfTime({ ...epochs, endsAt: epochs.startsAt }, at), null, 'no length');
});

test('a review-check basis under a made-up or another epoch is refused', () => {
  for (const epoch of [null, -1, 0, 1.5, 1e9, 7, 9]) {
    const facts = forged(epoch);
    assert.equal(
      checkReviewCheckers(facts, undefined, true, 0, 0, epochs)?.fact,
      `${name}.epoch`,
      `epoch ${epoch} refused by the checker draw`,
    );
  }
  for (const epoch of [null, -1, 0, 1.5, 1e9, 9]) {
    const d = checkDraws(forged(epoch), {
      epoch: 8,
      policyOf: () => undefined,
      commitmentOf: () => undefined,
      remembered: () => [],
    });
    assert.equal(d?.fact, `${name}.epoch`, `epoch ${epoch} refused by the draws`);
    if (!Number.isSafeInteger(epoch) || (epoch as number) < 1)
      assert.throws(
        () => publishedDraws(forged(epoch)),
        /whole epoch/,
        `epoch ${epoch}: never left unpublished`,
      );
  }
  // Its own epoch: checked by the draw, and the forged value is refuted at the seed's reveal.
  assert.equal(checkReviewCheckers(forged(8), undefined, true, 0, 0, epochs), null, 'the right epoch');
  assert.equal(
    checkDraws(forged(8), {
      epoch: 8,
      policyOf: () => undefined,
      commitmentOf: () => undefined,
      remembered: () => [],
    })?.fact,
    `${name}.draw`,
    'the forged draw recomputed',
  );
});

test('more lower providers than the bundle knows are refused', () => {
  const lower = Array.from({ length: 7 }, (_, i) => ({
    provider: `0x${'0'.repeat(37)}c${i}`.slice(0, 42),
    draw: 0.00001 * i,
    skip: 'leased' as const,
  }));
  assert.equal(
    checkReviewCheckers(forged(8, lower), undefined, true, 0, 0, epochs)?.fact,
    `${name}.lower`,
    'seven lower, six known',
  );
});
