/**
 * Capability proof: a seeded matrix-product challenge sized to the claimed hardware class.
 *
 * The provider derives A and B (n×n, integer entries in [−8, 8]) from the challenge seed, computes
 * C = A·B and returns C mod 251 (one byte per entry; a prime modulus so Freivalds' test works over
 * the field GF(251)). It first sends sha256 of its answer — the clock stops there, so upload speed
 * does not blur the timing — then uploads the bytes. Every partial sum has |x| ≤ 64·n < 2^24, so a
 * GPU can compute the product in float32 GEMM and the result is still exact.
 *
 * The coordinator checks the answer with Freivalds' algorithm: for random r ∈ GF(251)^n it compares
 * A·(B·r) with C·r mod 251, O(n²) per round, all in exact integer arithmetic (every intermediate is
 * below 2^31, far inside a double's 2^53). A wrong C passes one round with probability ≤ 1/251, so
 * 8 rounds leave ≤ 2^-63. The elapsed time is then compared with the class's time budget: a claimed
 * GPU that computes at CPU speed is flagged (`gpuTrusted: false`) and gets no GPU work.
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
 * A hardware class a provider can claim, with the challenge size and the throughput it implies.
 *
 * @example
 * const hw: HardwareClass = { id: 'gpu-consumer', gpu: true, n: 2048, minGflops: 2000, slackMs: 100, deadlineMs: 60_000 };
 */
export type HardwareClass = {
  id: string;
  gpu: boolean;
  /** Matrix size of the challenge. */
  n: number;
  /** Least sustained throughput (GFLOP/s, 2n³ flops per product) a genuine member reaches. */
  minGflops: number;
  /** Fixed allowance for scheduling, kernel launch, reduction mod p and hashing (ms). */
  slackMs: number;
  /** Hard deadline after which the challenge is failed outright (ms). */
  deadlineMs: number;
};

/**
 * Default hardware classes. `cpu` is sized for the pure-JS reference solver; GPU classes assume a
 * float32 GEMM at a conservative fraction of the card's peak.
 *
 * @example
 * HARDWARE_CLASSES['gpu-consumer'].n; // 4096
 */
export const HARDWARE_CLASSES: Record<string, HardwareClass> = {
  // The CPU class checks correctness; its time budget only has to hold on a loaded machine.
  cpu: { id: 'cpu', gpu: false, n: 256, minGflops: 0.1, slackMs: 2_000, deadlineMs: 60_000 },
  // GPU classes use n = 4096 so that the O(n³) product, not the agent's O(n²) work inside the timed
  // window (deriving A and B, float conversion, reduction mod p, sha256: ~330 ms on the 2-core dev
  // box, `npm run bench -- capability-proof`), decides: a CPU must sustain roughly 600 GFLOP/s to
  // fit the budget. Not yet calibrated on a real GPU (docs/verification.md).
  'gpu-consumer': {
    id: 'gpu-consumer',
    gpu: true,
    n: 4096,
    minGflops: 2_000,
    slackMs: 500,
    deadlineMs: 60_000,
  },
  'gpu-datacenter': {
    id: 'gpu-datacenter',
    gpu: true,
    n: 4096,
    minGflops: 10_000,
    slackMs: 500,
    deadlineMs: 60_000,
  },
};

/**
 * What the provider receives.
 *
 * @example
 * const ch: CapabilityChallenge = { challengeId: 'c1', seed: '0x…', n: 256, modulus: 251, hardwareClass: 'cpu', deadlineMs: 60_000 };
 */
export type CapabilityChallenge = {
  challengeId: string;
  seed: string;
  n: number;
  modulus: number;
  hardwareClass: string;
  /** The answer's digest must arrive within this many milliseconds of the challenge. */
  deadlineMs: number;
};

/**
 * Makes a challenge for the claimed class from a fresh secret seed.
 *
 * @example
 * const ch = makeCapabilityChallenge({ challengeId: 'c1', seed: randomHex(32), hardwareClass: HARDWARE_CLASSES.cpu });
 */
export function makeCapabilityChallenge(args: {
  challengeId: string;
  seed: string;
  hardwareClass: HardwareClass;
}): CapabilityChallenge {
  return {
    challengeId: args.challengeId,
    seed: args.seed,
    n: args.hardwareClass.n,
    modulus: CHALLENGE_MODULUS,
    hardwareClass: args.hardwareClass.id,
    deadlineMs: args.hardwareClass.deadlineMs,
  };
}

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
 * Exact integer product C = A·B of two n×n Int8 matrices (i-k-j loop order for cache locality).
 * The provider agent's CPU reference solver; a GPU agent replaces it with a float32 GEMM.
 *
 * @example
 * const c = multiplyInt8(a, b, n); // Int32Array of n*n
 */
