/**
 * TF.js Layers models as training jobs carry them: a topology (the JSON of `model.toJSON()`) and
 * weights as a tensor set named `<layer name>/<index>`. Layer names come from the topology, so the
 * names are the same in every process (TF.js's own variable names get a process-wide counter).
 *
 * Only layers whose forward pass is deterministic and stateless in training are accepted: no
 * dropout (TF.js draws its mask unseeded, so a re-run could not be compared) and no batch
 * normalisation (its moving statistics are state outside the trainable weights).
 */
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Tensor } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { tf, tfl, tfReady } from './tf.ts';
import { kerasToTs, MAX_ACTIVATIONS_PER_SAMPLE, type TopologySize, topologySize } from './topologyParams.ts';

/** Layer classes a training job may use. */
export const TRAINABLE_LAYER_CLASSES: ReadonlySet<string> = new Set([
  'InputLayer',
  'Dense',
  'Conv2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'Flatten',
  'Reshape',
  'Activation',
]);
/** Most trainable parameters a job's model may have (keeps one task's memory and bytes bounded). */
export const MAX_TRAINABLE_PARAMS = 5_000_000;
/** Largest topology JSON accepted. */
export const MAX_TOPOLOGY_BYTES = 256 * 1024;

type TopologyJson = { class_name?: unknown; config?: { layers?: unknown } };

/**
 * Parses and builds a topology: PLX_TRAIN_MODEL_INVALID when it is not a Sequential/Model JSON,
 * uses a layer outside {@link TRAINABLE_LAYER_CLASSES}, or is too large.
 *
 * @example
 * const model = await buildModel(readFileSync('model.json', 'utf8'));
 */
export async function buildModel(topology: string | Uint8Array): Promise<tfl.LayersModel> {
  await tfReady();
  const { json, size } = checkTopology(topology);
  let model: tfl.LayersModel;
  try {
    // Wrapped, so that TF.js reads this object as the topology (not a `modelTopology` inside it).
    model = await tfl.models.modelFromJSON({ modelTopology: json } as never);
  } catch (err) {
    throw invalid(`TF.js cannot build the topology: ${(err as Error).message.slice(0, 300)}`);
  }
  // The count above decided what may be allocated; what TF.js built must be exactly that model.
  const built = builtSize(model);
  if (built.params !== size.params || built.macs !== size.macs) {
    model.dispose();
    throw invalid(
      `TF.js built ${built.params} parameters and ${built.macs} multiply-accumulates per sample; the topology counts ${size.params} and ${size.macs}`,
    );
  }
  return model;
}

/** Parameters and forward multiply-accumulates per sample of a built model, from its layers' shapes. */
export function builtSize(model: tfl.LayersModel): { params: number; macs: number } {
  let macs = 0;
  for (const layer of model.layers) {
    if (layer.inboundNodes.length > 1) return { params: model.countParams(), macs: Number.NaN };
    const outputs = (layer.outputShape as (number | null)[]).slice(1) as number[];
    const perSample = outputs.reduce((a, b) => a * b, 1);
    const kernel = (layer.weights[0]?.shape ?? []) as number[];
    const cls = layer.getClassName();
    if (cls === 'Dense') macs += perSample * (kernel[0] ?? 0);
    else if (cls === 'Conv2D') macs += perSample * kernel.slice(0, 3).reduce((a, b) => a * b, 1);
    else if (cls === 'MaxPooling2D' || cls === 'AveragePooling2D')
      macs += perSample * (layer.getConfig().poolSize as number[]).reduce((a, b) => a * b, 1);
  }
  return { params: model.countParams(), macs };
}

/**
 * Parses a topology and bounds it without building it (PLX_TRAIN_MODEL_INVALID as buildModel):
 * its JSON and size (parameters, largest activation, forward multiply-accumulates per sample).
 *
 * @example checkTopology(readFileSync('model.json', 'utf8')).size.macs
 */
