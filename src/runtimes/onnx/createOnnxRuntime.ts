/**
 * The ONNX runtime of a provider: runs a model file on named tensors in onnxruntime-node and
 * measures what it cost.
 */
import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { ErrorCode } from '../../errors/codes.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import { createLogger, type Logger } from '../../logger.ts';
import type { Tensor } from '../../protocol/safetensors.ts';
import { forkOnnxWorker } from './forkOnnxWorker.ts';
import type { OrtExecutionProvider } from './listOrtExecutionProviders.ts';
import type {
  WorkerConfig,
  WorkerReply,
  WorkerRequest,
  WorkerRequestBody,
  WorkerUsage,
} from './workerProtocol.ts';

/**
 * How a runtime is built.
 *
 * @example
 * const options: OnnxRuntimeOptions = { executionProviders: ['cuda', 'cpu'], concurrency: 2 };
 */
export type OnnxRuntimeOptions = {
  /** Providers to ask for, best first (default `['cpu']`). `cuda` falls back to CPU with a warning when it cannot load. */
  executionProviders?: OrtExecutionProvider[];
  /**
   * onnxruntime intra-op threads per run. Default: `cores` divided among the workers (at least one
   * each), so that workers running at once do not oversubscribe the CPU; with neither `cores` nor
   * `concurrency` > 1, onnxruntime's own (one per physical core).
   */
  intraOpThreads?: number;
  /**
   * CPU cores the workers may use together (default: every core this process may use). Less leaves
   * cores to whatever else runs on the machine, such as the devnet's coordinator and other providers.
   */
  cores?: number;
  /**
   * Let onnxruntime's idle threads spin-wait for work (default false). Spinning shaves wake-up
   * latency inside a run but burns whole cores between runs and after each parallel section; on a
   * provider the agent and the coordinator need that CPU (measured in docs/benchmarks.md,
   * "e2e-overhead").
   */
  spinning?: boolean;
  /** Loaded sessions kept per worker, least recently used evicted first (default 4). */
  maxSessions?: number;
  /** Runs that may execute at the same time, each in its own worker process (default 1). */
  concurrency?: number;
  /** Start the worker processes now rather than on the first run (saves the first task about a second). */
  prestart?: boolean;
  logger?: Logger;
};

/**
 * What one run cost, measured inside the worker process that ran it. `wallMs` and `cpuMs` cover
 * `session.run` only; `loadMs` is the time spent loading the model for this run (0 when the
 * session was cached). `cpuMs` is the worker process's CPU time (all onnxruntime threads; a worker
 * runs one task at a time, so it is this run's alone). `peakRssBytes` is
 * `process.resourceUsage().maxRSS` of the worker process: its high-water mark since it started,
 * which includes earlier runs and sessions held by that worker, not this run's peak in isolation.
 *
 * @example
 * const { usage } = await runtime.run(modelPath, inputs);
 * console.log(`${usage.wallMs.toFixed(1)} ms wall, ${usage.cpuMs.toFixed(1)} ms CPU`);
 */
export type OnnxRunUsage = WorkerUsage;

/**
 * Options of one run.
 *
 * @example
 * await runtime.run(modelPath, inputs, { timeoutMs: 30_000, signal: controller.signal });
 */
export type OnnxRunOptions = { signal?: AbortSignal; timeoutMs?: number };

/**
 * Outputs of one run, named as the model names them, and what the run cost.
 *
 * @example
 * const { outputs: { 'sigmoid_0.tmp_0': probMap } } = await runtime.run(modelPath, { x });
 */
export type OnnxRunResult = {
  outputs: Record<string, Tensor>;
  usage: OnnxRunUsage;
  /** Where it ran (`cpu` when CUDA was asked for but could not load). */
  executionProvider: OrtExecutionProvider;
};

/**
 * What {@link OnnxRuntime.runFile} returns: the outputs are in the file it was given.
 *
 * @example
 * const { usage } = await runtime.runFile(modelPath, inputPath, outputPath);
 */