export function multiplyInt8(a: Int8Array, b: Int8Array, n: number): Int32Array {
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
 * A provider's answer: C mod p and its sha256 (sent first, to stop the clock).
 *
 * @example
 * const { digest, product }: CapabilityAnswer = solveCapabilityChallenge(challenge);
 */
export type CapabilityAnswer = { challengeId: string; digest: string; product: Uint8Array };

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
 * Provider side: solves a challenge with the given multiplier (default: the exact CPU solver).
 *
 * @example
 * const answer = solveCapabilityChallenge(challenge); // send answer.digest, then answer.product
 */
export function solveCapabilityChallenge(
  challenge: CapabilityChallenge,
  multiply: (a: Int8Array, b: Int8Array, n: number) => ArrayLike<number> = multiplyInt8,
): CapabilityAnswer {
  const { a, b } = challengeMatrices(challenge);
  const c = multiply(a, b, challenge.n);
  const p = challenge.modulus;
  const product = new Uint8Array(challenge.n * challenge.n);
  for (let i = 0; i < product.length; i++) product[i] = (((c[i]! % p) + p) % p) as number;
  return {
    challengeId: challenge.challengeId,
    digest: answerDigest(challenge.challengeId, product),
    product,
  };
}

/**
 * Freivalds' check of `product ≡ A·B (mod p)` in O(rounds · n²). The random vectors come from the
 * coordinator's own secret `verifierSeed`, never from anything the provider chose.
 *
 * @example
 * freivaldsCheck({ challenge, product: answer.product, verifierSeed: secret, rounds: 8 }); // true
 */
export function freivaldsCheck(args: {
  challenge: CapabilityChallenge;
  product: Uint8Array;
  verifierSeed: string;
  rounds?: number;
}): boolean {
  const { n, modulus: p } = args.challenge;
  if (args.product.length !== n * n) return false;
  const { a, b } = challengeMatrices(args.challenge);
  const rng = new Rng(`${args.verifierSeed}:freivalds:${args.challenge.challengeId}`);
  const r = new Float64Array(n);
  const br = new Float64Array(n);
  for (let round = 0; round < (args.rounds ?? 8); round++) {
    for (let j = 0; j < n; j++) r[j] = rng.int(p);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += b[i * n + j]! * r[j]!;
      br[i] = ((s % p) + p) % p;
    }
    for (let i = 0; i < n; i++) {
      let abr = 0;
      let cr = 0;
      for (let j = 0; j < n; j++) {
        abr += a[i * n + j]! * br[j]!;
        cr += args.product[i * n + j]! * r[j]!;
      }
      if ((((abr - cr) % p) + p) % p !== 0) return false;
    }
  }
  return true;
}

/**
 * The coordinator's judgement of a capability proof.
 *
 * @example
 * const { gpuTrusted, reason }: CapabilityAssessment = assessCapability(args);
 */
export type CapabilityAssessment = {
  /** The answer is the correct product (digest matches and Freivalds passed). */
  correct: boolean;
  /** Correct and within the class's time budget. */
  passed: boolean;
  /** The provider may receive GPU work. */
  gpuTrusted: boolean;
  /** Time budget for this class, network round trip included (ms). */
  budgetMs: number;
  /** Throughput implied by the elapsed time, minus the round trip (GFLOP/s). */
  measuredGflops: number;
  reason: string;
};

/**
 * Judges a capability proof: the committed digest must match the uploaded product, Freivalds must
 * pass, and the time from sending the challenge to receiving the digest must fit
 * `2n³ / minGflops + slackMs + 2·rttMs` (and the hard deadline).
 *
 * @example
 * const verdict = assessCapability({ challenge, hardwareClass: HARDWARE_CLASSES['gpu-consumer'],
 *   committedDigest, product, elapsedMs: 850, rttMs: 40, verifierSeed: secret });
 * if (!verdict.gpuTrusted) scheduler.denyGpuWork(provider);
 */
export function assessCapability(args: {
  challenge: CapabilityChallenge;
  hardwareClass: HardwareClass;
  committedDigest: string;
  product: Uint8Array;
  elapsedMs: number;
  rttMs: number;
  verifierSeed: string;
  rounds?: number;
}): CapabilityAssessment {
  const { n } = args.challenge;
  const hw = args.hardwareClass;
  const flops = 2 * n ** 3;
  const budgetMs = Math.min(
    hw.deadlineMs,
    (flops / (hw.minGflops * 1e9)) * 1000 + hw.slackMs + 2 * args.rttMs,
  );
  const computeMs = Math.max(args.elapsedMs - args.rttMs, 1e-3);
  const measuredGflops = flops / (computeMs * 1e6);
  const digestOk = answerDigest(args.challenge.challengeId, args.product) === args.committedDigest;
  const correct =
    digestOk &&
    freivaldsCheck({
      challenge: args.challenge,
      product: args.product,
      verifierSeed: args.verifierSeed,
      ...(args.rounds === undefined ? {} : { rounds: args.rounds }),
    });
  const inTime = args.elapsedMs <= budgetMs;
  const passed = correct && inTime;
  const reason = !digestOk
    ? 'the uploaded product does not match the committed digest'
    : !correct
      ? 'Freivalds check failed: the product is wrong'
      : !inTime
        ? `too slow for ${hw.id}: ${args.elapsedMs.toFixed(0)} ms > budget ${budgetMs.toFixed(0)} ms (${measuredGflops.toFixed(1)} GFLOP/s < ${hw.minGflops})`
        : `ok: ${measuredGflops.toFixed(1)} GFLOP/s within budget ${budgetMs.toFixed(0)} ms`;
  return { correct, passed, gpuTrusted: passed && hw.gpu, budgetMs, measuredGflops, reason };
}
