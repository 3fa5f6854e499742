/**
 * The coordinator's side of capability proofs: hardware classes, issuing challenges, Freivalds'
 * check and the timing verdict. The challenge itself and how it is solved are the wire contract in
 * `src/protocol/capabilityChallenge.ts`, which explains the scheme.
 */
import {
  answerDigest,
  type CapabilityChallenge,
  CHALLENGE_MODULUS,
  challengeMatrices,
} from '../../protocol/capabilityChallenge.ts';
import { Rng } from '../../protocol/rng.ts';

/**
 * Freivalds rounds of the coordinator's check. A wrong answer passes one round with probability
 * ≤ 1/251, so two rounds let it through with ≤ 1/63 001 ≈ 2^-16. That is enough because the
 * provider never sees the vectors and every failed attempt is a proven, slashable fault (the seed
 * and the answer are the evidence), so guessing costs ~63 000 faults per success; while each
 * round costs the verifier (k + 2)·n² multiply-adds (≈ 0.8 G at n = 2048, k = 192).
 */
export const FREIVALDS_ROUNDS = 2;

/**
 * A hardware class a provider can claim, with the challenge size and the throughput it implies.
 *
 * @example
 * const hw: HardwareClass = { id: 'gpu-consumer', gpu: true, n: 2048, k: 64, minGflops: 4000, slackMs: 300, deadlineMs: 60_000 };
 */
export type HardwareClass = {
  id: string;
  gpu: boolean;
  /** Matrix size of the challenge. */
  n: number;
  /** Chain length: products C_i = C_{i−1}·B mod p computed on the device before C_k is returned. */
  k: number;
  /** Least sustained throughput (GFLOP/s, 2n³ flops per product) a genuine member reaches. */
  minGflops: number;
  /** Fixed allowance for the agent's O(n²) host work (deriving A and B, reading C_k back, sha256) (ms). */
  slackMs: number;
  /** Hard deadline after which the challenge is failed outright (ms). */
  deadlineMs: number;
  /**
   * Most throughput a member of the class can plausibly show (GFLOP/s): what emission credits is
   * capped here ({@link creditedGflops}), whatever duration the coordinator measured. Absent: no cap
   * (test classes).
   */
  maxGflops?: number;
};

/**
 * Default hardware classes. `cpu` is sized for the pure-JS reference solver; the GPU classes use a
 * chain at n = 2048 (docs/verification.md, "Capability proof", has the arithmetic and the figures).
 *
 * @example
 * HARDWARE_CLASSES['gpu-consumer'].k; // 64
 */
export const HARDWARE_CLASSES: Record<string, HardwareClass> = {
  // The CPU class checks correctness; its time budget only has to hold on a loaded machine.
  // Caps (`maxGflops`, what emission credits at most): GPU classes at about the dense FP16-with-FP32-
  // accumulate peak of the fastest part of the class (an RTX 5090 ≈ 210 TFLOP/s, a B200 ≈ 2.25
  // PFLOP/s); a genuine proof, host work included, measures far less (an H200 ≈ 44 TFLOP/s). The
  // CPU class at 1 TFLOP/s: 33.5 MFLOP in 34 µs, far below any proof's host work and round trip
  // (the JS solver measures ~1 GFLOP/s, a native one on a large server tens).
  cpu: {
    id: 'cpu',
    gpu: false,
    n: 256,
    k: 1,
    minGflops: 0.1,
    slackMs: 2_000,
    deadlineMs: 60_000,
    maxGflops: 1_000,
  },
  // 64 products of 17.2 GFLOP: 275 ms at the 4 TFLOP/s bar, + 300 ms for the agent's O(n²) work
  // (~100 ms on the 2-core dev box) → 575 ms. Measured per product: H200 0.4 ms (≈ 25 ms chained),
  // 16-core Xeon 17 ms (≈ 1.1 s: flagged), 2-core EPYC with the agent's ONNX CPU solver ~370 ms.
  'gpu-consumer': {
    id: 'gpu-consumer',
    gpu: true,
    n: 2048,
    k: 64,
    minGflops: 4_000,
    slackMs: 300,
    deadlineMs: 60_000,
    maxGflops: 250_000,
  },
  // 192 products: 165 ms at the 20 TFLOP/s bar + 300 ms → 465 ms; an H200 needs ≈ 80 ms plus host
  // work, a 64-core CPU (≈ 4 × the 16-core Xeon) ≈ 0.8 s.
  'gpu-datacenter': {
    id: 'gpu-datacenter',
    gpu: true,
    n: 2048,
    k: 192,
    minGflops: 20_000,
    slackMs: 300,
    deadlineMs: 60_000,
    maxGflops: 2_500_000,
  },
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
    k: args.hardwareClass.k,
    modulus: CHALLENGE_MODULUS,
    hardwareClass: args.hardwareClass.id,
    deadlineMs: args.hardwareClass.deadlineMs,
    budgetMs: capabilityTiming({
      challenge: args.hardwareClass,
      hardwareClass: args.hardwareClass,
      elapsedMs: 0,
      rttMs: 0,
    }).budgetMs,
  };
}

