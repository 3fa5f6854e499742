// The intake count must be of the model TF.js builds (security review, 2026-12-07): topologies that
// TF.js reads differently from the counter are refused from their JSON, before any weight exists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildModel, builtSize, checkTopology } from './layersModel.ts';
import { mnistCnnTopology, mnistConvNetTopology, mnistTopology } from './mnistExample.ts';
import { tfl, tfReady } from './tf.ts';
import { kerasToTs, topologySize } from './topologyParams.ts';

const sizeOf = (json: string) => {
  const t = kerasToTs(JSON.parse(json)) as { className: string; config: { layers: never[] } };
  return topologySize(t.config.layers, t.className, t.config);
};

/** Refused by the JSON check alone (no build), with the stable code and a message matching `why`. */
function refused(topology: unknown, why: RegExp): void {
  assert.throws(
    () => checkTopology(JSON.stringify(topology)),
    (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'PLX_TRAIN_MODEL_INVALID');
      assert.match(err.message, why);
      return true;
    },
  );
}

/** A functional model whose convolution `c` is called `calls` times (the review's shared.mts). */
function sharedConv(calls: number, node = (k: number) => [['c', k - 1, 0, {}]]) {
  const convNodes: unknown[] = [[['in', 0, 0, {}]]];
  for (let k = 1; k < calls; k++) convNodes.push(node(k));
  return {
    class_name: 'Model',
    config: {
      name: 'm',
      layers: [
        {
          class_name: 'InputLayer',
          name: 'in',
          config: { name: 'in', batch_input_shape: [null, 16, 16, 8], dtype: 'float32' },
          inbound_nodes: [],
        },
        {
          class_name: 'Conv2D',
          name: 'c',
          config: { name: 'c', filters: 8, kernel_size: [3, 3], padding: 'same' },
          inbound_nodes: convNodes,
        },
        {
          class_name: 'Flatten',
          name: 'f',
          config: { name: 'f' },
          inbound_nodes: [[['c', calls - 1, 0, {}]]],
        },
        {
          class_name: 'Dense',
          name: 'd',
          config: { name: 'd', units: 10 },
          inbound_nodes: [[['f', 0, 0, {}]]],
        },
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [['d', 0, 0]],
    },
  };
}

test('a functional layer called more than once, or on another node or tensor, is refused', () => {
  // 300 calls of one convolution: the old count read the first call only (300× fewer MACs).
  refused(sharedConv(300), /called exactly once \(300 inbound nodes\)/);
  refused(sharedConv(2), /called exactly once/);
  // One call, but on node 1 of its input, or on two tensors (TF.js waits forever for a missing one).
  const onNode1 = sharedConv(1);
  onNode1.config.layers[2]!.inbound_nodes = [[['c', 1, 0, {}]]];
  refused(onNode1, /node 0, tensor 0/);
  const twoTensors = sharedConv(1);
  twoTensors.config.layers[2]!.inbound_nodes = [
    [
      ['c', 0, 0, {}],
      ['nowhere', 0, 0, {}],
    ],
  ];
  refused(twoTensors, /exactly one tensor/);
  const missing = sharedConv(1);
  missing.config.layers[2]!.inbound_nodes = [[['nowhere', 0, 0, {}]]];
  refused(missing, /not an earlier layer/);
  // A layer whose graph name differs from its config name (TF.js keys calls by both).
  const renamed = sharedConv(1);
  renamed.config.layers[3]!.name = 'd2';
  refused(renamed, /differs from the layer's name/);
  const proto = sharedConv(1);
  Object.assign(proto.config.layers[3]!, { name: 'constructor', config: { name: 'constructor', units: 10 } });
  refused(proto, /not a plain identifier/);
  // The same model called once is counted and built exactly.
  assert.equal(sizeOf(JSON.stringify(sharedConv(1))).macs, 16 * 16 * 8 * 9 * 8 + 2048 * 10);
});

test('an input shape on a later layer is refused: TF.js Sequential ignores it', () => {
  // The review's dense.mts: counted as 2,410 parameters, built as 800 M (3.2 GB, 70 s).
  const layers = (extra: Record<string, unknown>) => ({
    class_name: 'Sequential',
    config: {
      name: 's',
      layers: [
        { class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 1000, 1000, 4] } },
        { class_name: 'Dense', config: { name: 'd', units: 200, ...extra } },
        { class_name: 'Dense', config: { name: 'o', units: 10, activation: 'softmax' } },
      ],
    },
  });
  refused(layers({ batch_input_shape: [null, 1] }), /d: batchInputShape is only read on the first layer/);
  refused(layers({ batchInputShape: [null, 1] }), /batchInputShape is only read/);
  refused(layers({ input_shape: [1] }), /inputShape is only read/);
  refused(layers({ batch_size: 1 }), /batchSize is only read/);
  refused(layers({ input_dim: 1 }), /inputDim is only read/);
  // In a functional model only an InputLayer declares a shape.
  const functional = sharedConv(1);
  Object.assign(functional.config.layers[3]!.config, { batch_input_shape: [null, 1] });
  refused(functional, /d: batchInputShape is only read on an InputLayer/);
});

