/**
 * A review's checker must be the one the seeded draw picks (evidence version 12,
 * checkCheckerDraw.ts; the draws recomputed at the seed's reveal, checkDraws.ts): an honest draw
 * holds; a bundle naming a checker drawn past a lower provider that held priority, or passing one
 * over with a reason the basis or the replay refutes (party, kin, untrusted), or forging the
 * checker's draw, is refused with the fact named; a basis without its draw record is refused once
 * required (version 12) and read as before in older bundles.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { EpochFacts, ReviewCheckBasis } from '../coordinator/settlement/epochFacts.ts';
import { newReputation } from '../coordinator/verification/reputation.ts';
import { CHECKER_PRIORITY_MS, reviewCheckDraw } from '../coordinator/work/checkerDraw.ts';
import { checkCheckerDraw } from './checkCheckerDraw.ts';
import { checkDraws, publishedDraws } from './checkDraws.ts';
import { checkReviewCheckers } from './checkReviewCheckers.ts';
import { ReputationReplay } from './reputationReplay.ts';

const seed = '7c'.repeat(32);
const reviewId = 'review-0001';
const at = 1_790_000_000_000;
const wronged = '0x00000000000000000000000000000000000000a1';
/** Five trusted providers online at the draw, by their draw for the review. */
const online = ['b1', 'b2', 'b3', 'b4', 'b5']
  .map((s) => `0x${'0'.repeat(38)}${s}`)
  .map((provider) => ({ provider, draw: reviewCheckDraw(seed, reviewId, provider) }))
  .sort((a, b) => a.draw - b.draw);
const honest = online[0]!; // the lowest draw: the checker the seed picks
const ring = online[4]!; // the highest: the coordinator's ally

/** A basis for `checker` over the `lower` providers, each on its own network. */
function basisOf(
  checker: { provider: string; draw: number },
  lower: NonNullable<ReviewCheckBasis['lower']>,
): ReviewCheckBasis {
  const identities: ReviewCheckBasis['identities'] = {};
  for (const [i, p] of [wronged, ...online.map((o) => o.provider)].entries())
    identities[p] = { prefix: `10.0.${i}.0/24`, funders: [] };
  return {
    at,
    epoch: 7,
    draw: checker.draw,
    parties: [wronged],
    identities,
    hubs: [],
    reviewId,
    openedAt: at,
    lower,
  };
}

/** A compensation whose check names `checker`, drawn on `basis`. */
function bundleNaming(checker: string, basis: ReviewCheckBasis) {
  const result = { issuedAt: Math.floor(at / 1000) + 1 };
  return {
    entries: [
      {
        kind: 'compensation',
        ref: 'comp:reward:1',
        memo: { part: 'reward', provider: wronged, wrong: [], check: { provider: checker, result, basis } },
      },
    ],
  };
}

/** A journal replay in which every online provider is trusted. */
function trustedReplay(): ReputationReplay {
  const r = new ReputationReplay({ complete: true });
  const state = { ...newReputation(0), alpha: 40, consecutiveValid: 25, verifiedValid: 25 };
  assert.equal(
    r.add(
      online.map((o) => ({ provider: o.provider, kind: 'state' as const, at: 0, state })),
      1,
    ),
    null,
    'replayed',
  );
  return r;
}

test('the checker the seed picks holds; a bundle naming a checker the draw did not pick is refused', () => {
  assert.equal(
    checkReviewCheckers(bundleNaming(honest.provider, basisOf(honest, [])), trustedReplay(), true),
    null,
    'the drawn checker',
  );
  // The ally named, the honest providers drawn lower listed as holding priority.
  const named = basisOf(ring, online.slice(0, 4));
  assert.equal(
    checkReviewCheckers(bundleNaming(ring.provider, named), trustedReplay(), true)?.fact,
    'compensation[comp:reward:1].check.basis.lower',
    'a checker drawn past providers that held priority',
  );
  // An hour on, one idle lower provider may be passed, not four.
  named.openedAt = at - CHECKER_PRIORITY_MS;
  assert.equal(
    checkCheckerDraw('c', ring.provider, named, true, undefined)?.fact,
    'c.basis.lower',
    'two ranks, four held',
  );
  const oneHeld = basisOf(
    ring,
    online.slice(0, 4).map((o, i) => (i === 0 ? o : { ...o, skip: 'leased' as const })),
  );
  oneHeld.openedAt = at - CHECKER_PRIORITY_MS;
  assert.equal(
    checkCheckerDraw('c', ring.provider, oneHeld, true, undefined),
    null,
    'one held, passed after an hour',
  );
});

