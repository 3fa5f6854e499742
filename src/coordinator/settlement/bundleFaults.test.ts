/**
 * No emission to a provider the bundle proves faulty (review s12, F5; bundleFaults.ts): from
 * evidence version 10 `inputs.faulted` lists every provider the bundle slashes or journals a fault
 * of within the epoch, and a validator refuses a bundle that leaves one out (the emission it would
 * pay that provider). A version 9 bundle is read as before.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeroHash } from 'viem';
import { cheater, honestEpoch, provider } from '../../validator/factsFixture.ts';
import { ReputationReplay } from '../../validator/reputationReplay.ts';
import { bundleOf, target } from '../../validator/settledOnce.fixture.ts';
import { verifyEpoch } from '../../validator/verifyEpoch.ts';
import { provenFaulty, withProvenFaults } from './bundleFaults.ts';
import { computeProviderEmission, type EpochInputs } from './epochComputation.ts';

const { inputs, facts } = await honestEpoch();
const hw = { cpuModel: 'x', cpuCores: 4, memoryBytes: 8 * 1024 ** 3, gpus: [], executionProviders: ['cpu'] };
const cap = JSON.stringify({ proven: true, gflops: 100 });
/** The fixture's epoch with emission: the provider and the cheater (slashed in it) both online. */
const honest: EpochInputs = {
  ...inputs,
  emissionPerEpoch: 1000n * 10n ** 18n,
  activeOnChain: [provider, cheater],
  faulted: [cheater],
  sessions: [provider, cheater].map((p) => ({
    provider: p,
    slots: 1,
    connectedAt: inputs.startsAt,
    disconnectedAt: null,
  })),
  providers: [provider, cheater].map((address) => ({
    address,
    region: 'unverified',
    hardware: hw,
    capability: cap,
  })),
};

const decide = async (i: EpochInputs, version?: number) => {
  // Version 11 unless told: these capabilities carry no proof (version 12, capabilityEvidence.ts).
  const b = bundleOf(facts, i, 3, zeroHash, version ?? 11);
  return verifyEpoch({
    evidence: b.text,
    claim: b.claim,
    target,
    prevHash: null,
    reputation: new ReputationReplay({ complete: true }),
  });
};

test('B6: a bundle that pays emission to a provider it slashes is refused (version 10)', async () => {
  assert.equal(
    computeProviderEmission(honest).shares.get(cheater) ?? 0n,
    0n,
    'the honest split pays the cheater nothing',
  );
  const ok = await decide(honest);
  assert.ok(ok.ok, ok.ok ? '' : ok.fact);
  const ring = { ...honest, faulted: [] };
  assert.ok(
    (computeProviderEmission(ring).shares.get(cheater) ?? 0n) > 0n,
    'the ring split pays the cheater',
  );
  const v = await decide(ring);
  assert.equal(!v.ok && v.fact, `inputs.faulted[${cheater}]`);
  // A version 9 bundle (written before the rule) is read as before.
  const old = await decide(ring, 9);
  assert.ok(old.ok, old.ok ? '' : old.fact);
});

test("a journal fault within the epoch makes its provider faulted; one after the epoch's end does not", () => {
  const journal = (at: number) => ({
    reputation: [{ provider: provider.toUpperCase(), kind: 'fault' as const, at }],
  });
  const none = { ...honest, slashRequests: [], faulted: [] };
  assert.deepEqual(provenFaulty(none, journal(honest.startsAt)), [provider]);
  assert.deepEqual(provenFaulty(none, journal(honest.endsAt)), [], 'journaled after the epoch ended');
  assert.deepEqual(provenFaulty(honest, {}), [cheater], 'the slashed provider');
  assert.deepEqual(
    withProvenFaults({ ...honest, faulted: [] }, journal(honest.startsAt)),
    [cheater, provider].sort(),
  );
  assert.deepEqual(withProvenFaults(honest, {}), [cheater], 'listed once');
});
