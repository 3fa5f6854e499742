/**
 * The agent's capability-proof solver: the chain C_k = A·B^k mod 251 for the seeded challenge
 * matrices, as one onnxruntime run of a Loop of float32 MatMul + Mod (the CUDA execution provider
 * when the agent has a GPU, else the CPU one), so the data stays on the device and only C_k comes
 * back. Every partial sum stays below 250·8·n < 2^24 (n ≤ 8388), so float32 is exact. Falls back
 * to the exact JS solver when onnxruntime cannot run the model.
 */

import type { Logger } from '../../logger.ts';
import {
  answerDigest,
  type CapabilityAnswer,
  type CapabilityChallenge,
  challengeMatrices,
  solveCapabilityChallenge,
} from '../../protocol/capabilityChallenge.ts';
import { chainOnnxModel } from './chainModel.ts';

type Ort = typeof import('onnxruntime-node');

/** Chain steps per onnxruntime run on the CPU EP (between budget checks). */
const CPU_SEGMENT_STEPS = 4;
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
      const session = await ort.InferenceSession.create(chainOnnxModel(), {
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
      opts.log.warn({ err: String(err) }, 'onnxruntime chain model unavailable; solving in JS');
      return solveCapabilityChallenge(challenge);
    }
    const t0 = performance.now();
    const { n, modulus: p } = challenge;
    const k = challenge.k ?? 1;
    const { a, b } = challengeMatrices(challenge);
    const run = async (left: Int8Array, steps: number): Promise<Uint8Array> => {
      const res = await rt.session.run({
        A: new rt.ort.Tensor('int8', left, [n, n]),
        B: new rt.ort.Tensor('int8', b, [n, n]),
        K: new rt.ort.Tensor('int64', BigInt64Array.of(BigInt(steps)), []),
        P: new rt.ort.Tensor('float32', Float32Array.of(p), [1]),
      });
      // The output tensor's buffer may be larger than the answer: copy exactly n² bytes.
      return Uint8Array.from((res.C!.data as Uint8Array).subarray(0, n * n));
    };
    // On a GPU the whole chain is one run (the data stays on the device). On the CPU there is no
    // device to stay on, so the chain runs in segments and stops once past the class budget: the
    // coordinator does not check an answer over budget, and a CPU claiming a GPU class would
    // otherwise spend tens of seconds on a proof it fails anyway.
    const segment = opts.gpu ? k : CPU_SEGMENT_STEPS;
    let product = await run(a, Math.min(segment, k));
    let done = Math.min(segment, k);
    let stoppedAfter: number | undefined;
    while (done < k) {
      if (challenge.budgetMs !== undefined && performance.now() - t0 > challenge.budgetMs) {
        stoppedAfter = done;
        break;
      }
      // C_done mod p in (−126, 125]: the same residues, small enough for the int8 input.
      const left = Int8Array.from(product, (x) => (x > 125 ? x - p : x));
      const steps = Math.min(segment, k - done);
      product = await run(left, steps);
      done += steps;
    }
    return {
      challengeId: challenge.challengeId,
      digest: answerDigest(challenge.challengeId, product),
      product,
      ...(stoppedAfter === undefined ? {} : { stoppedAfter }),
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
      k: 2,
      modulus: 251,
      hardwareClass: 'warm-up',
      deadlineMs: 1,
    });
  };
  return Object.assign(solve, { warm });
}