export function checkTopology(topology: string | Uint8Array): { json: TopologyJson; size: TopologySize } {
  const text = typeof topology === 'string' ? topology : Buffer.from(topology).toString('utf8');
  if (Buffer.byteLength(text) > MAX_TOPOLOGY_BYTES)
    throw invalid(`topology is over ${MAX_TOPOLOGY_BYTES} bytes`);
  let json: TopologyJson;
  try {
    json = JSON.parse(text) as TopologyJson;
  } catch {
    throw invalid('topology is not JSON');
  }
  // `model.toJSON()` may wrap the topology: accept both shapes.
  if (json && typeof json === 'object' && 'modelTopology' in json)
    json = (json as { modelTopology: TopologyJson }).modelTopology;
  // TF.js builds `model_config` instead of the topology around it when it is there.
  if (!json || typeof json !== 'object' || 'model_config' in json)
    throw invalid('topology is not a TF.js Layers topology object (a model_config inside it is not read)');
  // Read as TF.js reads it (snake_case and camelCase keys are one key): see topologyParams.ts.
  let ts: { className?: unknown; config?: { layers?: unknown } & Record<string, unknown> };
  try {
    ts = kerasToTs(json) as typeof ts;
  } catch {
    throw invalid('topology nests too deeply'); // the stack ran out (TF.js's own reading would too)
  }
  if (ts.className !== 'Sequential' && ts.className !== 'Model' && ts.className !== 'Functional')
    throw invalid(`topology class ${JSON.stringify(ts.className)} is not Sequential, Model or Functional`);
  const layers = ts.config?.layers;
  if (!Array.isArray(layers) || layers.length === 0 || layers.length > 64)
    throw invalid('topology has no config.layers (1–64 layers)');
  for (const l of layers as { className?: unknown }[]) {
    if (typeof l?.className !== 'string' || !TRAINABLE_LAYER_CLASSES.has(l.className))
      throw invalid(`layer class ${JSON.stringify(l?.className)} is not allowed in training`, {
        allowed: [...TRAINABLE_LAYER_CLASSES],
      });
  }
  // Bounded before it is built: building allocates every weight (see topologyParams.ts).
  let size: TopologySize;
  try {
    size = topologySize(layers as never[], ts.className, ts.config);
  } catch (err) {
    throw invalid(
      `the topology cannot be counted before it is built: ${(err as Error).message.slice(0, 300)}`,
    );
  }
  if (size.params > MAX_TRAINABLE_PARAMS)
    throw invalid(`model has ${size.params} parameters; at most ${MAX_TRAINABLE_PARAMS}`);
  if (size.largestActivation > MAX_ACTIVATIONS_PER_SAMPLE)
    throw invalid(
      `a layer produces ${size.largestActivation} values per sample; at most ${MAX_ACTIVATIONS_PER_SAMPLE}`,
    );
  return { json, size };
}

function invalid(message: string, details: Record<string, unknown> = {}): PlexusError {
  return new PlexusError('PLX_TRAIN_MODEL_INVALID', message, { details });
}

/** The weights of a model, in order, with their stable names. */
export function namedWeights(model: tfl.LayersModel): { name: string; variable: tfl.LayerVariable }[] {
  return model.layers.flatMap((layer) =>
    layer.trainableWeights.map((variable, i) => ({ name: `${layer.name}/${i}`, variable })),
  );
}

/**
 * The model's current weights as a tensor set (float32).
 *
 * @example
 * const weights = readWeights(model); // { 'dense/0': {dtype:'float32', shape:[784,64], …}, … }
 */
export function readWeights(model: tfl.LayersModel): TensorSet {
  const out: TensorSet = {};
  for (const { name, variable } of namedWeights(model)) {
    const data = variable.read().dataSync() as Float32Array;
    out[name] = { dtype: 'float32', shape: [...variable.shape] as number[], data: Float32Array.from(data) };
  }
  return out;
}

