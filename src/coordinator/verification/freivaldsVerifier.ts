/**
 * Runs the capability proof's correctness check (digest + chained Freivalds: 0.5–1.6 G
 * multiply-adds for a GPU class) off the coordinator's event loop, in one worker thread, one check
 * at a time (a second waits for the first: the coordinator never spends more than one core on it).
 */
import { Worker } from 'node:worker_threads';
import type { CapabilityChallenge } from '../../protocol/capabilityChallenge.ts';

const WORKER_URL = new URL('./freivaldsWorker.mjs', import.meta.url);

type Check = { digestOk: boolean; correct: boolean };
type Reply = { id: number; error?: string } & Partial<Check>;

/**
 * A verifier whose worker thread starts on the first check and stays (unref'd) until `close()`.
 *
 * @example
 * const verifier = createFreivaldsVerifier();
 * const { digestOk, correct } = await verifier.check({ challenge, committedDigest, product, verifierSeed });
 * await verifier.close();
 */
export function createFreivaldsVerifier() {
  let worker: Worker | undefined;
  let nextId = 1;
  /** The tail of the queue: each check starts when the previous one settled. */
  let tail: Promise<unknown> = Promise.resolve();
  const waiting = new Map<number, { resolve: (c: Check) => void; reject: (e: Error) => void }>();

  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const start = (): Worker => {
    const w = new Worker(WORKER_URL, { execArgv: [] });
    w.unref();
    w.on('message', (m: Reply) => {
      const p = waiting.get(m.id);
      if (!p) return;
      waiting.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve({ digestOk: m.digestOk === true, correct: m.correct === true });
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      failAll(new Error(`the verifier thread exited (${code})`));
    });
    return w;
  };

  const run = (args: {
    challenge: CapabilityChallenge;
    committedDigest: string;
    product: Uint8Array;
    verifierSeed: string;
    rounds?: number;
  }): Promise<Check> =>
    new Promise<Check>((resolve, reject) => {
      worker ??= start();
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...args });
    });

  return {
    /** Digest and Freivalds check of one answer, in the worker thread, after the checks before it. */
    check(args: Parameters<typeof run>[0]): Promise<Check> {
      const result = tail.then(() => run(args));
      tail = result.catch(() => undefined);
      return result;
    },
    /** Stops the worker thread (coordinator shutdown); a later check starts a new one. */
    async close(): Promise<void> {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}

/** The verifier's interface. */
export type FreivaldsVerifier = ReturnType<typeof createFreivaldsVerifier>;
