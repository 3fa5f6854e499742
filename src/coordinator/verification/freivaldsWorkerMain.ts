/**
 * The verifier thread: checks one capability answer per message (digest + chained Freivalds) and
 * posts `{ id, digestOk, correct }`, or `{ id, error }` when the check itself threw.
 */
import { parentPort } from 'node:worker_threads';
import type { CapabilityChallenge } from '../../protocol/capabilityChallenge.ts';
import { checkCapabilityAnswer } from './capabilityProof.ts';

type Job = {
  id: number;
  challenge: CapabilityChallenge;
  committedDigest: string;
  product: Uint8Array;
  verifierSeed: string;
  rounds?: number;
};

parentPort!.on('message', (job: Job) => {
  try {
    parentPort!.postMessage({ id: job.id, ...checkCapabilityAnswer(job) });
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: String(err) });
  }
});
