/**
 * No version downgrade (issue 17, F2; versionRule.ts): a coordinator that published version 12
 * labels its next bundle 11 (or 2), skipping the capability proofs, and splits emission by an
 * unproven gflops — refused once this validator accepted a version-12 bundle of the chain, and
 * for any epoch starting from the version-12 cutoff; the validator store keeps the highest version.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { computeEpoch } from '../coordinator/settlement/epochComputation.ts';
import { encodeEvidence, GENESIS_EVIDENCE_HASH } from '../coordinator/settlement/evidence.ts';
import { CHAIN_ID, honestEpoch, provider, SETTLEMENT } from './factsFixture.ts';
import { openValidatorStore } from './validatorStore.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';
import { VERSION_12_SINCE_MS, versionProblem } from './versionRule.ts';

const cheater = `0x${'77'.repeat(20)}`;
const cpuClaim = { cpuModel: 'x', cpuCores: 4, memoryBytes: 2 ** 33, gpus: [], executionProviders: ['cpu'] };
const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };

/** The cheater claims 1000 gflops with no capability proof, in a bundle labelled `version`. */
async function decide(version: number, o: { prevVersion?: number; startsAt?: number } = {}) {
  const { inputs, facts } = await honestEpoch();
  const shift = (o.startsAt ?? inputs.startsAt) - inputs.startsAt;
  const cap = (g: number) =>
    JSON.stringify({ class: 'cpu', proven: true, gflops: g, checkedAt: inputs.startsAt + 1 });
  const i = {
    ...inputs,
    startsAt: inputs.startsAt + shift,
    endsAt: inputs.endsAt + shift,
    closedAt: inputs.closedAt + shift,
    emissionPerEpoch: 1_000_000n,
    sessions: [provider, cheater].map((p) => ({
      provider: p,
      slots: 1,
      connectedAt: inputs.startsAt + shift,
      disconnectedAt: null,
    })),
    activeOnChain: [provider, cheater],
    providers: [
      { address: provider, region: 'unverified', hardware: cpuClaim, capability: cap(1) },
      { address: cheater, region: 'unverified', hardware: cpuClaim, capability: cap(1000) },
    ],
  } as typeof inputs;
  const { text, hash } = encodeEvidence({
    version,
    epoch: 3,
    ...target,
    prevHash: GENESIS_EVIDENCE_HASH,
    inputs: i,
    facts: { ...facts, capabilityProofs: [] },
  });
  const out = computeEpoch(i, hash);
  const payload = JSON.parse(
    JSON.stringify(out.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  );
  const leaves = (JSON.parse(out.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
    account: v.value[0],
    cumulativeAmount: v.value[1],
  }));
  const v = await verifyEpoch({
    evidence: text,
    claim: { epoch: 3, payload, leaves } as EpochClaim,
    target,
    prevHash: GENESIS_EVIDENCE_HASH,
    ...(o.prevVersion !== undefined ? { prevVersion: o.prevVersion } : {}),
  });
  return v.ok ? null : v.fact;
}

test('a bundle labelled older than one accepted before it is refused', async () => {
  assert.notEqual(await decide(12), null, 'version 12 checks the capability proofs');
  assert.equal(
    await decide(11),
    null,
    'a history that never saw version 12, before the cutoff: read as before',
  );
  for (const version of [11, 2])
    assert.equal(
      await decide(version, { prevVersion: 12 }),
      'evidence.version',
      `version ${version} after a version-12 bundle`,
    );
  assert.equal(await decide(11, { prevVersion: 11 }), null, 'the same version again');
});

test('an epoch starting from the cutoff must be version 12', async () => {
  assert.equal(
    await decide(11, { startsAt: VERSION_12_SINCE_MS }),
    'evidence.version',
    'version 11 for an epoch starting at the cutoff',
  );
  assert.equal(versionProblem(11, VERSION_12_SINCE_MS - 1, undefined), null, 'just before it');
  assert.equal(versionProblem(12, VERSION_12_SINCE_MS, 12), null, 'version 12 from it');
  assert.equal(versionProblem(11, 0, undefined, 0)?.fact, 'evidence.version', 'a pinned cutoff');
  assert.equal(VERSION_12_SINCE_MS, Date.parse('2026-12-21T00:00:00Z'), 'the documented date');
});

test('the validator store keeps the highest version it signed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-version-'));
  try {
    const store = openValidatorStore(join(dir, 'v.db'));
    assert.equal(store.highestVersion('a'), undefined, 'none yet');
    store.rememberVersion('a', 12);
    store.rememberVersion('a', 11);
    assert.equal(store.highestVersion('a'), 12, 'never lowered');
    assert.equal(store.highestVersion('b'), undefined, 'per coordinator');
    store.close();
    const again = openValidatorStore(join(dir, 'v.db'));
    assert.equal(again.highestVersion('a'), 12, 'kept across a restart');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
