/**
 * The worker's half of a DiLoCo round: from the global weights, H steps of AdamW on mini-batches
 * of the worker's shard in a seeded order, then the pseudo-gradient Δ = θ_global − θ_local.
 *
 * Reproducible by construction: the batch order comes from the task's seed (xoshiro128** of
 * src/protocol/rng.ts), the model has no random layers (layersModel.ts), gradients come from the
 * TF.js CPU backend and AdamW is applied here in plain float32 arithmetic, so a re-run on another
 * provider gives the same bits (or, on another JavaScript engine, values within the verification
 * tolerance).
 */
import { Rng } from '../../protocol/rng.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { AdamWConfig } from '../../protocol/training.ts';
import { namedWeights, readWeights, type Shard, writeWeights } from './layersModel.ts';
import { tf, type tfl } from './tf.ts';

/** The tensor holding a task's mean training loss in its output (besides the pseudo-gradient). */
export const LOSS_TENSOR = 'train/loss';

export type InnerLoopResult = {
  /** Δ = θ_global − θ_local, named like the weights. */
  pseudoGradient: TensorSet;
  /** Mean training loss over the H steps. */
  loss: number;
  /** Milliseconds spent in the H steps (the compute the utilisation figure counts). */
  trainMs: number;
};

/**
 * A seeded order of `n` rows, reshuffled each time it runs out: the indices of batch `step`.
 */
export function batchOrder(seed: string, n: number, batchSize: number, steps: number): Int32Array[] {
  const rng = new Rng(seed);
  const perm = new Int32Array(n);
  let pos = n;
  const batches: Int32Array[] = [];
  for (let s = 0; s < steps; s++) {
    const b = new Int32Array(Math.min(batchSize, n));
    for (let i = 0; i < b.length; i++) {
      if (pos >= n) {
        for (let k = 0; k < n; k++) perm[k] = k;
        for (let k = n - 1; k > 0; k--) {
          const j = rng.int(k + 1);
          const t = perm[k] as number;
          perm[k] = perm[j] as number;
          perm[j] = t;
        }
        pos = 0;
      }
      b[i] = perm[pos++] as number;
    }
    batches.push(b);
  }
  return batches;
}

/** Cross-entropy of a model's output against integer labels (softmax output or logits). */
function lossOf(model: tfl.LayersModel, xb: tf.Tensor, yb: tf.Tensor, classes: number): tf.Scalar {
  const out = model.apply(xb, { training: true }) as tf.Tensor;
  const onehot = tf.oneHot(yb as tf.Tensor1D, classes);
  if (outputIsSoftmax(model)) {
    const p = tf.clipByValue(out, 1e-7, 1);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.log(p)), -1))) as tf.Scalar;
  }
  return tf.losses.softmaxCrossEntropy(onehot, out) as tf.Scalar;
}

function outputIsSoftmax(model: tfl.LayersModel): boolean {
  const last = model.layers.at(-1);
  const activation = (last?.getConfig() as { activation?: unknown } | undefined)?.activation;
  return activation === 'softmax';
}

/** Rows `idx` of a shard as a batch of inputs and labels. */
function gather(shard: Shard, idx: Int32Array): { xb: tf.Tensor; yb: tf.Tensor } {
  const row = shard.x.length / shard.n;
  const x = new Float32Array(idx.length * row);
  const y = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i] as number;
    x.set(shard.x.subarray(r * row, (r + 1) * row), i * row);
    y[i] = shard.y[r] as number;
  }
  return { xb: tf.tensor(x, [idx.length, ...shard.xShape.slice(1)], 'float32'), yb: tf.tensor1d(y, 'int32') };
}

/**
 * Runs one worker's round on `model` (its weights are overwritten): sets `globalWeights`, trains
 * H steps with AdamW and returns the pseudo-gradient and the mean loss.
 *
 * @example
 * const { pseudoGradient, loss } = runInnerLoop(model, weights, shard, { seed, innerSteps: 20, batchSize: 32, innerOptimizer });
 */
