import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildModel } from './layersModel.ts';
import { mnistCnnTopology, mnistTopology } from './mnistExample.ts';
import { tf, tfl, tfReady } from './tf.ts';
import { kerasToTs, topologySize } from './topologyParams.ts';

const sizeOf = (json: string) => {
  const t = kerasToTs(JSON.parse(json)) as { className: string; config: { layers: never[] } };
  return topologySize(t.config.layers, t.className, t.config);
};

test('the parameter count read from a topology equals what TF.js builds', async () => {
  await tfReady();
  const functional = (() => {
    const input = tfl.input({ shape: [12, 10, 3] });
    const conv = tfl.layers
      .conv2d({ filters: 5, kernelSize: [3, 2], strides: [2, 1], padding: 'same', useBias: false })
      .apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers.averagePooling2d({ poolSize: 3, strides: 1 }).apply(conv) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten().apply(pooled) as tfl.SymbolicTensor;
    const shaped = tfl.layers.reshape({ targetShape: [8, 20] }).apply(flat) as tfl.SymbolicTensor;
    const dense = tfl.layers.dense({ units: 7, activation: 'relu' }).apply(shaped) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: dense });
    const json = JSON.stringify(m.toJSON(null, false));
    const params = m.countParams();
    m.dispose();
    return { json, params };
  })();
  for (const json of [await mnistTopology(64), await mnistCnnTopology(8), functional.json]) {
    const model = await buildModel(json);
    assert.equal(sizeOf(json).params, model.countParams(), json.slice(0, 80));
    model.dispose();
  }
  assert.equal(sizeOf(functional.json).params, functional.params);
});

test('an oversized topology is refused before TF.js allocates a single weight', async () => {
  await tfReady();
  const wide = JSON.parse(await mnistTopology(8));
  // 784 → 20,000 → 20,000: 415,920,010 parameters in a topology of a few hundred bytes.
  wide.config.layers[1].config.units = 20_000;
  wide.config.layers.splice(2, 0, { class_name: 'Dense', config: { units: 20_000, name: 'wide2' } });
  const tensorsBefore = tf.memory().numTensors;
  await assert.rejects(buildModel(JSON.stringify(wide)), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'PLX_TRAIN_MODEL_INVALID');
    assert.match(err.message, /415920010 parameters/);
    return true;
  });
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no weight was allocated');
  // A layer whose shape cannot be inferred is refused too, not built to find out.
  const odd = JSON.parse(await mnistTopology(8));
  odd.config.layers[1].config.units = 'many';
  await assert.rejects(buildModel(JSON.stringify(odd)), { code: 'PLX_TRAIN_MODEL_INVALID' });
  // Huge activations with few weights (a 1-filter convolution over a vast input) are bounded as well.
  const vast = JSON.parse(await mnistCnnTopology(1));
  Object.assign(vast.config.layers[0].config, { batch_input_shape: [null, 3000, 3000, 1], strides: [1, 1] });
  Object.assign(vast.config.layers[1].config, { pool_size: [100, 100], strides: [100, 100] });
  assert.ok(sizeOf(JSON.stringify(vast)).params < 10_000, 'sizeOf(JSON.stringify(vast)).params < 10_000');
  await assert.rejects(buildModel(JSON.stringify(vast)), /values per sample/);
});
