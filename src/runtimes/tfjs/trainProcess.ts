/**
 * Runs `train.diloco` tasks in a child process (trainWorkerMain.ts) instead of on the provider
 * agent's event loop: a task is seconds to minutes of synchronous TF.js CPU work, during which the
 * agent must still answer the coordinator's WebSocket pings (a socket silent for two ping
 * intervals is terminated and its leases lost), capability and storage challenges and lease
 * messages. The process starts at the first task and is reused (it keeps built models by topology
 * cid); an aborted task kills it (SIGKILL stops a synchronous loop for real) and the next task
 * starts a fresh one. The code and the bits are the same as in process: the output equals a local
 * run (docs/training.md).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, errorCodes } from '../../errors/codes.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { TrainTaskDescriptor } from '../../protocol/training.ts';
import type { TrainWorkerReply, TrainWorkerRequest } from './trainWorkerProtocol.ts';

const WORKER_PATH = fileURLToPath(new URL('./trainWorker.mjs', import.meta.url));

/** A finished task: the output safetensors (pseudo-gradient and `train/loss`) and its cost. */
export type TrainRun = { bytes: Uint8Array; loss: number; trainMs: number; cpuMs: number; rssBytes: number };

export type TrainProcess = {
  /** Runs one task on the files named in `paths`; rejects on a bad task, an abort or a crash. */
  run(task: TrainTaskDescriptor, paths: TrainWorkerRequest['paths'], signal?: AbortSignal): Promise<TrainRun>;
  /** The worker's pid while it runs (tests). */
  pid(): number | undefined;
  /** Stops the worker; pending tasks reject. */
  close(): Promise<void>;
};

type Pending = { resolve: (r: TrainRun) => void; reject: (e: Error) => void };

/**
 * @example
 * const trainer = createTrainProcess();
 * const { bytes } = await trainer.run(descriptor, { model, weights, shard }, signal);
 */
export function createTrainProcess(): TrainProcess {
  let child: ChildProcess | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  function failAll(err: Error): void {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  }

  function start(): ChildProcess {
    const c = fork(WORKER_PATH, [], {
      // V8 serialization carries the output bytes without a JSON detour.
      serialization: 'advanced',
      // Not the parent's flags (test runner, inspector, loaders): the worker sets itself up.
      execArgv: process.env.PLEXUS_CPU_PROF_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PLEXUS_CPU_PROF_DIR}`]
        : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    c.on('message', (msg: TrainWorkerReply) => {
      if ('ready' in msg) return;
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) {
        const { bytes, loss, trainMs, cpuMs, rssBytes } = msg;
        p.resolve({ bytes: new Uint8Array(bytes), loss, trainMs, cpuMs, rssBytes });
      } else if (msg.code && msg.code in errorCodes) {
        p.reject(new PlexusError(msg.code as ErrorCode, msg.message));
      } else p.reject(new Error(msg.message));
    });
    c.on('exit', (code, sig) => {
      if (child === c) child = undefined;
      failAll(new Error(`training worker exited (${sig ?? code})`));
    });
    c.on('error', (err) => {
      if (child === c) child = undefined;
      failAll(err);
    });
    return c;
  }

  return {
    run(task, paths, signal) {
      signal?.throwIfAborted();
      child ??= start();
      const c = child;
      const id = nextId++;
      return new Promise<TrainRun>((resolve, reject) => {
        const onAbort = () => {
          // The loop is synchronous in the worker: only killing it stops the work.
          c.kill('SIGKILL');
          pending.delete(id);
          reject(signal?.reason instanceof Error ? signal.reason : new Error('training task aborted'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        pending.set(id, {
          resolve: (r) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(r);
          },
          reject: (e) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        });
        const req: TrainWorkerRequest = { id, task, paths };
        c.send(req);
      });
    },
    pid: () => child?.pid,
    async close() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    },
  };
}