export function runInnerLoop(
  model: tfl.LayersModel,
  globalWeights: TensorSet,
  shard: Shard,
  task: { seed: string; innerSteps: number; batchSize: number; innerOptimizer: AdamWConfig },
): InnerLoopResult {
  const started = performance.now();
  writeWeights(model, globalWeights);
  const classes = (model.outputs[0]?.shape.at(-1) as number | undefined) ?? 0;
  for (let i = 0; i < shard.n; i++) {
    const label = shard.y[i] as number;
    if (label < 0 || label >= classes)
      throw new Error(`label ${label} is outside the model's ${classes} classes`);
  }
  const weights = namedWeights(model);
  const params = weights.map((w) => Float32Array.from(w.variable.read().dataSync() as Float32Array));
  const m = params.map((p) => new Float32Array(p.length));
  const v = params.map((p) => new Float32Array(p.length));
  const { lr, beta1, beta2, epsilon, weightDecay } = task.innerOptimizer;
  const vars = weights.map((w) => w.variable.read() as tf.Variable);
  let lossSum = 0;
  const batches = batchOrder(task.seed, shard.n, task.batchSize, task.innerSteps);
  for (let step = 1; step <= batches.length; step++) {
    const { xb, yb } = gather(shard, batches[step - 1] as Int32Array);
    const { value, grads } = tf.variableGrads(() => lossOf(model, xb, yb, classes), vars);
    lossSum += (value.dataSync() as Float32Array)[0] as number;
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    weights.forEach((w, k) => {
      const g = grads[(vars[k] as tf.Variable).name]?.dataSync() as Float32Array;
      const p = params[k] as Float32Array;
      const mk = m[k] as Float32Array;
      const vk = v[k] as Float32Array;
      // AdamW: decoupled weight decay (Loshchilov & Hutter 2019), applied with the learning rate.
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] as number;
        mk[i] = beta1 * (mk[i] as number) + (1 - beta1) * gi;
        vk[i] = beta2 * (vk[i] as number) + (1 - beta2) * gi * gi;
        const mhat = (mk[i] as number) / c1;
        const vhat = (vk[i] as number) / c2;
        p[i] = (p[i] as number) - lr * (mhat / (Math.sqrt(vhat) + epsilon) + weightDecay * (p[i] as number));
      }
      const next = tf.tensor(p, w.variable.shape as number[], 'float32');
      w.variable.write(next);
      next.dispose();
    });
    tf.dispose([xb, yb, value, ...Object.values(grads)]);
  }
  const local = readWeights(model);
  const pseudoGradient: TensorSet = {};
  for (const [name, t] of Object.entries(globalWeights)) {
    const g = t.data as Float32Array;
    const l = (local[name] as TensorSet[string]).data as Float32Array;
    const d = new Float32Array(g.length);
    for (let i = 0; i < d.length; i++) d[i] = (g[i] as number) - (l[i] as number);
    pseudoGradient[name] = { dtype: 'float32', shape: [...t.shape], data: d };
  }
  return { pseudoGradient, loss: lossSum / batches.length, trainMs: performance.now() - started };
}

/**
 * Loss and accuracy of `weights` on a shard (the held-out evaluation after each round), in
 * batches of 512 rows.
 *
 * @example
 * const { accuracy } = evaluate(model, state.weights, validation);
 */
export function evaluate(
  model: tfl.LayersModel,
  weights: TensorSet,
  shard: Shard,
): { loss: number; accuracy: number } {
  writeWeights(model, weights);
  const classes = (model.outputs[0]?.shape.at(-1) as number | undefined) ?? 0;
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < shard.n; start += 512) {
    const idx = new Int32Array(Math.min(512, shard.n - start)).map((_, i) => start + i);
    const { xb, yb } = gather(shard, idx);
    const out = model.apply(xb, { training: false }) as tf.Tensor;
    const loss = tf.tidy(() => {
      const onehot = tf.oneHot(yb as tf.Tensor1D, classes);
      return outputIsSoftmax(model)
        ? tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.log(tf.clipByValue(out, 1e-7, 1))), -1)))
        : tf.losses.softmaxCrossEntropy(onehot, out);
    });
    const pred = tf.argMax(out, -1).dataSync();
    const labels = yb.dataSync();
    for (let i = 0; i < idx.length; i++) if (pred[i] === labels[i]) correct++;
    lossSum += ((loss.dataSync() as Float32Array)[0] as number) * idx.length;
    tf.dispose([xb, yb, out, loss]);
  }
  return { loss: lossSum / shard.n, accuracy: correct / shard.n };
}
