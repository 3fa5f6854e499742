/**
 * A late-joining validator bootstraps its replay from the chain (bootstrapReplay.ts): bundles from
 * epoch 1, chained from the zero hash, each one's sha256 what `evidenceHashOf` stores; the replay is
 * then complete. A bundle the chain does not store (a coordinator serving another history than the
 * one validators finalized), an epoch not finalized, or a broken chain stops it, partial.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { computeEpoch } from '../coordinator/settlement/epochComputation.ts';
import {
  EVIDENCE_VERSION,
  encodeEvidence,
  GENESIS_EVIDENCE_HASH,
} from '../coordinator/settlement/evidence.ts';
import { bootstrapReplay } from './bootstrapReplay.ts';
import { CHAIN_ID, honestEpoch, idleEpoch, SETTLEMENT } from './factsFixture.ts';
import type { EpochClaim } from './verifyEpoch.ts';

const honest = await honestEpoch();
const idle = idleEpoch(honest);
const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };

/**
 * Epochs 1 … n of an honest history (the fixture's epoch first, then epochs that settle nothing,
 * renumbered and chained); `replayed`: the epoch that settles the fixture's charge again.
 */
function history(n: number, tamper?: number, replayed?: number) {
  const out: { text: string; hash: Hex; claim: EpochClaim }[] = [];
  let prevHash = GENESIS_EVIDENCE_HASH;
  for (let epoch = 1; epoch <= n; epoch++) {
    const { inputs, facts } = epoch === 1 || epoch === replayed ? honest : idle;
    const i = { ...inputs, epoch, closedAt: inputs.closedAt + (epoch === tamper ? 1 : 0) };
    const b = encodeEvidence({ version: EVIDENCE_VERSION, epoch, ...target, prevHash, inputs: i, facts });
    const o = computeEpoch(i, b.hash);
    const payload = JSON.parse(
      JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    );
    const leaves = (
      JSON.parse(o.tree ?? '{"values":[]}') as { values: { value: [string, string] }[] }
    ).values.map((v) => ({ account: v.value[0], cumulativeAmount: v.value[1] }));
    out.push({ ...b, claim: { epoch, payload, leaves } });
    prevHash = b.hash;
  }
  return out;
}

test('a late joiner replays epochs 1 … first − 1 checked against evidenceHashOf; its replay is complete', async () => {
  const served = history(3);
  const onChain = served.map((b) => b.hash);
  const run = (bundles = served, finalized = 3) =>
    bootstrapReplay({
      upTo: 4,
      evidence: async (e) => bundles[e - 1]!.text,
      claim: async (e) => bundles[e - 1]!.claim,
      chain: { lastFinalized: async () => finalized, evidenceHashOf: async (e) => onChain[e - 1]! },
      target,
    });
  const ok = await run();
  assert.equal(ok.problem, null, `bootstrapped: ${ok.problem}`);
  assert.equal(ok.applied.length, 3, 'epochs 1 to 3 applied');
  assert.ok(ok.replay.complete, 'the replay starts at the network’s first bundle: complete');
  // The coordinator serves another epoch 2 than the one the chain finalized: stopped there.
  const other = history(3, 2);
  const forged = await run(other);
  assert.match(forged.problem ?? '', /^epoch 2: evidenceHashOf/, 'not what the chain stores');
  assert.equal(forged.applied.length, 1, 'epoch 1 only');
  const early = await run(served, 2);
  assert.match(early.problem ?? '', /epoch 3 is not finalized/, 'unfinalized epochs are not trusted');
  const unchained = [served[0]!, history(2, 1)[1]!, served[2]!];
  const broken = await run(unchained);
  assert.match(broken.problem ?? '', /^epoch 2: evidence\.prevHash/, 'the bundles must chain');
  // Epoch 1 settled every fact the bootstrap applied: each applied epoch carries what it settled.
  assert.deepEqual(ok.applied[0]!.settled.refs, [honest.facts.charges[0]!.ref]);
});

test('a late joiner stops at a bundle that settles again what an earlier one settled (review s12, F2)', async () => {
  // Epoch 3 charges epoch 1's execution again: every bundle is on chain (a quorum signed it).
  const served = history(3, undefined, 3);
  const b = await bootstrapReplay({
    upTo: 4,
    evidence: async (e) => served[e - 1]!.text,
    claim: async (e) => served[e - 1]!.claim,
    chain: { lastFinalized: async () => 3, evidenceHashOf: async (e) => served[e - 1]!.hash },
    target,
  });
  assert.match(b.problem ?? '', /^epoch 3: charge\[exec:0x[0-9a-f]+\]\.settled/, b.problem ?? 'applied');
  assert.equal(b.applied.length, 2, 'epochs 1 and 2 only');
});
