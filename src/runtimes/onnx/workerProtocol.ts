/** Messages between createOnnxRuntime and its worker processes (internal to this folder). */
import type { Tensor } from '../../protocol/safetensors.ts';
import type { OnnxModelMeta } from './inspectOnnxModel.ts';
import type { OrtExecutionProvider } from './listOrtExecutionProviders.ts';

/**
 * What a worker is started with.
 *
 * @example
 * const config: WorkerConfig = { executionProviders: ['cpu'], intraOpThreads: 2, spinning: false, maxSessions: 4 };
 */
export type WorkerConfig = {
  executionProviders: OrtExecutionProvider[];
  /** undefined: onnxruntime's own default (one thread per physical core). */
  intraOpThreads: number | undefined;
  /** onnxruntime's `session.intra_op.allow_spinning` (undefined: its default, spinning). */
  spinning?: boolean;
  maxSessions: number;
};

/**
 * Parent → worker: run one model on one set of inputs, given as tensors (sent over IPC) or as a
 * safetensors file the worker reads, with the outputs written to `outputPath` as safetensors.
 *
 * @example
 * child.send({ id: 1, modelPath, inputPath, outputPath } satisfies WorkerRequest);
 */
export type WorkerRequest = WorkerRequestBody & { id: number };

/**
 * A {@link WorkerRequest} before the runtime numbers it.
 *
 * @example
 * const body: WorkerRequestBody = { modelPath, inputs: { x } };
 */
export type WorkerRequestBody =
  | { modelPath: string; inputs: Record<string, Tensor> }
  | { modelPath: string; inputPath: string; outputPath: string };

/**
 * Parent → worker: load a model only to read its interface (isolated `inspectOnnxModel`).
 *
 * @example
 * child.send({ id: 1, inspect: '/blobs/3f…' } satisfies InspectRequest);
 */
export type InspectRequest = { id: number; inspect: string };

/**
 * Measured cost of one run, as the worker saw it.
 *
 * @example
 * const usage: WorkerUsage = { wallMs: 41.2, cpuMs: 80.5, peakRssBytes: 2 ** 27, loadMs: 0 };
 */
export type WorkerUsage = { wallMs: number; cpuMs: number; peakRssBytes: number; loadMs: number };

/**
 * Worker → parent.
 *
 * @example
 * child.on('message', (msg: WorkerReply) => { if (msg.type === 'warning') log.warn(msg.message); });
 */
export type WorkerReply =
  | {
      type: 'result';
      id: number;
      /** The outputs, or nothing when they were written to the request's `outputPath`. */
      outputs: Record<string, Tensor> | undefined;
      /** Size of the file written to `outputPath`. */
      outputBytes?: number;
      provider: OrtExecutionProvider;
      usage: WorkerUsage;
    }
  | { type: 'error'; id: number; message: string; code?: string; details?: Record<string, unknown> }
  | { type: 'meta'; id: number; meta: OnnxModelMeta }
  | { type: 'warning'; message: string };
