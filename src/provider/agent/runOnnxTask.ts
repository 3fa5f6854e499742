import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cidOf } from '../../protocol/ids.ts';
import type { OnnxRuntime } from '../../runtimes/onnx/createOnnxRuntime.ts';
import type { BlobCache } from '../cache/createBlobCache.ts';
import type { ScratchFiles } from './scratchFiles.ts';

export type OnnxTask = { model: string; input: string; timeoutMs: number };
export type TaskOutput = {
  bytes: Uint8Array;
  cid: string;
  usage: { wallMs: number; cpuMs: number; peakRssBytes: number };
  /** Training tasks: which job (topology cid), round and worker the output answers. */
  train?: { model: string; round: number; worker: number };
};

/**
 * Output files up to this size are read synchronously: a few tens of microseconds in the page
 * cache, against a round trip through libuv's thread pool for each of open, stat, read and close.
 * Larger ones are read asynchronously, so the agent's event loop never stalls on them.
 */
const SYNC_READ_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Runs one `onnx.infer` task: the model and input come from the blob cache by content id, the
 * input file's tensors feed the model, and the outputs become one safetensors file (deterministic
 * bytes) whose content id is the task's output digest.
 *
 * @example const out = await runOnnxTask({ runtime, cache, scratch }, task, signal);
 */
export async function runOnnxTask(
  deps: { runtime: OnnxRuntime; cache: Pick<BlobCache, 'acquire'>; scratch: ScratchFiles },
  task: OnnxTask,
  signal?: AbortSignal,
): Promise<TaskOutput> {
  // Both blobs stay pinned in the cache while the task uses them.
  const [model, input] = await Promise.all([
    deps.cache.acquire(task.model, signal),
    deps.cache.acquire(task.input, signal),
  ]);
  const outPath = deps.scratch.take();
  let ran = false;
  try {
    // The worker reads the input file and writes the output file itself: tensors never cross IPC.
    const { usage, outputBytes } = await deps.runtime.runFile(model.path, input.path, outPath, {
      timeoutMs: task.timeoutMs,
      ...(signal ? { signal } : {}),
    });
    ran = true;
    // The Buffer itself (a Uint8Array): wrapping it in `new Uint8Array(…)` would copy it.
    const bytes: Uint8Array =
      outputBytes <= SYNC_READ_MAX_BYTES ? readFileSync(outPath) : await readFile(outPath);
    return {
      bytes,
      cid: cidOf(bytes),
      usage: {
        wallMs: Math.round(usage.wallMs),
        cpuMs: Math.round(usage.cpuMs),
        peakRssBytes: usage.peakRssBytes,
      },
    };
  } finally {
    model.release();
    input.release();
    // A run that failed may have been killed mid-write: its file is not used again.
    if (ran) deps.scratch.give(outPath);
    else deps.scratch.discard(outPath);
  }
}
