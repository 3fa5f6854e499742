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
 * The CPU backend stays available (`PLEXUS_TRAIN_BACKEND=cpu`, for the benchmark's comparison and
 * as a fallback); providers must all use the same backend, since the two round differently.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerWasmConvFilterGrad } from './wasmConvGrad.ts';

/** The TF.js backends a training process may run. */
export type TrainBackend = 'wasm' | 'cpu';

let ready: Promise<void> | undefined;

/** The backend training uses: `PLEXUS_TRAIN_BACKEND` (`wasm` or `cpu`), `wasm` by default. */
export function trainBackend(): TrainBackend {
  const b = process.env.PLEXUS_TRAIN_BACKEND ?? 'wasm';
  if (b !== 'wasm' && b !== 'cpu') throw new Error(`PLEXUS_TRAIN_BACKEND is wasm or cpu, not ${b}`);
  return b;
}

/**
 * Selects the training backend once per process; every training entry point awaits it.
 *
 * @example
 * await tfReady();
 */
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    // PROD: no debug checks, and no console banner suggesting the native backend.
    tf.env().set('PROD', true);
    const backend = trainBackend();
    if (backend === 'wasm') {
      const require = createRequire(import.meta.url);
      setWasmPaths(
        `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`,
      );
      registerWasmConvFilterGrad();
    }
    if (!(await tf.setBackend(backend))) throw new Error(`the TF.js ${backend} backend failed to start`);
    await tf.ready();
  })();
  return ready;
}

export { tf, tfl };