/**
 * Freivalds' check of `product ≡ A·B^k (mod p)`: per round, C_k·r against A·(B·(…(B·r))), that
 * is (k + 2)·n² multiply-adds. All rounds' vectors go through each matrix together (one pass over
 * its memory). The random vectors come from the coordinator's own secret `verifierSeed`, never
 * from anything the provider chose.
 *
 * @example
 * freivaldsCheck({ challenge, product: answer.product, verifierSeed: secret }); // true
 */
export function freivaldsCheck(args: {
  challenge: CapabilityChallenge;
  product: Uint8Array;
  verifierSeed: string;
  rounds?: number;
}): boolean {
  const { n, modulus: p } = args.challenge;
  const k = args.challenge.k ?? 1;
  const rounds = args.rounds ?? FREIVALDS_ROUNDS;
  if (args.product.length !== n * n) return false;
  const { a, b } = challengeMatrices(args.challenge);
  const rng = new Rng(`${args.verifierSeed}:freivalds:${args.challenge.challengeId}`);
  // Vectors interleaved by round: v[j·rounds + t] is entry j of round t's vector.
  const r = new Float64Array(n * rounds);
  for (let t = 0; t < rounds; t++) for (let j = 0; j < n; j++) r[j * rounds + t] = rng.int(p);
  let v: Float64Array = r;
  for (let step = 0; step < k; step++) v = matVecMod(b, v, n, rounds, p);
  const left = matVecMod(a, v, n, rounds, p);
  const right = matVecMod(args.product, r, n, rounds, p);
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false;
  return true;
}

/**
 * M·v mod p for `rounds` interleaved vectors, entries of the result in [0, p). With |M| ≤ 250 and
 * v in [0, 250], every sum is below n·62 500 < 2^31 for n ≤ 34 000: exact in a double.
 */
function matVecMod(
  m: ArrayLike<number>,
  v: Float64Array,
  n: number,
  rounds: number,
  p: number,
): Float64Array {
  const out = new Float64Array(n * rounds);
  if (rounds === 2) {
    for (let i = 0; i < n; i++) {
      const row = i * n;
      let s0 = 0;
      let s1 = 0;
      for (let j = 0; j < n; j++) {
        const x = m[row + j]!;
        s0 += x * v[2 * j]!;
        s1 += x * v[2 * j + 1]!;
      }
      out[2 * i] = ((s0 % p) + p) % p;
      out[2 * i + 1] = ((s1 % p) + p) % p;
    }
    return out;
  }
  const s = new Float64Array(rounds);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    s.fill(0);
    for (let j = 0; j < n; j++) {
      const x = m[row + j]!;
      for (let t = 0; t < rounds; t++) s[t]! += x * v[j * rounds + t]!;
    }
    for (let t = 0; t < rounds; t++) out[i * rounds + t] = ((s[t]! % p) + p) % p;
  }
  return out;
}

/**
 * The time budget of a class for a challenge: `2n³k / minGflops + slackMs + 2·rttMs`, capped by
 * the hard deadline (ms), and the throughput an elapsed time implies (GFLOP/s, round trip removed).
 *
 * @example
 * const { budgetMs, measuredGflops } = capabilityTiming({ challenge, hardwareClass, elapsedMs: 400, rttMs: 0 });
 */
export function capabilityTiming(args: {
  challenge: Pick<CapabilityChallenge, 'n' | 'k'>;
  hardwareClass: HardwareClass;
  elapsedMs: number;
  rttMs: number;
}): { budgetMs: number; measuredGflops: number; inTime: boolean } {
  const hw = args.hardwareClass;
  const flops = 2 * args.challenge.n ** 3 * (args.challenge.k ?? 1);
  const budgetMs = Math.min(
    hw.deadlineMs,
    (flops / (hw.minGflops * 1e9)) * 1000 + hw.slackMs + 2 * args.rttMs,
  );
  const computeMs = Math.max(args.elapsedMs - args.rttMs, 1e-3);
  return { budgetMs, measuredGflops: flops / (computeMs * 1e6), inTime: args.elapsedMs <= budgetMs };
}