export type OnnxRunFileResult = Omit<OnnxRunResult, 'outputs'> & {
  /** Size of the output file the run wrote. */
  outputBytes: number;
};

/**
 * A pool of onnxruntime worker processes.
 *
 * @example
 * const runtime: OnnxRuntime = createOnnxRuntime();
 */
export type OnnxRuntime = {
  /** Runs the model on tensors; inputs and outputs travel to and from the worker over IPC. */
  run(modelPath: string, inputs: Record<string, Tensor>, options?: OnnxRunOptions): Promise<OnnxRunResult>;
  /**
   * Runs the model on a safetensors input file and writes the outputs as a safetensors file (the
   * same bytes `encodeSafetensors(outputs)` gives). The tensors never cross the IPC pipe, which
   * saves the provider milliseconds per task; a bad input file is `PLX_BAD_TENSOR_FILE`.
   */
  runFile(
    modelPath: string,
    inputPath: string,
    outputPath: string,
    options?: OnnxRunOptions,
  ): Promise<OnnxRunFileResult>;
  /** Stops every worker; runs in flight or queued reject. */
  close(): Promise<void>;
};

/**
 * An inference that failed inside onnxruntime (a bug in the model, out of memory, a crash of the
 * worker process).
 *
 * @example
 * if (err instanceof OnnxRunError) reportTaskFailure(err.message);
 */
export class OnnxRunError extends Error {
  override name = 'OnnxRunError' as const;
}

type Job = {
  req: WorkerRequest;
  resolve: (r: OnnxRunResult | OnnxRunFileResult) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
};

type Slot = { child: ChildProcess | undefined; job: Job | undefined };

/** Keeps the parent from waiting on an idle worker (or lets it wait on a busy one). */
function setRef(child: ChildProcess, ref: boolean): void {
  const channel = child.channel as { ref(): void; unref(): void } | undefined;
  if (ref) {
    child.ref();
    channel?.ref();
  } else {
    child.unref();
    channel?.unref();
  }
}

/** A worker's share of `cores` (all of them by default); undefined: onnxruntime's own choice. */
function threadsPerWorker(cores: number | undefined, workers: number): number | undefined {
  if (cores === undefined && workers === 1) return undefined;
  return Math.max(1, Math.floor((cores ?? availableParallelism()) / workers));
}

