/**
 * Runs one `train.diloco` task on the agent (docs/training.md): the task's input is its
 * descriptor, which names the topology, the round's global weights and the worker's shard; all
 * come through the blob cache (the coordinator lets a provider read them while it holds the
 * lease). The output is the pseudo-gradient and the training loss as one safetensors file, which
 * the agent commits to and delivers like an inference output.
 */
import { readFile } from 'node:fs/promises';
import { cidOf } from '../../protocol/ids.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { parseTrainTask, runTrainTask } from '../../runtimes/tfjs/runTrainTask.ts';
import type { BlobCache } from '../cache/createBlobCache.ts';
import type { TaskOutput } from './runOnnxTask.ts';

/**
 * Trains H steps as the descriptor `task.input` says; rejects on a bad descriptor or blob.
 *
 * @example
 * const out = await runTrainAssignment({ cache }, { input: a.input }, signal);
 */
export async function runTrainAssignment(
  deps: { cache: Pick<BlobCache, 'acquire'> },
  task: { input: string },
  signal?: AbortSignal,
): Promise<TaskOutput> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const descriptorBlob = await deps.cache.acquire(task.input, signal);
  let descriptor: ReturnType<typeof parseTrainTask>;
  try {
    descriptor = parseTrainTask(await readFile(descriptorBlob.path));
  } finally {
    descriptorBlob.release();
  }
  const blobs = await Promise.all(
    [descriptor.model, descriptor.weights, descriptor.shard].map((cid) => deps.cache.acquire(cid, signal)),
  );
  try {
    const [model, weights, shard] = await Promise.all(blobs.map((b) => readFile(b.path)));
    signal?.throwIfAborted();
    const { output } = await runTrainTask(descriptor, {
      model: model as Buffer,
      weights: weights as Buffer,
      shard: shard as Buffer,
    });
    const bytes = encodeSafetensors(output);
    const cpu = process.cpuUsage(cpu0);
    return {
      bytes,
      cid: cidOf(bytes),
      usage: {
        wallMs: Math.round(performance.now() - started),
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        peakRssBytes: process.memoryUsage().rss,
      },
      train: { model: descriptor.model, round: descriptor.round, worker: descriptor.worker },
    };
  } finally {
    for (const b of blobs) b.release();
  }
}
