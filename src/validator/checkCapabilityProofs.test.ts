/**
 * Proven capacity re-derived by a validator (evidence version 12): a real cpu-class proof, signed
 * by its provider, passes; an inflated throughput, a duration shorter than the class allows, a
 * wrong answer, an answer signed by another key or a counting provider without a proof is named.
 * A version-11 bundle (no proofs) is read as before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import type { CapabilityProofFact } from '../coordinator/settlement/capabilityEvidence.ts';
import { computeEpoch, type EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import {
  EVIDENCE_VERSION,
  encodeEvidence,
  GENESIS_EVIDENCE_HASH,
} from '../coordinator/settlement/evidence.ts';
import {
  capabilityTiming,
  creditedGflops,
  HARDWARE_CLASSES,
} from '../coordinator/verification/capabilityProof.ts';
import { answerDigest, solveCapabilityChallenge } from '../protocol/capabilityChallenge.ts';
import { signCapabilityAnswer } from '../protocol/signedCapabilityAnswer.ts';
import { checkCapabilityAnswers, checkCapabilityProofs } from './checkCapabilityProofs.ts';
import { CHAIN_ID, honestEpoch, provider, providerKey, SETTLEMENT } from './factsFixture.ts';
import { BlobRefused } from './recheck.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';

const cpu = HARDWARE_CLASSES.cpu!;
const hex32 = () => `0x${randomBytes(32).toString('hex')}`;
const cpuClaim = { cpuModel: 'x', cpuCores: 4, memoryBytes: 2 ** 33, gpus: [], executionProviders: ['cpu'] };

/** A proof as an honest coordinator records it: solved, signed, timed at `elapsedMs`. */
async function proofOf(elapsedMs: number, checkedAt: number, signer = providerKey) {
  const challenge = {
    challengeId: hex32(),
    seed: hex32(),
    n: cpu.n,
    k: cpu.k,
    modulus: 251,
    hardwareClass: 'cpu',
    deadlineMs: 60_000,
  };
  const answer = solveCapabilityChallenge(challenge);
  const issuedAt = Math.floor(Date.now() / 1000);
  const fields = { provider, ...challenge, digest: answer.digest, issuedAt };
  const signature = await signCapabilityAnswer(signer, CHAIN_ID, fields);
  const fact: CapabilityProofFact = {
    provider,
    challengeId: challenge.challengeId,
    seed: challenge.seed,
    hardwareClass: 'cpu',
    n: cpu.n,
    k: cpu.k,
    digest: answer.digest,
    productCid: randomBytes(32).toString('hex'),
    elapsedMs,
    checkedAt,
    issuedAt,
    signature,
  };
  const measured = capabilityTiming({ challenge, hardwareClass: cpu, elapsedMs, rttMs: 0 }).measuredGflops;
  const gflops = creditedGflops(measured, cpu);
  return { fact, product: answer.product, gflops };
}

/** The honest epoch of factsFixture.ts, with emission shared by one provider whose proof is `proof`. */
async function epochWith(proof: CapabilityProofFact, gflops: number) {
  const { inputs, facts } = await honestEpoch();
  const withCap: EpochInputs = {
    ...inputs,
    emissionPerEpoch: 1_000n,
    sessions: [{ provider, slots: 1, connectedAt: inputs.startsAt, disconnectedAt: null }],
    activeOnChain: [provider],
    providers: [
      {
        address: provider,
        region: 'unverified',
        hardware: cpuClaim,
        capability: JSON.stringify({ class: 'cpu', proven: true, gflops, checkedAt: proof.checkedAt }),
      },
    ],
  };
  return { inputs: withCap, facts: { ...facts, capabilityProofs: [proof] } };
}

const honest = await proofOf(120, 10_500);

test('an honest signed proof passes, its answer checked by Freivalds with the validator’s own vectors', async () => {
  const { inputs } = await epochWith(honest.fact, honest.gflops);
  assert.equal(await checkCapabilityProofs([honest.fact], inputs, CHAIN_ID), null, 'honest proof');
  const read = async () => honest.product;
  assert.equal(await checkCapabilityAnswers([honest.fact], read), null, 'honest answer');
});

