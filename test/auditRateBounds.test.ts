/**
 * The reputation part of an audit rate is the coordinator's word (docs/validators.md, "Audit
 * rates and reputation"); what a validator checks is that it can only place the rate inside
 * [max(floor, C/(R+F)), 1]. Shown here on the coordinator's own pure rate functions over many
 * reputation states (adaptive `auditRate`, and render frame sampling `renderAuditRate`, the one
 * place reputation lowers a rate), and on the validator's check (checkDraws.ts): every such rate
 * is accepted, a rate just under that minimum or over 1 is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EpochFacts } from '../src/coordinator/settlement/epochFacts.ts';
import { auditRate, economicAuditBound } from '../src/coordinator/verification/auditPolicy.ts';
import { DEFAULT_AUDIT_PARAMS } from '../src/coordinator/verification/constants.ts';
import type { VerificationPolicy } from '../src/coordinator/verification/policy.ts';
import { renderAuditRate } from '../src/coordinator/verification/renderAuditRate.ts';
import type { ReputationState } from '../src/coordinator/verification/reputation.ts';
import { hashUnit } from '../src/protocol/rng.ts';
import { checkDraws } from '../src/validator/checkDraws.ts';

const seed = '3c'.repeat(32);
const provider = `0x${'0a'.repeat(20)}`;
const taskId = `0x${'71'.repeat(32)}`;

/** A small deterministic PRNG (mulberry32). */
function rng(a: number) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The validator's decision on a revealed draw at `rate` for a task with these economics. */
function validatorOn(rate: number, economics: { reward: string; honestCost: string; slashable: string }) {
  const draw = hashUnit(seed, 'audit', provider, taskId);
  const d = { taskId, provider, epoch: 2, rate, draw, audited: draw < rate, otherOnline: true, economics };
  const facts = {
    jobs: [],
    charges: [],
    draws: [],
    canaries: [],
    audits: {
      commitment: { epoch: 5, commitment: `0x${'00'.repeat(32)}` },
      reveals: [{ epoch: 2, seed, draws: [d] }],
    },
  } as unknown as EpochFacts;
  return checkDraws(facts, {
    epoch: 3,
    policyOf: () => ({ kind: 'audit' }) as VerificationPolicy,
    commitmentOf: () => undefined,
    remembered: () => [],
  });
}

test('whatever the reputation, the coordinator rate is within [max(floor, C/(R+F)), 1] and the validator accepts it', () => {
  const next = rng(17);
  for (let i = 0; i < 2000; i++) {
    const reward = BigInt(1 + Math.floor(next() * 1e6));
    const honestCost = BigInt(Math.floor(next() * Number(reward) * 1.5));
    const slashable = BigInt(Math.floor(next() * 1e7));
    const economics = {
      reward: String(reward),
      honestCost: String(honestCost),
      slashable: String(slashable),
    };
    const bound = economicAuditBound({ cost: honestCost, reward, slashable });
    const reputation: ReputationState = {
      alpha: 1 + next() * 200,
      beta: 1 + next() * 50,
      consecutiveValid: Math.floor(next() * 500),
      verifiedValid: Math.floor(next() * 500),
      faults: next() < 0.5 ? 0 : Math.floor(next() * 5),
      timeouts: Math.floor(next() * 5),
      updatedAt: 0,
    };
    const minimum = Math.min(1, Math.max(DEFAULT_AUDIT_PARAMS.floor, bound));
    const adaptive = auditRate({ reputation, bound });
    assert.ok(adaptive >= minimum && adaptive <= 1, `auditRate ${adaptive} vs minimum ${minimum}`);
    // Render sampling: reputation (a clean record) may lower the adaptive rate, never under `lower`.
    const lower = Math.max(bound, DEFAULT_AUDIT_PARAMS.floor, next() < 0.3 ? next() : 0);
    const sampled = renderAuditRate({
      rate: adaptive,
      lower,
      tasks: 1 + Math.floor(next() * 500),
      reputation,
    });
    assert.ok(sampled >= minimum && sampled <= 1, `renderAuditRate ${sampled} vs minimum ${minimum}`);
    for (const rate of [adaptive, sampled]) assert.equal(validatorOn(rate, economics), null, `rate ${rate}`);
    if (minimum < 1 && minimum > DEFAULT_AUDIT_PARAMS.floor)
      assert.match(validatorOn(minimum * 0.999, economics)?.fact ?? '', /\.rate$/, 'under C/(R+F)');
  }
  const economics = { reward: '1000', honestCost: '1', slashable: '1000000' }; // bound ≈ 0
  assert.match(
    validatorOn(DEFAULT_AUDIT_PARAMS.floor * 0.99, economics)?.fact ?? '',
    /\.rate$/,
    'under the floor',
  );
  assert.match(validatorOn(1.01, economics)?.fact ?? '', /\.rate$/, 'over 1');
});
