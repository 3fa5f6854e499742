/** Messages between the provider agent and its training worker process (trainProcess.ts). */
import type { TrainTaskDescriptor } from '../../protocol/training.ts';

/** Run one task: the descriptor and the files holding its topology, global weights and shard. */
export type TrainWorkerRequest = {
  id: number;
  task: TrainTaskDescriptor;
  paths: { model: string; weights: string; shard: string };
};

/** The task's output (safetensors bytes), or why it failed; `ready` once the process is up. */
export type TrainWorkerReply =
  | { ready: true }
  | {
      id: number;
      ok: true;
      bytes: Uint8Array;
      loss: number;
      trainMs: number;
      cpuMs: number;
      rssBytes: number;
    }
  | { id: number; ok: false; message: string; code?: string };
