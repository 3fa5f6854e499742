/**
 * Erasure coding off the event loop (issue 19, docs/storage.md "Limits and abuse"): a put's coding
 * (Reed-Solomon and every piece's Merkle tree) on the coordinator and a repair's rebuild on a
 * provider run in one worker thread, one job at a time (a second waits for the first, so coding
 * never takes more than one core), while the event loop keeps answering sessions, challenges and
 * relays. Before, a put of an 8 MiB blob at K=16 M=16 held the coordinator's loop for the whole
 * coding. Buffers are transferred both ways where the caller gives them up, not copied.
 */
import { Worker } from 'node:worker_threads';
import type { Hex } from 'viem';
import type { ErrorCode } from '../errors/codes.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import type { ErasureParams, ObjectManifest } from './erasure.ts';
import type { ErasureJob } from './erasureJobs.ts';

const WORKER_URL = new URL('./erasureWorker.mjs', import.meta.url);

type Reply = {
  id: number;
  result?: unknown;
  error?: string;
  code?: ErrorCode;
  details?: Record<string, unknown>;
};

/**
 * A coding thread that starts on the first job and stays (unref'd) until `close()`.
 *
 * @example
 * const coder = createErasureThread();
 * const { manifest, pieces } = await coder.encode(bytes, { ...DEFAULT_ERASURE, dataPieces: 4, parityPieces: 2 });
 * await coder.close();
 */
export function createErasureThread() {
  let worker: Worker | undefined;
  let nextId = 1;
  /** The tail of the queue: each job starts when the previous one settled. */
  let tail: Promise<unknown> = Promise.resolve();
  const waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

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
      if (m.error === undefined) p.resolve(m.result);
      else
        p.reject(
          m.code
            ? new PlexusError(m.code, m.error, m.details ? { details: m.details } : {})
            : new Error(m.error),
        );
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      failAll(new Error(`the erasure thread exited (${code})`));
    });
    return w;
  };

  const run = <T>(job: ErasureJob, transfer: ArrayBuffer[]): Promise<T> => {
    const result = tail.then(
      () =>
        new Promise<T>((resolve, reject) => {
          worker ??= start();
          const id = nextId++;
          waiting.set(id, { resolve: resolve as (r: unknown) => void, reject });
          worker.postMessage({ id, ...job }, transfer);
        }),
    );
    tail = result.catch(() => undefined);
    return result;
  };

  return {
    /**
     * `encodeObject` in the thread. `object` is copied, unless `give` is set: then its buffer is
     * moved (unusable here afterwards; only when it is a whole buffer nobody else holds).
     */
    encode(object: Uint8Array, params: ErasureParams, give = false) {
      const whole = object.byteOffset === 0 && object.byteLength === object.buffer.byteLength;
      const transfer = give && whole && object.buffer instanceof ArrayBuffer ? [object.buffer] : [];
      return run<{ manifest: ObjectManifest; pieces: Uint8Array[][] }>(
        { op: 'encode', object, params },
        transfer,
      );
    },
    /** Rebuilds piece `index` from K valid pieces of `slots`; every piece and the result checked against `roots`. */
    rebuild(job: Omit<Extract<ErasureJob, { op: 'rebuild' }>, 'op'>) {
      return run<Uint8Array>({ op: 'rebuild', ...job }, []);
    },
    /** `decodeObject` in the thread: pieces by `segment/index`, checked against their roots; the sha256 checked. */
    decode(manifest: ObjectManifest, pieces: Map<string, Uint8Array>) {
      return run<Uint8Array>({ op: 'decode', manifest, pieces }, []);
    },
    /** The Merkle root of a piece (`PieceTree.build(piece, leafBytes).root`). */
    root(piece: Uint8Array, leafBytes: number) {
      return run<Hex>({ op: 'root', piece, leafBytes }, []);
    },
    /** Stops the thread; a later job starts a new one. */
    async close(): Promise<void> {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}

/** The coding thread's interface. */
export type ErasureThread = ReturnType<typeof createErasureThread>;