/**
 * Sets every weight from a tensor set: PLX_TRAIN_WEIGHTS_MISMATCH unless the names, dtypes and
 * shapes are exactly the model's.
 *
 * @example
 * writeWeights(model, decodeSafetensors(bytes));
 */
export function writeWeights(model: tfl.LayersModel, weights: TensorSet): void {
  const named = namedWeights(model);
  const expected = new Set(named.map((n) => n.name));
  const extra = Object.keys(weights).filter((k) => !expected.has(k));
  if (extra.length > 0)
    throw new PlexusError(
      'PLX_TRAIN_WEIGHTS_MISMATCH',
      `weights ${extra.slice(0, 5).join(', ')} are not in the model`,
    );
  for (const { name, variable } of named) {
    const t = weights[name];
    const shape = variable.shape as number[];
    if (t?.dtype !== 'float32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new PlexusError(
        'PLX_TRAIN_WEIGHTS_MISMATCH',
        `weight ${name}: expected float32 [${shape.join(',')}], got ${t ? `${t.dtype} [${t.shape.join(',')}]` : 'nothing'}`,
      );
    const value = tf.tensor(t.data as Float32Array, shape, 'float32');
    variable.write(value);
    value.dispose();
  }
}

/**
 * Fresh weights for a topology, from Glorot-uniform draws seeded by `seed` (biases zero), so an
 * initial model is reproducible without shipping TF.js's own unseeded initialisation.
 *
 * @example
 * const init = initialWeights(model, 'mnist-1');
 */
export function initialWeights(model: tfl.LayersModel, seed: number): TensorSet {
  const out: TensorSet = {};
  let s = seed >>> 0 || 1;
  const next = () => {
    // mulberry32: small, fast, good enough for initial weights.
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (const { name, variable } of namedWeights(model)) {
    const shape = [...variable.shape] as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (shape.length > 1) {
      // Glorot uniform: fan-in and fan-out over the last two axes times the receptive field.
      const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const fanIn = (shape.at(-2) as number) * receptive;
      const fanOut = (shape.at(-1) as number) * receptive;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) data[i] = (next() * 2 - 1) * limit;
    }
    out[name] = { dtype: 'float32', shape, data };
  }
  return out;
}

/** A shard decoded: inputs `x` as float32 and integer labels `y`. */
export type Shard = { x: Float32Array; xShape: number[]; y: Int32Array; n: number };

/**
 * Checks and converts a shard's tensors (`x` float32 [n, …], `y` integer or float labels [n]):
 * PLX_TRAIN_SHARD_INVALID otherwise.
 *
 * @example
 * const shard = readShard(decodeSafetensors(bytes));
 */
export function readShard(tensors: TensorSet): Shard {
  const x = tensors.x;
  const y = tensors.y;
  const bad = (m: string) => new PlexusError('PLX_TRAIN_SHARD_INVALID', m);
  if (x?.dtype !== 'float32' || x.shape.length < 2) throw bad('shard needs x: float32 [n, …]');
  if (y?.shape.length !== 1 || y.shape[0] !== x.shape[0]) throw bad('shard needs y: [n] labels');
  if (!['int32', 'int64', 'uint8', 'float32', 'int8', 'uint16', 'int16'].includes(y.dtype))
    throw bad(`labels of dtype ${y.dtype} are not supported`);
  const n = x.shape[0] as number;
  if (n === 0) throw bad('shard is empty');
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Number(y.data[i] as number | bigint);
  return { x: x.data as Float32Array, xShape: x.shape, y: labels, n };
}

/** Encodes a shard back into tensors (for tests, the CLI and the MNIST example). */
export function shardTensors(x: Float32Array, xShape: number[], y: Int32Array): Record<string, Tensor> {
  return {
    x: { dtype: 'float32', shape: xShape, data: x },
    y: { dtype: 'int32', shape: [y.length], data: y },
  };
}
