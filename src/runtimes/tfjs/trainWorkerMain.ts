/**
 * The body of a training worker process (trainProcess.ts): runs `train.diloco` tasks one at a
 * time, off the provider agent's event loop. A task's inner loop is minutes of synchronous TF.js
 * CPU work; run on the agent's thread it would leave the coordinator's WebSocket pings, capability
 * and storage challenges and lease messages unanswered until it ends. Here the agent stays
 * responsive, and a task past its deadline is stopped for real with SIGKILL.
 */
import { readFileSync } from 'node:fs';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { runTrainTask } from './runTrainTask.ts';
import type { TrainWorkerReply, TrainWorkerRequest } from './trainWorkerProtocol.ts';

// The parent is gone (crashed or killed): nothing left to work for.
process.on('disconnect', () => process.exit(0));

function post(reply: TrainWorkerReply): void {
  process.send?.(reply);
}

let queue: Promise<void> = Promise.resolve();

process.on('message', (req: TrainWorkerRequest) => {
  // One task at a time, in arrival order (the parent sends one per slot).
  queue = queue.then(async () => {
    const cpu0 = process.cpuUsage();
    try {
      const { output, loss, trainMs } = await runTrainTask(req.task, {
        model: readFileSync(req.paths.model),
        weights: readFileSync(req.paths.weights),
        shard: readFileSync(req.paths.shard),
      });
      const cpu = process.cpuUsage(cpu0);
      post({
        id: req.id,
        ok: true,
        bytes: encodeSafetensors(output),
        loss,
        trainMs,
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        rssBytes: process.memoryUsage().rss,
      });
    } catch (err) {
      const e = err as { message?: string; code?: unknown };
      post({
        id: req.id,
        ok: false,
        message: String(e?.message ?? err),
        ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      });
    }
  });
});
post({ ready: true });