/**
 * Creates an ONNX runtime. Each run executes in a worker process (onnxruntime-node runs inference
 * synchronously and cannot interrupt it; in a child process the provider's event loop stays free, a
 * run that exceeds `timeoutMs` or whose `signal` aborts is killed for real with SIGKILL and rejects
 * with a `TimeoutError` / the signal's reason, and a native crash on a hostile model kills only the
 * worker). Inputs are checked against the model first (`PLX_INPUT_MISMATCH`); a file onnxruntime
 * cannot load is `PLX_BAD_MODEL`; a failure inside onnxruntime is an {@link OnnxRunError}. Each
 * worker keeps an LRU of loaded sessions keyed by model path (model files are content-addressed
 * blobs, so a path never changes content); workers start on first use (about a second, or at once
 * with `prestart`) and are replaced after a kill. Every worker is a Node process with its own
 * onnxruntime (about 130 MB resident with the 4.7 MB PP-OCRv4 detector loaded, as measured), so
 * `concurrency` costs memory.
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
    intraOpThreads: options.intraOpThreads ?? threadsPerWorker(options.cores, concurrency),
    spinning: options.spinning ?? false,
    maxSessions: options.maxSessions ?? 4,
  };
  const slots: Slot[] = Array.from({ length: concurrency }, () => ({ child: undefined, job: undefined }));
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  function spawn(slot: Slot): ChildProcess {
    const child = forkOnnxWorker(config);
    child.on('message', (msg: WorkerReply) => {
      if (msg.type === 'warning') {
        log.warn(msg.message);
        return;
      }
      if (msg.type === 'meta') return; // only isolated inspections ask for it
      const job = slot.job;
      if (job === undefined || job.req.id !== msg.id) return;
      finish(slot);
      if (msg.type === 'result')
        job.resolve({
          ...(msg.outputs === undefined ? {} : { outputs: msg.outputs }),
          ...(msg.outputBytes === undefined ? {} : { outputBytes: msg.outputBytes }),
          usage: msg.usage,
          executionProvider: msg.provider,
        } as OnnxRunResult | OnnxRunFileResult);
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
    const onDeath = (detail: string) => {
      if (slot.child !== child) return;
      slot.child = undefined;
      const job = slot.job;
      if (job === undefined) return;
      finish(slot);
      job.reject(new OnnxRunError(`the onnxruntime worker process died (${detail})`));
    };
    child.on('error', (err) => onDeath(err.message));
    child.on('exit', (code, signal) => onDeath(signal ?? `exit code ${code}`));
    return child;
  }

  function finish(slot: Slot): void {
    slot.job?.cleanup();
    slot.job = undefined;
    if (slot.child !== undefined) setRef(slot.child, false);
    pump();
  }

  function pump(): void {
    for (const slot of slots) {
      if (slot.job !== undefined) continue;
      const job = queue.shift();
      if (job === undefined) return;
      slot.job = job;
      slot.child ??= spawn(slot);
      setRef(slot.child, true);
      slot.child.send(job.req);
    }
  }

  // Stops the job wherever it is: dropped from the queue, or its worker killed (the only way to
  // interrupt an onnxruntime run) and replaced on the next dispatch.
  function cancel(job: Job, reason: unknown): void {
    const i = queue.indexOf(job);
    if (i >= 0) queue.splice(i, 1);
    const slot = slots.find((s) => s.job === job);
    if (slot !== undefined) {
      const child = slot.child;
      slot.child = undefined;
      slot.job = undefined;
      child?.kill('SIGKILL');
    }
    job.cleanup();
    job.reject(reason);
    pump();
  }

  if (options.prestart === true)
    for (const slot of slots) {
      slot.child = spawn(slot);
      setRef(slot.child, false);
    }

  function submit(
    request: WorkerRequestBody,
    runOptions: OnnxRunOptions,
  ): Promise<OnnxRunResult | OnnxRunFileResult> {
    if (closed) return Promise.reject(new Error('the ONNX runtime is closed'));
    const { signal, timeoutMs } = runOptions;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => cancel(job, signal?.reason);
      const job: Job = {
        req: { ...request, id: nextId++ },
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
            cancel(job, new DOMException(`the ONNX run exceeded its ${timeoutMs} ms limit`, 'TimeoutError')),
          timeoutMs,
        );
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(job);
      pump();
    });
  }

  return {
    run(modelPath, inputs, runOptions = {}) {
      // V8 serialization sends a view's whole backing buffer; send exact-size copies of views
      // into larger buffers (tensors decoded from one safetensors file share its buffer).
      const sent: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(inputs))
        sent[name] = t.data.byteLength === t.data.buffer.byteLength ? t : { ...t, data: t.data.slice() };
      return submit({ modelPath, inputs: sent }, runOptions) as Promise<OnnxRunResult>;
    },
    runFile(modelPath, inputPath, outputPath, runOptions = {}) {
      return submit(
        { modelPath, inputPath: resolve(inputPath), outputPath: resolve(outputPath) },
        runOptions,
      ) as Promise<OnnxRunFileResult>;
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
          const child = slot.child;
          const job = slot.job;
          slot.child = undefined;
          slot.job = undefined;
          job?.cleanup();
          job?.reject(err);
          if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((resolve) => child.once('exit', resolve));
          // An idle worker is unref'd; hold the event loop open until it has really gone.
          child.ref();
          // A profiling worker (PLEXUS_CPU_PROF_DIR) exits on SIGTERM, writing its profile.
          child.kill(process.env.PLEXUS_CPU_PROF_DIR ? 'SIGTERM' : 'SIGKILL');
          await exited;
        }),
      );
    },
  };
}