/**
 * The throughput a correct proof is credited with (GFLOP/s): the measured one, capped by the
 * class's `maxGflops`. The coordinator stores it and emission weighs it; a validator recomputes it
 * from the bundle's duration (docs/validators.md "Proven capacity").
 *
 * @example
 * creditedGflops(3e6, HARDWARE_CLASSES['gpu-datacenter']); // 2_500_000
 */
export function creditedGflops(measuredGflops: number, hw: Pick<HardwareClass, 'maxGflops'>): number {
  return hw.maxGflops === undefined ? measuredGflops : Math.min(measuredGflops, hw.maxGflops);
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
 * The correctness half of a proof: the committed digest matches the uploaded bytes and Freivalds
 * passes (the expensive part: the coordinator runs it in a worker thread, `freivaldsWorker.ts`).
 *
 * @example
 * const { digestOk, correct } = checkCapabilityAnswer({ challenge, committedDigest, product, verifierSeed });
 */
export function checkCapabilityAnswer(args: {
  challenge: CapabilityChallenge;
  committedDigest: string;
  product: Uint8Array;
  verifierSeed: string;
  rounds?: number;
}): { digestOk: boolean; correct: boolean } {
  const digestOk = answerDigest(args.challenge.challengeId, args.product) === args.committedDigest;
  const correct =
    digestOk &&
    freivaldsCheck({
      challenge: args.challenge,
      product: args.product,
      verifierSeed: args.verifierSeed,
      ...(args.rounds === undefined ? {} : { rounds: args.rounds }),
    });
  return { digestOk, correct };
}

/**
 * Combines the timing and the correctness check into the verdict.
 *
 * @example
 * const verdict = judgeCapability({ hardwareClass, elapsedMs, timing, check });
 */
export function judgeCapability(args: {
  hardwareClass: HardwareClass;
  elapsedMs: number;
  timing: ReturnType<typeof capabilityTiming>;
  check: { digestOk: boolean; correct: boolean };
}): CapabilityAssessment {
  const hw = args.hardwareClass;
  const { budgetMs, measuredGflops, inTime } = args.timing;
  const { digestOk, correct } = args.check;
  const passed = correct && inTime;
  const reason = !digestOk
    ? 'the uploaded product does not match the committed digest'
    : !correct
      ? 'Freivalds check failed: the product is wrong'
      : !inTime
        ? tooSlowReason(hw, args.elapsedMs, budgetMs, measuredGflops)
        : `ok: ${measuredGflops.toFixed(1)} GFLOP/s within budget ${budgetMs.toFixed(0)} ms`;
  return { correct, passed, gpuTrusted: passed && hw.gpu, budgetMs, measuredGflops, reason };
}

/**
 * Judges a capability proof in one call (same thread): the committed digest must match the
 * uploaded product, Freivalds must pass, and the time from sending the challenge to receiving the
 * digest must fit `2n³k / minGflops + slackMs + 2·rttMs` (and the hard deadline).
 *
 * @example
 * const verdict = assessCapability({ challenge, hardwareClass: HARDWARE_CLASSES['gpu-consumer'],
 *   committedDigest, product, elapsedMs: 450, rttMs: 40, verifierSeed: secret });
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
  return judgeCapability({
    hardwareClass: args.hardwareClass,
    elapsedMs: args.elapsedMs,
    timing: capabilityTiming(args),
    check: checkCapabilityAnswer(args),
  });
}

/**
 * Why a proof is too slow for its class.
 *
 * @example
 * tooSlowReason(HARDWARE_CLASSES['gpu-consumer'], 900, 575, 1200); // 'too slow for gpu-consumer: 900 ms > …'
 */
export function tooSlowReason(
  hw: HardwareClass,
  elapsedMs: number,
  budgetMs: number,
  gflops: number,
): string {
  return `too slow for ${hw.id}: ${elapsedMs.toFixed(0)} ms > budget ${budgetMs.toFixed(0)} ms (${gflops.toFixed(1)} GFLOP/s < ${hw.minGflops})`;
}
