/**
 * Capability proofs in the evidence (version 12, docs/validators.md "Proven capacity"): emission
 * is split by each provider's proven capacity, the `gflops` of its latest passing capability proof
 * before the epoch's end (`inputs.providers[].capability`). The bundle carries, for every provider
 * whose capacity can count (a session in the epoch, active on chain, not faulted, capacity > 0),
 * that proof: the challenge (id, seed, class, n, k), the provider-signed answer (digest, blob,
 * `CapabilityAnswer` signature) and the coordinator-measured duration. A validator checks the
 * signature, the answer (Freivalds on the blob) and recomputes the credited throughput.
 *
 * Pure (validators import it); the close's store read is in capabilityProofRead.ts.
 */
import { provenCapacity } from '../market/provenCapacity.ts';
import { packString, unpackString } from './compactFacts.ts';
import type { EpochInputs } from './epochComputation.ts';

/** One provider's proof as the bundle carries it. */
export type CapabilityProofFact = {
  provider: string;
  challengeId: string;
  seed: string;
  hardwareClass: string;
  n: number;
  k: number;
  /** sha256 hex of the answer (`answerDigest`), as the provider committed and signed it. */
  digest: string;
  /** The answer's blob (n² bytes, C_k mod 251). */
  productCid: string;
  /** Challenge sent → digest received, as the coordinator measured it (ms): its word, bounded. */
  elapsedMs: number;
  /** When the proof was judged (= the capability's `checkedAt`). */
  checkedAt: number;
  /** The provider's `CapabilityAnswer` signature and its `issuedAt` (unix seconds). */
  issuedAt: number;
  signature: string;
};

/**
 * The providers whose proven capacity can weigh in the epoch's emission, sorted: a session in the
 * epoch, active on chain, not faulted, and a capability `provenCapacity` credits (> 0).
 *
 * @example
 * const need = providersCountingCapacity(inputs); // ['0xab…']
 */
export function providersCountingCapacity(
  inputs: Pick<EpochInputs, 'sessions' | 'activeOnChain' | 'faulted' | 'providers'>,
): string[] {
  const active = new Set(inputs.activeOnChain.map((a) => a.toLowerCase()));
  const faulted = new Set(inputs.faulted.map((a) => a.toLowerCase()));
  const capability = new Map(inputs.providers.map((p) => [p.address.toLowerCase(), p.capability]));
  const out = new Set<string>();
  for (const s of inputs.sessions) {
    const who = s.provider.toLowerCase();
    if (active.has(who) && !faulted.has(who) && provenCapacity(capability.get(who)) > 0) out.add(who);
  }
  return [...out].sort();
}

type Json = unknown;

/**
 * Packs the proofs as rows: [provider, challenge id, seed, class, n, k, digest, answer blob,
 * duration, judged at (after the epoch's start), issuedAt, signature], the provider and the blob
 * as parties, hex as base64url.
 *
 * @example
 * facts.capProofs = packCapabilityProofs(f.capabilityProofs ?? [], { party, rel });
 */
export function packCapabilityProofs(
  proofs: readonly CapabilityProofFact[],
  h: { party: (v: string) => number; rel: (t: number) => number },
): Json[] {
  return proofs.map((p) => [
    h.party(p.provider),
    packString(p.challengeId),
    packString(p.seed),
    p.hardwareClass,
    p.n,
    p.k,
    packString(p.digest),
    h.party(p.productCid),
    p.elapsedMs,
    h.rel(p.checkedAt),
    p.issuedAt,
    packString(p.signature),
  ]);
}

/**
 * The inverse of {@link packCapabilityProofs}; throws on a malformed row.
 *
 * @example
 * const capabilityProofs = unpackCapabilityProofs(f.capProofs, { party, abs });
 */
export function unpackCapabilityProofs(
  rows: unknown,
  h: { party: (v: unknown) => string; abs: (t: unknown) => number },
): CapabilityProofFact[] {
  const list = rows ?? [];
  if (!Array.isArray(list) || !list.every(Array.isArray))
    throw new Error('evidence: capability proofs are not rows');
  const str = (v: unknown): string => {
    if (typeof v !== 'string') throw new Error('evidence: a capability proof field is not a string');
    return unpackString(v);
  };
  const int = (v: unknown): number => {
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw new Error('evidence: a capability proof count is not an integer');
    return v as number;
  };
  return (list as unknown[][]).map((r) => {
    if (r.length !== 12) throw new Error('evidence: a capability proof row has not 12 columns');
    const [provider, id, seed, cls, n, k, digest, cid, elapsed, at, issuedAt, sig] = r;
    if (typeof elapsed !== 'number' || !Number.isFinite(elapsed) || elapsed < 0)
      throw new Error('evidence: a capability proof duration is not a number');
    if (typeof cls !== 'string') throw new Error('evidence: a capability proof class is not a string');
    return {
      provider: h.party(provider),
      challengeId: str(id),
      seed: str(seed),
      hardwareClass: cls,
      n: int(n),
      k: int(k),
      digest: str(digest),
      productCid: h.party(cid),
      elapsedMs: elapsed,
      checkedAt: h.abs(at),
      issuedAt: int(issuedAt),
      signature: str(sig),
    };
  });
}
