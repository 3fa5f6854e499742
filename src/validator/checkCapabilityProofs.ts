/**
 * Proven capacity, re-derived (evidence version 12, docs/validators.md "Proven capacity"). Emission
 * is split by the `gflops` of each provider's latest passing capability proof; the bundle carries
 * that proof (settlement/capabilityEvidence.ts) and a validator checks, with the coordinator's own
 * code (verification/capabilityProof.ts, protocol/capabilityChallenge.ts):
 *
 * - every provider whose capacity can count has one, judged when its capability says, before the
 *   epoch's end (`capability[<provider>]`);
 * - the provider signed it (`CapabilityAnswer`: challenge id, seed, n, k, digest), and n and k are
 *   those of the class it claims and the capability names (`.signature`, `.class`);
 * - its duration fits the class's budget and the credited throughput is `creditedGflops` of it,
 *   capped by the signed class's `maxGflops` (`.elapsedMs`, `.gflops`);
 * - the answer blob is the signed digest's and is the product: Freivalds with vectors of this
 *   validator's own choosing (`.blob`, `.answer`), {@link checkCapabilityAnswers}.
 *
 * The duration itself stays the coordinator's word, bounded by the class's budget and cap.
 */
import { randomBytes } from 'node:crypto';
import {
  type CapabilityProofFact,
  providersCountingCapacity,
} from '../coordinator/settlement/capabilityEvidence.ts';
import type { EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import {
  capabilityTiming,
  creditedGflops,
  freivaldsCheck,
  HARDWARE_CLASSES,
  type HardwareClass,
} from '../coordinator/verification/capabilityProof.ts';
import { answerDigest, CHALLENGE_MODULUS } from '../protocol/capabilityChallenge.ts';
import { capabilityAnswerProblem } from '../protocol/signedCapabilityAnswer.ts';
import type { FactDispute } from './checkFacts.ts';
import { BlobRefused } from './recheck.ts';

/**
 * Relative difference allowed between the stored throughput and the recomputed one: PostgreSQL
 * keeps both the duration and the throughput as `real` (single precision, ~6e-8 relative each).
 */
export const GFLOPS_TOLERANCE = 1e-6;

type Capability = { class?: unknown; proven?: unknown; gflops?: unknown; checkedAt?: unknown };

/**
 * The first capability proof that does not hold, or null (the blob is checked apart:
 * {@link checkCapabilityAnswers}).
 *
 * @example
 * const dispute = await checkCapabilityProofs(bundle.facts.capabilityProofs ?? [], bundle.inputs, bundle.chainId);
 */
export async function checkCapabilityProofs(
  proofs: readonly CapabilityProofFact[],
  inputs: Pick<EpochInputs, 'sessions' | 'activeOnChain' | 'faulted' | 'providers' | 'endsAt'>,
  chainId: number,
  classes: Record<string, HardwareClass> = HARDWARE_CLASSES,
): Promise<FactDispute | null> {
  const byProvider = new Map<string, CapabilityProofFact>();
  for (const p of proofs) {
    const who = p.provider.toLowerCase();
    if (byProvider.has(who))
      return { fact: `capability[${who}]`, claimed: 'two proofs', recomputed: 'one proof' };
    byProvider.set(who, p);
  }
  for (const who of providersCountingCapacity(inputs))
    if (!byProvider.has(who))
      return { fact: `capability[${who}]`, claimed: 'no proof', recomputed: 'its signed passing proof' };
  const providers = new Map(inputs.providers.map((p) => [p.address.toLowerCase(), p]));
  for (const [who, p] of byProvider) {
    const name = `capability[${who}]`;
    const provider = providers.get(who);
    let cap: Capability = {};
    try {
      cap = provider?.capability ? (JSON.parse(provider.capability) as Capability) : {};
    } catch {
      return { fact: name, claimed: String(provider?.capability), recomputed: 'capability JSON' };
    }
    const hw = Object.hasOwn(classes, p.hardwareClass) ? classes[p.hardwareClass] : undefined;
    if (!hw) return { fact: `${name}.class`, claimed: p.hardwareClass, recomputed: 'a known hardware class' };
    // The class the provider signed for (n and k) is the one the capability names. Not compared
    // with the current hardware claim: a provider that changed its claim since keeps the proof's.
    if (p.n !== hw.n || p.k !== hw.k || cap.class !== hw.id)
      return {
        fact: `${name}.class`,
        claimed: `${p.hardwareClass} n=${p.n} k=${p.k} (capability ${String(cap.class)})`,
        recomputed: `${hw.id} n=${hw.n} k=${hw.k}`,
      };
    if (cap.checkedAt !== p.checkedAt || p.checkedAt >= inputs.endsAt)
      return {
        fact: `${name}.checkedAt`,
        claimed: String(p.checkedAt),
        recomputed: `the capability's ${String(cap.checkedAt)}, before ${inputs.endsAt}`,
      };
    const wrong = await capabilityAnswerProblem(chainId, p, p.signature);
    if (wrong) return { fact: `${name}.signature`, claimed: wrong, recomputed: `signed by ${who}` };
    const timing = capabilityTiming({ challenge: p, hardwareClass: hw, elapsedMs: p.elapsedMs, rttMs: 0 });
    if (!(p.elapsedMs > 0) || !timing.inTime)
      return {
        fact: `${name}.elapsedMs`,
        claimed: String(p.elapsedMs),
        recomputed: `within the budget of ${timing.budgetMs.toFixed(0)} ms`,
      };
    const gflops = creditedGflops(timing.measuredGflops, hw);
    const stored = typeof cap.gflops === 'number' && cap.proven === true ? cap.gflops : Number.NaN;
    if (!(Math.abs(stored - gflops) <= GFLOPS_TOLERANCE * gflops))
      return { fact: `${name}.gflops`, claimed: String(cap.gflops), recomputed: String(gflops) };
  }
  return null;
}

/**
 * Downloads each proof's answer and checks it: n² bytes, the signed digest, and Freivalds'
 * check with vectors from `verifierSeed` (default: fresh random, this validator's own). A blob the
 * coordinator refuses is a dispute; any other read error is thrown (checked again later).
 *
 * @example
 * const dispute = await checkCapabilityAnswers(v.facts.capabilityProofs ?? [], read);
 */
export async function checkCapabilityAnswers(
  proofs: readonly CapabilityProofFact[],
  read: (cid: string) => Promise<Uint8Array>,
  verifierSeed: string = randomBytes(32).toString('hex'),
): Promise<FactDispute | null> {
  for (const p of proofs) {
    const name = `capability[${p.provider.toLowerCase()}]`;
    let bytes: Uint8Array;
    try {
      bytes = await read(p.productCid);
    } catch (err) {
      if (!(err instanceof BlobRefused)) throw err;
      return { fact: `${name}.blob`, claimed: err.message, recomputed: 'served' };
    }
    if (bytes.length !== p.n * p.n)
      return { fact: `${name}.answer`, claimed: `${bytes.length} bytes`, recomputed: `${p.n * p.n} bytes` };
    const digest = answerDigest(p.challengeId, bytes);
    if (digest !== p.digest) return { fact: `${name}.digest`, claimed: p.digest, recomputed: digest };
    const challenge = {
      challengeId: p.challengeId,
      seed: p.seed,
      n: p.n,
      k: p.k,
      modulus: CHALLENGE_MODULUS,
      hardwareClass: p.hardwareClass,
      deadlineMs: 0,
    };
    if (!freivaldsCheck({ challenge, product: bytes, verifierSeed }))
      return {
        fact: `${name}.answer`,
        claimed: 'the uploaded product',
        recomputed: 'A·B^k mod 251 (Freivalds)',
      };
  }
  return null;
}
