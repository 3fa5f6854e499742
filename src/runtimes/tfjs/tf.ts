/**
 * TensorFlow.js for training tasks: the core, the Layers API and the WebAssembly backend
 * (`@tensorflow/tfjs-backend-wasm`: its .wasm binaries ship inside the npm package and are read
 * from node_modules, nothing is downloaded; `@tensorflow/tfjs-node` fetches a native binary at
 * install and cannot be used here). In Node the WASM backend runs its single-threaded SIMD binary
 * (XNNPACK kernels; the package turns threads off under Node), so the same inputs give the same
 * bits on every machine running the same package version: what lets a re-run of a training task be
 * compared with the original (docs/training.md "Reproducibility"). It trains a small CNN about 50×
 * faster than the pure-JavaScript CPU backend (docs/training.md "Backend").
 *
 * The backend is part of a job's spec (`backend`: name and TF.js release, src/protocol/training.ts):
 * every task selects the job's backend with {@link useTrainBackend}, which refuses a release other
 * than the installed one (`PLX_TRAIN_BACKEND_MISMATCH`), so all results of a job round the same way.
 * Nothing in the environment chooses it.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { PlexusError } from '../../errors/PlexusError.ts';
import { TFJS_VERSION, type TrainBackendName, type TrainBackendSpec } from '../../protocol/training.ts';
import { registerWasmConvFilterGrad } from './wasmConvGrad.ts';

/** The TF.js backends a training process may run. */
export type TrainBackend = TrainBackendName;

/** The default backend: what a spec without `backend` pins. */
export const DEFAULT_TRAIN_BACKEND: TrainBackendSpec = { name: 'wasm', version: TFJS_VERSION };

/**
 * The installed release of each backend, or undefined where core, layers and that backend's
 * package disagree (a mixed install rounds like neither release).
 */
export function installedBackends(): Record<TrainBackend, string | undefined> {
  const same = (v: string) => (v === tf.version_core && v === tfl.version_layers ? v : undefined);
  return { wasm: same(version_wasm), cpu: same(version_cpu) };
}

let ready: Promise<void> | undefined;

/**
 * Initialises TF.js once per process (the WASM binaries' path, our WASM kernel) and selects the
 * default backend (WASM); every training entry point awaits it. {@link useTrainBackend} picks a
 * job's backend.
 *
 * @example
 * await tfReady();
 */
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    // PROD: no debug checks, and no console banner suggesting the native backend.
    tf.env().set('PROD', true);
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    registerWasmConvFilterGrad();
    await select(DEFAULT_TRAIN_BACKEND.name);
  })();
  return ready;
}

async function select(name: TrainBackend): Promise<void> {
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`the TF.js ${name} backend failed to start`);
  await tf.ready();
}

/**
 * Makes `backend` the process's TF.js backend, or throws `PLX_TRAIN_BACKEND_MISMATCH` when the
 * installed release of it is not the one pinned (the caller must not train on another).
 *
 * @example
 * await useTrainBackend(task.backend);
 */
export async function useTrainBackend(backend: TrainBackendSpec): Promise<void> {
  const installed = installedBackends();
  if (installed[backend.name] !== backend.version)
    throw new PlexusError(
      'PLX_TRAIN_BACKEND_MISMATCH',
      `the task pins TF.js ${backend.name} ${backend.version}; this process has ${backend.name} ${installed[backend.name] ?? 'in a mixed install'} (core ${tf.version_core}, layers ${tfl.version_layers})`,
      {
        details: {
          task: backend,
          installed: { ...installed, core: tf.version_core, layers: tfl.version_layers },
        },
      },
    );
  await tfReady();
  await select(backend.name);
}

/** The backend TF.js computes on now (after {@link tfReady}). */
export function currentBackend(): TrainBackend {
  return tf.getBackend() as TrainBackend;
}

export { tf, tfl };
