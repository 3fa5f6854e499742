/**
 * Runs one `train.diloco` task on the agent (docs/training.md): the task's input is its
 * descriptor, which names the topology, the round's global weights and the worker's shard; all
 * come through the blob cache (the coordinator lets a provider read them while it holds the
 * lease). The output is the pseudo-gradient and the training loss as one safetensors file, which
 * the agent commits to and delivers like an inference output. The H steps run in the training
 * worker process (trainProcess.ts), so the agent's event loop keeps answering the coordinator.
 */
import { readFile } from 'node:fs/promises';
import { cidOf } from '../../protocol/ids.ts';
import { parseTrainTask } from '../../runtimes/tfjs/runTrainTask.ts';
import type { TrainProcess } from '../../runtimes/tfjs/trainProcess.ts';
import type { BlobCache } from '../cache/createBlobCache.ts';
import type { TaskOutput } from './runOnnxTask.ts';

/**
 * Trains H steps as the descriptor `task.input` says; rejects on a bad descriptor or blob.
 *
 * @example
 * const out = await runTrainAssignment({ cache, trainer }, { input: a.input }, signal);
 */
export async function runTrainAssignment(
  deps: { cache: Pick<BlobCache, 'acquire'>; trainer: Pick<TrainProcess, 'run'> },
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
    const [model, weights, shard] = blobs.map((b) => b.path) as [string, string, string];
    signal?.throwIfAborted();
    // The files stay in the cache (acquired) until the worker has read them and answered.
    const run = await deps.trainer.run(descriptor, { model, weights, shard }, signal);
    const cpu = process.cpuUsage(cpu0);
    return {
      bytes: run.bytes,
      cid: cidOf(run.bytes),
      usage: {
        wallMs: Math.round(performance.now() - started),
        cpuMs: Math.round((cpu.user + cpu.system) / 1000) + run.cpuMs,
        peakRssBytes: Math.max(process.memoryUsage().rss, run.rssBytes),
      },
      train: { model: descriptor.model, round: descriptor.round, worker: descriptor.worker },
    };
  } finally {
    for (const b of blobs) b.release();
  }
}
