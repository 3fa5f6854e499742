/**
 * The ONNX runtime of a provider: runs a model file on named tensors in onnxruntime-node and
 * measures what it cost.
 */
import { Worker } from 'node:worker_threads';
import type { ErrorCode } from '../../../errors/codes.ts';
import { PlexusError } from '../../../errors/PlexusError.ts';
import { createLogger, type Logger } from '../../../logger.ts';
import type { Tensor } from '../../../protocol/safetensors.ts';
import type { OrtExecutionProvider } from './listOrtExecutionProviders.ts';
import type { WorkerConfig, WorkerReply, WorkerRequest, WorkerUsage } from './workerProtocol.ts';

/** How a runtime is built. */
export type OnnxRuntimeOptions = {
  /** Providers to ask for, best first (default `['cpu']`). `cuda` falls back to CPU with a warning when it cannot load. */
  executionProviders?: OrtExecutionProvider[];
  /** onnxruntime intra-op threads per run (default: onnxruntime's own choice, one per physical core). */
  intraOpThreads?: number;
  /** Loaded sessions kept per worker, least recently used evicted first (default 4). */
  maxSessions?: number;
  /** Runs that may execute at the same time, each on its own worker thread (default 1). */
  concurrency?: number;
  logger?: Logger;
};

/**
 * What one run cost. `wallMs` and `cpuMs` are measured around `session.run` only; `loadMs` is the
 * time spent loading the model for this run (0 when the session was cached). `cpuMs` comes from
 * `process.cpuUsage()` deltas and `peakRssBytes` from `process.resourceUsage().maxRSS`: both are
 * process-wide (onnxruntime's threads are not separable), so with concurrent runs `cpuMs` counts the
 * other runs' CPU too, and `peakRssBytes` is the process's high-water mark so far, not this run's.
 */
export type OnnxRunUsage = WorkerUsage;

/** Options of one run. */
export type OnnxRunOptions = { signal?: AbortSignal; timeoutMs?: number };

/** Outputs of one run, named as the model names them, and what the run cost. */
export type OnnxRunResult = {
  outputs: Record<string, Tensor>;
  usage: OnnxRunUsage;
  /** Where it ran (`cpu` when CUDA was asked for but could not load). */
  executionProvider: OrtExecutionProvider;
};

/** A pool of onnxruntime workers. */
export type OnnxRuntime = {
  run(modelPath: string, inputs: Record<string, Tensor>, options?: OnnxRunOptions): Promise<OnnxRunResult>;
  /** Stops every worker; runs in flight or queued reject. */
  close(): Promise<void>;
};

/** An inference that onnxruntime itself refused or failed (a bug in the model, out of memory, …). */
export class OnnxRunError extends Error {
  override name = 'OnnxRunError' as const;
}

type Job = {
  req: WorkerRequest;
  resolve: (r: OnnxRunResult) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
};

type Slot = { worker: Worker | undefined; job: Job | undefined };

const WORKER_URL = new URL('./onnxWorker.mjs', import.meta.url);

/**
 * Creates an ONNX runtime. Each run executes on a worker thread (onnxruntime-node runs inference
 * synchronously, which would otherwise block the provider's event loop for the whole run); a run
 * that exceeds `timeoutMs` or whose `signal` aborts is stopped for real by terminating its worker,
 * and rejects with a `TimeoutError` / the signal's reason. Inputs are checked against the model
 * first (`PLX_INPUT_MISMATCH`); a file onnxruntime cannot load is `PLX_BAD_MODEL`; a failure inside
 * onnxruntime is an {@link OnnxRunError}. Sessions are cached per worker, keyed by model path.
 *
 * @example
 * const rt = createOnnxRuntime({ executionProviders: ['cuda', 'cpu'], intraOpThreads: 2 });
 * const { outputs, usage } = await rt.run(modelPath, { x }, { timeoutMs: 30_000 });
 * await rt.close();
 */