test('a provider passed over with a reason the basis or the replay refutes is refused', () => {
  const passed = (skip: 'party' | 'kin' | 'untrusted') =>
    basisOf(
      ring,
      online.slice(0, 4).map((o) => ({ ...o, skip })),
    );
  const replay = trustedReplay();
  assert.equal(
    checkCheckerDraw('c', ring.provider, passed('party'), true, replay)?.fact,
    'c.basis.lower[0].skip',
    'not a party',
  );
  assert.equal(
    checkCheckerDraw('c', ring.provider, passed('kin'), true, replay)?.fact,
    'c.basis.lower[0].skip',
    'on other networks',
  );
  assert.equal(
    checkCheckerDraw('c', ring.provider, passed('untrusted'), true, replay)?.fact,
    'c.basis.lower[0].skip',
    'trusted in the replay',
  );
  // The same reasons where they hold: the first on the wronged provider's network, a party.
  const kin = passed('kin');
  kin.lower = kin.lower!.slice(0, 1);
  kin.identities[honest.provider]!.prefix = kin.identities[wronged]!.prefix;
  assert.equal(checkCheckerDraw('c', ring.provider, kin, true, replay), null, 'kin of a party');
  const party = {
    ...kin,
    parties: [wronged, honest.provider],
    lower: [{ ...honest, skip: 'party' as const }],
  };
  assert.equal(checkCheckerDraw('c', ring.provider, party, true, replay), null, 'a party');
  // Out of order, above the checker's draw, or listed twice.
  const disorder = basisOf(
    ring,
    [online[1]!, online[0]!].map((o) => ({ ...o, skip: 'leased' as const })),
  );
  assert.equal(
    checkCheckerDraw('c', ring.provider, disorder, true, replay)?.fact,
    'c.basis.lower[1].draw',
    'by draw',
  );
  const above = basisOf(honest, [{ ...ring, skip: 'leased' as const }]);
  assert.equal(
    checkCheckerDraw('c', honest.provider, above, true, replay)?.fact,
    'c.basis.lower[0].draw',
    'under the draw',
  );
});

test("a checker's forged draw is refused when the seed is revealed, in the bundle or remembered", () => {
  const forged = basisOf({ provider: ring.provider, draw: honest.draw / 2 }, []);
  const facts = bundleNaming(ring.provider, forged);
  assert.equal(
    checkCheckerDraw('c', ring.provider, forged, true, undefined),
    null,
    'nothing to refute before the reveal',
  );
  const commitment = `0x${createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex')}`;
  const revealing = (reveals: { epoch: number; seed: string; draws: [] }[], f = facts) =>
    ({
      charges: [],
      draws: [],
      canaries: [],
      entries: f.entries,
      audits: { commitment: { epoch: 9, commitment }, reveals },
    }) as unknown as EpochFacts;
  const run = (
    f: EpochFacts,
    o: { remembered?: ReturnType<typeof publishedDraws>; seedOf?: (e: number) => string | undefined } = {},
  ) =>
    checkDraws(f, {
      epoch: 8,
      policyOf: () => undefined,
      commitmentOf: () => undefined,
      remembered: () => o.remembered ?? [],
      ...(o.seedOf ? { seedOf: o.seedOf } : {}),
    })?.fact;
  const name = 'compensation[comp:reward:1].check.basis.draw';
  assert.equal(run(revealing([{ epoch: 7, seed, draws: [] }])), name, 'revealed in the same bundle');
  const earlier = publishedDraws(revealing([]));
  assert.equal(
    run(revealing([{ epoch: 7, seed, draws: [] }], { entries: [] }), { remembered: earlier }),
    name,
    'remembered',
  );
  assert.equal(
    run(revealing([]), { seedOf: (e) => (e === 7 ? seed : undefined) }),
    name,
    'published after its reveal',
  );
  const fair = bundleNaming(honest.provider, basisOf(honest, []));
  assert.equal(
    run(revealing([{ epoch: 7, seed, draws: [] }], fair)),
    undefined,
    'the honest draw recomputes',
  );
});

test('version gating: a basis without its draw record is refused once required, read as before in older bundles', () => {
  const legacy = basisOf(honest, []);
  delete legacy.lower;
  const facts = bundleNaming(honest.provider, legacy);
  assert.equal(checkReviewCheckers(facts, undefined, true), null, 'a version 10 or 11 bundle');
  assert.equal(
    checkReviewCheckers(facts, undefined, true, undefined, at + 5000),
    null,
    'signed before the first version-12 bundle',
  );
  assert.equal(
    checkReviewCheckers(facts, undefined, true, undefined, at)?.fact,
    'compensation[comp:reward:1].check.basis.lower',
    'signed after it',
  );
});
