/** Messages between createOnnxRuntime and its worker processes (internal to this folder). */
import type { Tensor } from '../../../protocol/safetensors.ts';
import type { OrtExecutionProvider } from './listOrtExecutionProviders.ts';

/** What a worker is started with. */
export type WorkerConfig = {
  executionProviders: OrtExecutionProvider[];
  intraOpThreads: number | undefined;
  maxSessions: number;
};

/** Parent → worker: run one model on one set of inputs. */
export type WorkerRequest = { id: number; modelPath: string; inputs: Record<string, Tensor> };

/** Measured cost of one run, as the worker saw it. */
export type WorkerUsage = { wallMs: number; cpuMs: number; peakRssBytes: number; loadMs: number };

/** Worker → parent. */
export type WorkerReply =
  | {
      type: 'result';
      id: number;
      outputs: Record<string, Tensor>;
      provider: OrtExecutionProvider;
      usage: WorkerUsage;
    }
  | { type: 'error'; id: number; message: string; code?: string; details?: Record<string, unknown> }
  | { type: 'warning'; message: string };
