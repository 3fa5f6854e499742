/**
 * TensorFlow.js for training tasks: the core, the Layers API and the pure-JavaScript CPU backend
 * (all three install from npm with nothing downloaded; `@tensorflow/tfjs-node` fetches a native
 * binary at install and cannot be used here). The CPU backend computes in Float32Arrays with plain
 * JavaScript arithmetic, so the same inputs give the same bits on every machine running the same
 * code: what lets a re-run of a training task be compared with the original (docs/training.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';

let ready: Promise<void> | undefined;

/**
 * Selects the CPU backend once per process; every training entry point awaits it.
 *
 * @example
 * await tfReady();
 */
export function tfReady(): Promise<void> {
  ready ??= (async () => {
    // PROD: no debug checks, and no console banner suggesting the native backend.
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
    await tf.ready();
  })();
  return ready;
}

export { tf, tfl };
