/**
 * Capability challenges (the wire contract; the coordinator's checks are in
 * `src/coordinator/verification/capabilityProof.ts`). Capability proof: a seeded chain of matrix products sized to the claimed hardware class.
 *
 * The provider derives A and B (n×n, integer entries in [−8, 8]) from the challenge seed and a chain
 * length k, computes C_0 = A, C_i = (C_{i−1}·B) mod 251 for i = 1..k, and returns C_k (one byte per
 * entry; a prime modulus so Freivalds' test works over the field GF(251)). It first sends sha256 of
 * its answer — the clock stops there, so upload speed does not blur the timing — then uploads the
 * bytes. Every partial sum has |x| ≤ 250·8·n < 2^24 for n ≤ 8388, so a GPU computes each product in
 * float32 GEMM (or TF32/FP16 tensor cores: every input has ≤ 11 significant bits) and is still exact.
 *
 * Why a chain: with one product (k = 1) the host's O(n²) work — deriving A and B, moving C back,
 * sha256 — dominates on a GPU, and a 16-core server CPU fits a GPU class's budget (measured on an
 * H200 host: 38 ms GPU vs 111 ms CPU at n = 4096, both far inside 569 ms). A chain keeps the data
 * on the device for k products and returns only C_k, so the O(kn³) products decide the time.
 * k = 1 is exactly the earlier single-product proof.
 *
 * The coordinator checks the answer with Freivalds' algorithm: for a random r ∈ GF(251)^n it compares
 * C_k·r with A·(B·(…(B·r))) mod 251 — k + 2 matrix–vector products per round, exact integer
 * arithmetic in doubles (every intermediate is below 2^31). A wrong C_k passes one round with
 * probability ≤ 1/251; {@link FREIVALDS_ROUNDS} rounds leave ≤ 251^-2 ≈ 2^-16. The elapsed time is
 * then compared with the class's time budget: a claimed GPU that computes at CPU speed is flagged
 * (`gpuTrusted: false`) and gets no GPU work.
 */
import { createHash } from 'node:crypto';
import { Rng } from './rng.ts';

/**
 * The prime modulus of the challenge answer.
 *
 * @example
 * product[i] === ((c[i] % CHALLENGE_MODULUS) + CHALLENGE_MODULUS) % CHALLENGE_MODULUS;
 */
export const CHALLENGE_MODULUS = 251;

/**
 * What the provider receives.
 *
 * @example
 * const ch: CapabilityChallenge = { challengeId: 'c1', seed: '0x…', n: 256, k: 1, modulus: 251, hardwareClass: 'cpu', deadlineMs: 60_000 };
 */
export type CapabilityChallenge = {
  challengeId: string;
  seed: string;
  n: number;
  /** Chain length (a challenge from an older coordinator has none: 1). */
  k: number;
  modulus: number;
  hardwareClass: string;
  /** The answer's digest must arrive within this many milliseconds of the challenge. */
  deadlineMs: number;
  /**
   * The class's time budget (ms, no round trip), public like the classes themselves: an agent that
   * is already past it may stop and answer with what it has, since the coordinator does not check
   * an answer over budget (it is `slow` either way). Absent from an older coordinator's challenge.
   */
  budgetMs?: number | undefined;
  /**
   * The provider signs its answer (`CapabilityAnswer`, protocol/signedCapabilityAnswer.ts) and sends
   * the signature with the uploaded bytes. Absent from an older coordinator's challenge.
   */
  signed?: boolean | undefined;
};

/**
 * The challenge matrices A and B (row-major Int8Array, entries in [−8, 8]) derived from the seed;
 * provider and coordinator derive the same ones.
 *
 * @example
 * const { a, b } = challengeMatrices({ seed: 's', n: 4 });
 */
export function challengeMatrices(args: { seed: string; n: number }): { a: Int8Array; b: Int8Array } {
  const gen = (label: string): Int8Array => {
    const rng = new Rng(`${args.seed}:${label}`);
    const m = new Int8Array(args.n * args.n);
    for (let i = 0; i < m.length; i += 4) {
      const w = rng.nextUint32();
      for (let j = 0; j < 4 && i + j < m.length; j++) m[i + j] = (((w >>> (8 * j)) & 0xff) % 17) - 8;
    }
    return m;
  };
  return { a: gen('A'), b: gen('B') };
}

/**
 * Exact integer product C = A·B of two n×n matrices with small integer entries (i-k-j loop order
 * for cache locality). The provider agent's CPU reference solver; a GPU agent replaces it with a
 * float32 GEMM.
 *
 * @example
 * const c = multiplyInt8(a, b, n); // Int32Array of n*n
 */
export function multiplyInt8(a: ArrayLike<number>, b: Int8Array, n: number): Int32Array {
  const c = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[row + k]!;
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) c[row + j]! += aik * b[bk + j]!;
    }
  }
  return c;
}

/**
 * The chain's answer C_k: C_0 = A, C_i = (C_{i−1}·B) mod p in [0, p), computed exactly in JS.
 *
 * @example
 * const ck = chainProduct(a, b, n, 3, 251); // Uint8Array of n*n
 */
export function chainProduct(a: Int8Array, b: Int8Array, n: number, k: number, p: number): Uint8Array {
  let c: ArrayLike<number> = a;
  const out = new Uint8Array(n * n);
  for (let step = 0; step < k; step++) {
    const prod = multiplyInt8(c, b, n);
    for (let i = 0; i < out.length; i++) out[i] = ((prod[i]! % p) + p) % p;
    c = out;
  }
  return out;
}

/**
 * A provider's answer: C_k and its sha256 (sent first, to stop the clock).
 *
 * @example
 * const { digest, product }: CapabilityAnswer = solveCapabilityChallenge(challenge);
 */
export type CapabilityAnswer = {
  challengeId: string;
  digest: string;
  product: Uint8Array;
  /** Set when the agent stopped past the budget: the chain steps it did (< k; the answer is C_steps). */
  stoppedAfter?: number;
};

/**
 * sha256 hex of an answer's bytes, bound to the challenge id.
 *
 * @example
 * answerDigest('c1', product);
 */
export function answerDigest(challengeId: string, product: Uint8Array): string {
  return createHash('sha256').update(challengeId).update('\u0000').update(product).digest('hex');
}

/**
 * Provider side: solves a challenge with the exact JS reference solver.
 *
 * @example
 * const answer = solveCapabilityChallenge(challenge); // send answer.digest, then answer.product
 */
export function solveCapabilityChallenge(challenge: CapabilityChallenge): CapabilityAnswer {
  const { a, b } = challengeMatrices(challenge);
  const product = chainProduct(a, b, challenge.n, challenge.k ?? 1, challenge.modulus);
  return {
    challengeId: challenge.challengeId,
    digest: answerDigest(challenge.challengeId, product),
    product,
  };
}
