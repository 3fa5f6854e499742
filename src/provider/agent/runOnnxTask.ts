import { readFile } from 'node:fs/promises';
import { cidOf } from '../../protocol/ids.ts';
import { decodeSafetensors, encodeSafetensors } from '../../protocol/safetensors.ts';
import type { BlobCache } from '../cache/createBlobCache.ts';
import type { OnnxRuntime } from '../runtimes/onnx/createOnnxRuntime.ts';

export type OnnxTask = { model: string; input: string; timeoutMs: number };
export type TaskOutput = {
  bytes: Uint8Array;
  cid: string;
  usage: { wallMs: number; cpuMs: number; peakRssBytes: number };
};

/**
 * Runs one `onnx.infer` task: the model and input come from the blob cache by content id, the
 * input file's tensors feed the model, and the outputs become one safetensors file whose content
 * id is the task's output digest.
 *
 * @example const out = await runOnnxTask({ runtime, cache }, task, signal);
 */
export async function runOnnxTask(
  deps: { runtime: OnnxRuntime; cache: Pick<BlobCache, 'acquire'> },
  task: OnnxTask,
  signal?: AbortSignal,
): Promise<TaskOutput> {
  // Both blobs stay pinned in the cache while the task uses them.
  const [model, input] = await Promise.all([
    deps.cache.acquire(task.model, signal),
    deps.cache.acquire(task.input, signal),
  ]);
  let run: Awaited<ReturnType<OnnxRuntime['run']>>;
  try {
    const inputs = decodeSafetensors(new Uint8Array(await readFile(input.path)));
    run = await deps.runtime.run(model.path, inputs, {
      timeoutMs: task.timeoutMs,
      ...(signal ? { signal } : {}),
    });
  } finally {
    model.release();
    input.release();
  }
  const { outputs, usage } = run;
  const bytes = encodeSafetensors(outputs);
  return {
    bytes,
    cid: cidOf(bytes),
    usage: {
      wallMs: Math.round(usage.wallMs),
      cpuMs: Math.round(usage.cpuMs),
      peakRssBytes: usage.peakRssBytes,
    },
  };
}