test('keys are read as TF.js reads them: a later camelCase key wins, model_config and nested topologies are refused', async () => {
  await tfReady();
  // kernel_size says 1×1, kernelSize (later, same key for TF.js) says 5×5: the count follows TF.js.
  const cnn = JSON.parse(await mnistCnnTopology(4));
  Object.assign(cnn.config.layers[0].config, { kernel_size: [1, 1], kernelSize: [5, 5] });
  const model = await buildModel(JSON.stringify(cnn));
  assert.equal(sizeOf(JSON.stringify(cnn)).params, model.countParams(), 'count follows the later key');
  model.dispose();
  // TF.js builds a `model_config` (or a `modelTopology` inside the topology) instead of the topology.
  const tiny = JSON.parse(await mnistTopology(8));
  const big = JSON.parse(await mnistTopology(600));
  refused({ ...tiny, model_config: big }, /model_config/);
  // A topology holding a `modelTopology` is built as itself (the old code built the inner one).
  const wrapped = await buildModel(JSON.stringify({ modelTopology: { ...tiny, modelTopology: big } }));
  assert.equal(wrapped.countParams(), 784 * 8 + 8 + 8 * 10 + 10);
  wrapped.dispose();
  refused({ ...tiny, class_name: 'Dense' }, /not Sequential, Model or Functional/);
  // 100,000 nested lists in 200 KB: refused with the code, not a stack overflow.
  const deep = JSON.stringify({ ...tiny, deep: 0 }).replace(
    '"deep":0',
    `"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}`,
  );
  assert.throws(() => checkTopology(deep), { code: 'PLX_TRAIN_MODEL_INVALID', message: /nests too deeply/ });
  // A reshape that TF.js would only refuse when it runs.
  const reshape = JSON.parse(await mnistTopology(8));
  reshape.config.layers.splice(1, 0, { class_name: 'Reshape', config: { name: 'r', target_shape: [7, 7] } });
  refused(reshape, /does not hold/);
});

test('an initializer that costs more than one pass over its weight is refused', async () => {
  const mlp = JSON.parse(await mnistTopology(8));
  // Orthogonal runs a QR decomposition on the coordinator's thread (12 s for a 500×500 kernel).
  for (const init of ['orthogonal', 'Orthogonal', { class_name: 'Orthogonal', config: {} }, 'identity']) {
    mlp.config.layers[1].config.kernel_initializer = init;
    refused(mlp, /kernelInitializer .* is not allowed/);
  }
  mlp.config.layers[1].config.kernel_initializer = 'glorot_uniform';
  mlp.config.layers[1].config.bias_initializer = { class_name: 'Zeros', config: {} };
  assert.equal(checkTopology(JSON.stringify(mlp)).size.params, 784 * 8 + 8 + 8 * 10 + 10);
});

test('the built model is measured again: parameters and MACs from its layers equal the count', async () => {
  await tfReady();
  for (const json of [await mnistCnnTopology(8), await mnistConvNetTopology(4, 8), await mnistTopology(16)]) {
    const model = await buildModel(json);
    const built = builtSize(model);
    const counted = sizeOf(json);
    assert.deepEqual(built, { params: counted.params, macs: counted.macs }, json.slice(0, 60));
    model.dispose();
  }
  // A layer called twice is not measured (NaN never equals a count), so buildModel would refuse it.
  const input = tfl.input({ shape: [4] });
  const shared = tfl.layers.dense({ units: 4 });
  const twice = shared.apply(shared.apply(input)) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: twice });
  assert.ok(Number.isNaN(builtSize(model).macs), 'a shared layer has no single MAC count');
  model.dispose();
});
