/**
 * The evidence bundle: canonical, content-addressed, and enough to re-run the epoch exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, zeroHash } from 'viem';
import { computeEpoch, type EpochInputs } from './epochComputation.ts';
import {
  canonicalJson,
  decodeEvidence,
  EVIDENCE_VERSION,
  encodeEvidence,
  GENESIS_EVIDENCE_HASH,
} from './evidence.ts';
import { parseRange } from './evidenceRoutes.ts';

const p1 = `0x${'a1'.repeat(20)}` as Address;
const c1 = `0x${'c1'.repeat(20)}` as Address;
const settlement = `0x${'5e'.repeat(20)}` as Address;

const inputs: EpochInputs = {
  epoch: 3,
  startsAt: 10_000,
  endsAt: 11_000,
  closedAt: 11_200,
  emissionPerEpoch: 100n,
  sensorEmissionPerEpoch: 0n,
  unsettled: [{ client: c1, amount: 60n, escrow: 100n }],
  slashRequests: [],
  stakeHeld: [],
  sessions: [{ provider: p1, slots: 2, connectedAt: 9_000, disconnectedAt: null }],
  activeOnChain: [p1],
  faulted: [],
  providers: [
    {
      address: p1,
      region: 'eu',
      hardware: { cpuModel: 'x', cpuCores: 4, memoryBytes: 1, gpus: [], executionProviders: ['cpu'] },
      capability: JSON.stringify({ proven: true, gflops: 3.5 }),
    },
  ],
  sensorScores: [],
  providerBalances: [{ account: `provider:${p1}:earnings`, balance: -57n }],
  epochBalances: [
    { account: `client:${c1}:unsettled`, balance: 60n },
    { account: `provider:${p1}:earnings`, balance: -57n },
    { account: 'protocol:fees', balance: -3n },
  ],
  tasksSettled: 2,
  leases: [{ provider: p1, createdAt: 10_100, finishedAt: 10_600, gpu: false }],
  prices: [{ class: 'cpu', basePrice: 8_000_000n }],
};

test('canonical JSON sorts keys, writes bigints as strings and is a fixed point of its own parse', () => {
  assert.equal(
    canonicalJson({ b: 1n, a: [2, { d: 'x', c: null, u: undefined }] }),
    '{"a":[2,{"c":null,"d":"x"}],"b":"1"}',
  );
  const text = canonicalJson(inputs);
  assert.equal(canonicalJson(JSON.parse(text)), text);
});

test('a decoded bundle re-runs to the same payload, hash included; any change moves the hash', () => {
  const facts = {
    jobDomain: { chainId: 31337, verifyingContract: null },
    jobs: [],
    charges: [],
    entries: [],
    slashes: [],
    audits: { commitment: { epoch: 5, commitment: `0x${'ab'.repeat(32)}` as const }, reveals: [] },
  };
  const bundle = {
    version: EVIDENCE_VERSION,
    epoch: 3,
    chainId: 31337,
    settlement,
    prevHash: GENESIS_EVIDENCE_HASH,
    inputs,
    facts,
  };
  const { text, hash } = encodeEvidence(bundle);
  assert.match(hash, /^0x[0-9a-f]{64}$/);
  assert.notEqual(hash, zeroHash);
  const decoded = decodeEvidence(text);
  assert.equal(decoded.hash, hash);
  assert.deepEqual(decoded.bundle.inputs, inputs);
  // Lists a bundle of this version always has come back even when the facts left them out.
  // Version 11: the lease salts too (empty: a version-11 bundle is never read as an older one).
  assert.deepEqual(decoded.bundle.facts, {
    ...facts,
    draws: [],
    canaries: [],
    sensorBatches: [],
    leaseSalts: {},
    // Version 12: the capability proofs (none here).
    capabilityProofs: [],
  });
  assert.deepEqual(computeEpoch(decoded.bundle.inputs, decoded.hash), computeEpoch(inputs, hash));
  const raised = encodeEvidence({
    ...bundle,
    inputs: { ...inputs, unsettled: [{ client: c1, amount: 61n, escrow: 100n }] },
  });
  assert.notEqual(raised.hash, hash);
  // Chained: the same facts after another previous bundle are another bundle.
  assert.notEqual(encodeEvidence({ ...bundle, prevHash: raised.hash }).hash, hash);
  // Not canonical (whitespace): refused, since two texts must not share facts under two hashes.
  assert.throws(() => decodeEvidence(JSON.stringify(JSON.parse(text), null, 1)), /not canonical/);
  // A bundle without its facts is not evidence.
  assert.throws(
    () => decodeEvidence(encodeEvidence({ ...bundle, facts: undefined as never }).text),
    /no facts/,
  );
});

test('ranges: open-ended, suffix, clamped end, unsatisfiable', () => {
  assert.deepEqual(parseRange('bytes=10-', 100), { start: 10, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=5-500', 100), { start: 5, end: 99 });
  assert.equal(parseRange(undefined, 100), null);
  assert.equal(parseRange('bytes=100-', 100), 'invalid');
  assert.equal(parseRange('items=1-2', 100), 'invalid');
});

test('a version-4 bundle packed another way (a task id in full, not as its job index) is refused: one set of facts, one hash', async () => {
  const { honestEpoch, SETTLEMENT } = await import('../../validator/factsFixture.ts');
  const { taskIdOf } = await import('../../protocol/ids.ts');
  const { packString } = await import('./compactFacts.ts');
  const epoch = await honestEpoch();
  const c = epoch.facts.charges[0]!;
  const derived = taskIdOf(c.jobId, 0);
  epoch.facts.charges[0] = { ...c, taskId: derived };
  const bundle = {
    version: EVIDENCE_VERSION,
    epoch: epoch.inputs.epoch,
    chainId: 31337,
    settlement: SETTLEMENT,
    prevHash: GENESIS_EVIDENCE_HASH,
    inputs: epoch.inputs,
    facts: epoch.facts,
  };
  const { text } = encodeEvidence(bundle);
  assert.ok(decodeEvidence(text), 'the encoder’s own packing is read');
  const raw = JSON.parse(text) as { facts: { parties: string[] } };
  const i = raw.facts.parties.findIndex((p) => p.startsWith('@'));
  assert.ok(i >= 0, 'the fixture has a task id packed as its job index');
  raw.facts.parties[i] = packString(derived);
  assert.throws(() => decodeEvidence(canonicalJson(raw)), /canonical packing/);
});