test('inflated gflops, a too-short duration, a bad signature or a missing proof is named', async () => {
  const { inputs } = await epochWith(honest.fact, honest.gflops * 10);
  const inflated = await checkCapabilityProofs([honest.fact], inputs, CHAIN_ID);
  assert.equal(inflated?.fact, `capability[${provider}].gflops`, 'inflated gflops named');

  // A duration below what the class's cap allows: credited at the cap at most.
  const fast = await proofOf(1e-4, 10_500);
  assert.equal(fast.gflops, cpu.maxGflops, 'credited at the class cap');
  const over = await epochWith(fast.fact, 33_554.432);
  const named = await checkCapabilityProofs([fast.fact], over.inputs, CHAIN_ID);
  assert.equal(named?.fact, `capability[${provider}].gflops`, 'over the class cap named');
  const capped = await epochWith(fast.fact, fast.gflops);
  assert.equal(await checkCapabilityProofs([fast.fact], capped.inputs, CHAIN_ID), null, 'capped passes');

  const other = privateKeyToAccount(`0x${'0d'.repeat(32)}`);
  const forged = await proofOf(120, 10_500, other);
  const f = await epochWith(forged.fact, forged.gflops);
  const bad = await checkCapabilityProofs([forged.fact], f.inputs, CHAIN_ID);
  assert.equal(bad?.fact, `capability[${provider}].signature`, 'signed by another key named');

  const missing = await checkCapabilityProofs([], inputs, CHAIN_ID);
  assert.equal(missing?.fact, `capability[${provider}]`, 'missing proof named');

  const slow = await proofOf(60_000, 10_500);
  const s = await epochWith(slow.fact, slow.gflops);
  const late = await checkCapabilityProofs([slow.fact], s.inputs, CHAIN_ID);
  assert.equal(late?.fact, `capability[${provider}].elapsedMs`, 'over the class budget named');
});

test('a wrong answer, even one its provider signed, is refused by Freivalds; a refused blob is named', async () => {
  const wrong = Uint8Array.from(honest.product);
  wrong[7] = (wrong[7]! + 1) % 251;
  // A colluding provider signs the wrong answer's digest: signature and digest hold, the product not.
  const digest = answerDigest(honest.fact.challengeId, wrong);
  const issuedAt = honest.fact.issuedAt;
  const signature = await signCapabilityAnswer(providerKey, CHAIN_ID, { ...honest.fact, digest, issuedAt });
  const colluded = { ...honest.fact, digest, signature };
  const { inputs } = await epochWith(colluded, honest.gflops);
  assert.equal(await checkCapabilityProofs([colluded], inputs, CHAIN_ID), null, 'signature and timing hold');
  const d = await checkCapabilityAnswers([colluded], async () => wrong);
  assert.equal(d?.fact, `capability[${provider}].answer`, 'wrong product named');
  const swapped = await checkCapabilityAnswers([honest.fact], async () => wrong);
  assert.equal(swapped?.fact, `capability[${provider}].digest`, 'blob not of the signed digest named');
  const refused = await checkCapabilityAnswers([honest.fact], async () => {
    throw new BlobRefused('HTTP 404');
  });
  assert.equal(refused?.fact, `capability[${provider}].blob`, 'refused blob named');
});

/** verifyEpoch over a bundle of `version` whose claim is what the coordinator computed. */
async function verdictOf(version: number, gflops: number) {
  const { inputs, facts: withProofs } = await epochWith(honest.fact, gflops);
  const { capabilityProofs, ...without } = withProofs;
  const facts = version >= 12 ? withProofs : without;
  const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };
  const bundle = { version, epoch: 3, ...target, prevHash: GENESIS_EVIDENCE_HASH, inputs, facts };
  const { text, hash } = encodeEvidence(bundle);
  const o = computeEpoch(inputs, hash);
  const json = JSON.parse(JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  const leaves = (JSON.parse(o.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
    account: v.value[0],
    cumulativeAmount: v.value[1],
  }));
  const claim: EpochClaim = { epoch: 3, payload: json, leaves };
  return verifyEpoch({ evidence: text, claim, target, prevHash: GENESIS_EVIDENCE_HASH });
}

test('verifyEpoch: version 12 signs honest emission, refuses inflated gflops; version 11 reads as before', async () => {
  assert.equal(EVIDENCE_VERSION, 12, 'this stop writes version 12');
  const ok = await verdictOf(12, honest.gflops);
  assert.ok(ok.ok, `honest version-12 epoch signed: ${ok.ok ? '' : ok.fact}`);
  assert.equal(
    ok.ok && ok.facts.capabilityProofs?.[0]?.signature,
    honest.fact.signature,
    'proof survives packing',
  );
  const inflated = await verdictOf(12, honest.gflops * 1000);
  assert.ok(!inflated.ok && inflated.fact === `capability[${provider}].gflops`, 'inflated gflops refused');
  const old = await verdictOf(11, honest.gflops * 1000);
  assert.ok(old.ok, 'a version-11 bundle carries no proofs and is read as before');
});