export function createOnnxRuntime(options: OnnxRuntimeOptions = {}): OnnxRuntime {
  const log = options.logger ?? createLogger('onnx-runtime');
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError('concurrency must be an integer ≥ 1');
  const config: WorkerConfig = {
    executionProviders: options.executionProviders ?? ['cpu'],
    intraOpThreads: options.intraOpThreads,
    maxSessions: options.maxSessions ?? 4,
  };
  const slots: Slot[] = Array.from({ length: concurrency }, () => ({ worker: undefined, job: undefined }));
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  function spawn(slot: Slot): Worker {
    const worker = new Worker(WORKER_URL, { workerData: config });
    worker.unref();
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type === 'warning') {
        log.warn(msg.message);
        return;
      }
      const job = slot.job;
      if (job === undefined || job.req.id !== msg.id) return;
      finish(slot);
      if (msg.type === 'result')
        job.resolve({ outputs: msg.outputs, usage: msg.usage, executionProvider: msg.provider });
      else if (msg.code !== undefined)
        job.reject(
          new PlexusError(
            msg.code as ErrorCode,
            msg.message,
            msg.details === undefined ? {} : { details: msg.details },
          ),
        );
      else job.reject(new OnnxRunError(msg.message));
    });
    const onDeath = (err?: Error) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const job = slot.job;
      if (job === undefined) return;
      finish(slot);
      job.reject(
        new OnnxRunError(`the onnxruntime worker died: ${err?.message ?? 'exited'}`, { cause: err }),
      );
    };
    worker.on('error', onDeath);
    worker.on('exit', () => onDeath());
    return worker;
  }

  function finish(slot: Slot): void {
    slot.job?.cleanup();
    slot.job = undefined;
    // An idle worker must not keep the process alive.
    slot.worker?.unref();
    pump();
  }

  function pump(): void {
    for (const slot of slots) {
      if (slot.job !== undefined) continue;
      const job = queue.shift();
      if (job === undefined) return;
      slot.job = job;
      slot.worker ??= spawn(slot);
      slot.worker.ref();
      slot.worker.postMessage(job.req, transferables(job.req.inputs));
    }
  }

  // Stops the job wherever it is: dropped from the queue, or its worker terminated (the only way to
  // interrupt a synchronous onnxruntime run) and replaced on the next dispatch.
  function cancel(job: Job, reason: unknown): void {
    const i = queue.indexOf(job);
    if (i >= 0) queue.splice(i, 1);
    const slot = slots.find((s) => s.job === job);
    if (slot !== undefined) {
      const w = slot.worker;
      slot.worker = undefined;
      slot.job = undefined;
      void w?.terminate();
    }
    job.cleanup();
    job.reject(reason);
    pump();
  }

  return {
    run(modelPath, inputs, runOptions = {}) {
      if (closed) return Promise.reject(new Error('the ONNX runtime is closed'));
      const { signal, timeoutMs } = runOptions;
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<OnnxRunResult>((resolve, reject) => {
        // Copies so the worker gets exact-size buffers it can own; the caller's arrays stay intact.
        const copied: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(inputs)) copied[name] = { ...t, data: t.data.slice() };
        let timer: NodeJS.Timeout | undefined;
        const onAbort = () => cancel(job, signal?.reason);
        const job: Job = {
          req: { id: nextId++, modelPath, inputs: copied },
          resolve,
          reject,
          cleanup: () => {
            if (timer !== undefined) clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
          },
        };
        if (timeoutMs !== undefined)
          timer = setTimeout(
            () =>
              cancel(
                job,
                new DOMException(`the ONNX run exceeded its ${timeoutMs} ms limit`, 'TimeoutError'),
              ),
            timeoutMs,
          );
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(job);
        pump();
      });
    },
    async close() {
      closed = true;
      const err = new Error('the ONNX runtime was closed');
      for (const job of queue.splice(0)) {
        job.cleanup();
        job.reject(err);
      }
      await Promise.all(
        slots.map(async (slot) => {
          const w = slot.worker;
          const job = slot.job;
          slot.worker = undefined;
          slot.job = undefined;
          job?.cleanup();
          job?.reject(err);
          await w?.terminate();
        }),
      );
    },
  };
}

function transferables(inputs: Record<string, Tensor>): ArrayBuffer[] {
  return Object.values(inputs).map((t) => t.data.buffer as ArrayBuffer);
}
