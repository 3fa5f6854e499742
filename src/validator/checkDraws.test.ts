/**
 * Every random draw that moves money, replayed (checkDraws.ts; canary answers in checkVerdicts.ts):
 * an honest audit-policy epoch holds; a charged task without its draw, a draw under its rate that
 * was not audited, a rate under the task's C/(R+F), an audit billed that was never drawn, a drawn
 * audit settled with one execution, a draw that the revealed seed does not give (in this bundle or
 * remembered from an earlier one), an undrawn canary, and a canary passed with a wrong answer are
 * each refused with the fact named.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import type { AuditDraw, CanaryFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import type { VerificationPolicy } from '../coordinator/verification/policy.ts';
import { hashUnit } from '../protocol/rng.ts';
import { encodeSafetensors } from '../protocol/safetensors.ts';
import { type TensorSet, tensorSetDigest } from '../protocol/tensorSet.ts';
import { checkDraws, type PublishedDraw, publishedDraws } from './checkDraws.ts';
import { checkVerdicts } from './checkVerdicts.ts';
import { honestEpoch, provider } from './factsFixture.ts';
import { BlobRefused } from './recheck.ts';

const seed = '5e'.repeat(32);
const commitment = `0x${createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex')}` as Hex;
const economics = { reward: '100', honestCost: '80', slashable: '2000' }; // bound ≈ 0.038

/** The fixture's epoch with its job under the audit policy and the draw of its charged task. */
async function auditEpoch(rate = 0.05) {
  const { facts, inputs } = await honestEpoch();
  const c = facts.charges[0]!;
  const draw = hashUnit(seed, 'audit', provider, c.taskId);
  const d: AuditDraw = {
    taskId: c.taskId,
    provider,
    epoch: 2,
    rate,
    draw,
    audited: draw < rate,
    otherOnline: true,
    economics,
  };
  facts.draws = [d];
  return { facts, inputs, draw: d };
}

function run(
  facts: EpochFacts,
  opts: { remembered?: PublishedDraw[]; policy?: VerificationPolicy['kind'] } = {},
) {
  return checkDraws(facts, {
    epoch: 3,
    policyOf: () => ({ kind: opts.policy ?? 'audit' }) as VerificationPolicy,
    commitmentOf: (e) => (e === 2 ? commitment : undefined),
    remembered: (e) => (opts.remembered ?? []).filter((r) => r.epoch === e),
  });
}

test('an honest audit-policy epoch: drawn, bounded by C/(R+F), paid as drawn', async () => {
  const { facts, draw } = await auditEpoch();
  assert.equal(draw.audited, false, 'the fixture task is not audited at 5 %');
  assert.equal(run(facts), null);
  // Revealed later: the reveal and the remembered draw both recompute.
  const later = (await honestEpoch()).facts;
  later.audits.reveals = [{ epoch: 2, seed, draws: [draw] }];
  assert.equal(run(later, { remembered: publishedDraws(facts), policy: 'none' }), null);
});

const cases: [string, (f: EpochFacts, d: AuditDraw) => void, RegExp][] = [
  [
    'a charged audit-policy task without its draw',
    (f) => {
      f.draws = [];
    },
    /^audit\[0x[0-9a-f]{64}.*\]\.draw$/,
  ],
  [
    'an audit drawn (draw under the rate, another provider online) but quietly skipped',
    (_f, d) => {
      d.rate = Math.min(1, d.draw + 0.01);
      d.audited = false;
    },
    /^audit\[0x[0-9a-f]{64}:0x.*\]\.audited$/,
  ],
  [
    'a rate under the task economics C/(R+F) (a large task audited like a small one)',
    (_f, d) => {
      d.economics = { reward: '100', honestCost: '1000', slashable: '2000' }; // bound 1/3
    },
    /^audit\[0x[0-9a-f]{64}.*\]\.rate$/,
  ],
  [
    'an audit billed to the client that was never drawn',
    (f) => void f.charges.push({ ...f.charges[0]!, ref: 'exec:x' }),
    /^audit\[0x[0-9a-f]{64}.*\]\.paid$/,
  ],
  [
    'an audit drawn and recorded, then settled with the primary alone',
    (_f, d) => {
      d.rate = 1;
      d.audited = true;
    },
    /^audit\[0x[0-9a-f]{64}.*\]\.paid$/,
  ],
  [
    'a draw without the economics its rate was bounded with',
    (_f, d) => void delete d.economics,
    /^audit\[0x[0-9a-f]{64}.*\]\.economics$/,
  ],
];
for (const [name, tamper, fact] of cases) {
  test(`refused: ${name}`, async () => {
    const { facts, draw } = await auditEpoch();
    tamper(facts, draw);
    assert.match(run(facts)?.fact ?? 'accepted', fact);
  });
}

