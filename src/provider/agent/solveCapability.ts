/**
 * The agent's capability-proof solver: C = A·B for the seeded challenge matrices, as float32
 * MatMul in onnxruntime (the CUDA execution provider when the agent has a GPU, else the CPU one).
 * Entries are in [−8, 8] and n ≤ 4096, so every partial sum stays below 2^24 and float32 is exact.
 * Falls back to the exact JS solver when onnxruntime cannot run the model.
 */
import {
  answerDigest,
  type CapabilityAnswer,
  type CapabilityChallenge,
  challengeMatrices,
  solveCapabilityChallenge,
} from '../../coordinator/verification/capabilityProof.ts';
import type { Logger } from '../../logger.ts';
import { matmulOnnxModel } from './matmulModel.ts';

type Ort = typeof import('onnxruntime-node');
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

/**
 * Makes a solver bound to one execution provider; the session is created once, on first use.
 *
 * @example
 * const solve = createCapabilitySolver({ gpu: false, log });
 * const answer = await solve(challenge); // send answer.digest, then upload answer.product
 */
export function createCapabilitySolver(opts: { gpu: boolean; log: Logger }) {
  let opened: Promise<{ ort: Ort; session: Session }> | undefined;
  const open = () => {
    opened ??= (async () => {
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(matmulOnnxModel(), {
        executionProviders: opts.gpu ? ['cuda', 'cpu'] : ['cpu'],
      });
      return { ort, session };
    })();
    return opened;
  };
  const solve = async (challenge: CapabilityChallenge): Promise<CapabilityAnswer> => {
    let rt: { ort: Ort; session: Session };
    try {
      rt = await open();
    } catch (err) {
      opts.log.warn({ err: String(err) }, 'onnxruntime MatMul unavailable; solving in JS');
      return solveCapabilityChallenge(challenge);
    }
    const { n, modulus: p } = challenge;
    const { a, b } = challengeMatrices(challenge);
    const res = await rt.session.run({
      A: new rt.ort.Tensor('float32', Float32Array.from(a), [n, n]),
      B: new rt.ort.Tensor('float32', Float32Array.from(b), [n, n]),
    });
    const c = res.C!.data as Float32Array;
    const product = new Uint8Array(n * n);
    // Integer arithmetic: the entries are exact integers below 2^24 (inside the timed window).
    for (let i = 0; i < product.length; i++) {
      const r = (c[i]! | 0) % p;
      product[i] = r < 0 ? r + p : r;
    }
    return {
      challengeId: challenge.challengeId,
      digest: answerDigest(challenge.challengeId, product),
      product,
    };
  };
  /**
   * Opens the session ahead of the first challenge (creating a CUDA session takes far longer than
   * a GPU class's time budget) and runs one tiny product through it.
   */
  const warm = async (): Promise<void> => {
    await solve({
      challengeId: 'warm-up',
      seed: 'warm-up',
      n: 8,
      modulus: 251,
      hardwareClass: 'warm-up',
      deadlineMs: 1,
    });
  };
  return Object.assign(solve, { warm });
}
