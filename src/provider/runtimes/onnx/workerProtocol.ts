/** Messages between createOnnxRuntime and its worker processes (internal to this folder). */
import type { Tensor } from '../../../protocol/safetensors.ts';
import type { OrtExecutionProvider } from './listOrtExecutionProviders.ts';

/** What a worker is started with. */
export type WorkerConfig = {
  executionProviders: OrtExecutionProvider[];
  intraOpThreads: number | undefined;
  maxSessions: number;
};

/**
 * Parent → worker: run one model on one set of inputs, given as tensors (sent over IPC) or as a
 * safetensors file the worker reads, with the outputs written to `outputPath` as safetensors.
 */
export type WorkerRequest = WorkerRequestBody & { id: number };

/** A {@link WorkerRequest} before the runtime numbers it. */
export type WorkerRequestBody =
  | { modelPath: string; inputs: Record<string, Tensor> }
  | { modelPath: string; inputPath: string; outputPath: string };

/** Measured cost of one run, as the worker saw it. */
export type WorkerUsage = { wallMs: number; cpuMs: number; peakRssBytes: number; loadMs: number };

/** Worker → parent. */
export type WorkerReply =
  | {
      type: 'result';
      id: number;
      /** The outputs, or nothing when they were written to the request's `outputPath`. */
      outputs: Record<string, Tensor> | undefined;
      provider: OrtExecutionProvider;
      usage: WorkerUsage;
    }
  | { type: 'error'; id: number; message: string; code?: string; details?: Record<string, unknown> }
  | { type: 'warning'; message: string };