test('refused when the revealed seed does not give a draw published earlier (or in the same bundle)', async () => {
  const { facts, draw } = await auditEpoch();
  const claimed = { ...draw, draw: Math.min(0.999, draw.draw + 0.1) }; // "not audited", falsely
  const earlier = publishedDraws({ draws: [claimed] });
  const later = (await honestEpoch()).facts;
  later.audits.reveals = [{ epoch: 2, seed, draws: [] }]; // the reveal itself omits the draw
  assert.match(
    run(later, { remembered: earlier, policy: 'none' })?.fact ?? 'accepted',
    /^audit\[.*\]\.draw$/,
  );
  facts.draws = [claimed];
  facts.audits.reveals = [{ epoch: 2, seed, draws: [] }];
  assert.match(run(facts)?.fact ?? 'accepted', /^audit\[.*\]\.draw$/);
  // A reveal that does not open the commitment published two epochs ahead.
  later.audits.reveals = [{ epoch: 2, seed: 'ff'.repeat(32), draws: [] }];
  assert.equal(run(later, { policy: 'none' })?.fact, 'audits.seed[2]');
});

const logits = (values: number[]): TensorSet => ({
  logits: { dtype: 'float32', shape: [values.length], data: Float32Array.from(values) },
});

async function canaryEpoch(output: TensorSet, status: CanaryFact['status']) {
  const { facts } = await honestEpoch();
  const known = logits([0.5, -1.25, 3]);
  const blobs = new Map<string, Uint8Array>([
    ['e1'.repeat(32), encodeSafetensors(known)],
    ['e2'.repeat(32), encodeSafetensors(output)],
  ]);
  const slot = `0x${'51'.repeat(32)}` as Hex;
  facts.canaries = [
    {
      leaseId: `0x${'c1'.repeat(32)}` as Hex,
      taskId: `0x${'c2'.repeat(32)}` as Hex,
      provider,
      status,
      expectedCid: 'e1'.repeat(32),
      expectedDigest: tensorSetDigest(known),
      result: {
        outputCid: 'e2'.repeat(32),
        usage: { wallMs: 5, cpuMs: 5, peakRssBytes: 1 },
        issuedAt: 1,
        signature: '0x',
      },
      draw: { epoch: 2, slot, rate: 1, draw: hashUnit(seed, 'canary', provider, slot) },
    },
  ];
  const read = async (cid: string) => {
    const b = blobs.get(cid);
    if (!b) throw new BlobRefused('blob: HTTP 404');
    return b;
  };
  return { facts, read };
}

test('canaries: drawn under their rate, recomputed at the reveal, passed exactly when the answer matches', async () => {
  const right = await canaryEpoch(logits([0.5000001, -1.25, 3]), 'passed');
  const draw = right.facts.canaries![0]!.draw!;
  assert.ok(draw.draw < draw.rate, 'a provider on probation draws a canary in every slot');
  assert.equal(run(right.facts, { policy: 'none' }), null);
  assert.equal(await checkVerdicts(right.facts, right.read), null);
  // A canary whose draw was over its rate was never drawn.
  right.facts.canaries![0]!.draw = { ...draw, rate: draw.draw / 2 };
  assert.match(run(right.facts, { policy: 'none' })?.fact ?? 'accepted', /^canary\[0xc1.*\]\.draw$/);
  // A draw the seed does not give.
  const later = (await honestEpoch()).facts;
  later.audits.reveals = [{ epoch: 2, seed, draws: [] }];
  const claimed = publishedDraws({
    canaries: [{ ...right.facts.canaries![0]!, draw: { ...draw, draw: 0.001 } }],
  });
  assert.match(
    run(later, { policy: 'none', remembered: claimed })?.fact ?? 'accepted',
    /^canary\[0xc1.*\]\.draw$/,
  );
  // A wrong answer passed, a right one failed.
  const wrong = await canaryEpoch(logits([0.9, -1.25, 2]), 'passed');
  assert.equal((await checkVerdicts(wrong.facts, wrong.read))?.fact, `canary[0x${'c1'.repeat(32)}].verdict`);
  const failedRight = await canaryEpoch(logits([0.5, -1.25, 3]), 'failed');
  assert.equal(
    (await checkVerdicts(failedRight.facts, failedRight.read))?.fact,
    `canary[0x${'c1'.repeat(32)}].verdict`,
  );
  assert.equal(
    (
      await checkVerdicts(wrong.facts, async () => {
        throw new BlobRefused('blob: HTTP 404');
      })
    )?.fact,
    `canary[0x${'c1'.repeat(32)}].blob`,
  );
  // A coordinator that could not be reached is no claim about the blob: no dispute, checked later.
  await assert.rejects(
    checkVerdicts(wrong.facts, async () => {
      throw new TypeError('fetch failed');
    }),
    /fetch failed/,
  );
});
