import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from './workerProtocol.ts';

const WORKER_PATH = fileURLToPath(new URL('./onnxWorker.mjs', import.meta.url));

/**
 * Starts one onnxruntime worker process (see `onnxWorkerMain.ts`), speaking V8-serialized IPC.
 *
 * @example
 * const child = forkOnnxWorker({ executionProviders: ['cpu'], intraOpThreads: 2, spinning: false, maxSessions: 4 });
 * child.send({ id: 1, inspect: '/models/det.onnx' });
 */
export function forkOnnxWorker(config: WorkerConfig): ChildProcess {
  return fork(WORKER_PATH, [], {
    // V8 serialization carries typed arrays (BigInt64Array included) without a JSON detour.
    serialization: 'advanced',
    // Not the parent's flags (test runner, inspector, loaders): the worker sets itself up. With
    // PLEXUS_CPU_PROF_DIR (profiling a devnet, see src/devnet/spawnNode.ts) it writes a CPU profile too.
    execArgv: process.env.PLEXUS_CPU_PROF_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PLEXUS_CPU_PROF_DIR}`]
      : [],
    env: { ...process.env, PLEXUS_ONNX_WORKER_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
