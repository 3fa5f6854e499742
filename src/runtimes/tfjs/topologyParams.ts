/**
 * Counts a training topology's parameters from its JSON alone, before TF.js builds it.
 *
 * Building a model allocates and initialises every weight: a 600-byte topology of two wide Dense
 * layers asks for 800 M parameters and blocked a coordinator for 70 s (3.2 GB) before the
 * parameter check could refuse it. So intake infers each layer's output shape and weight count
 * from its config (the layer classes of TRAINABLE_LAYER_CLASSES only) and refuses before building.
 * A topology whose shapes cannot be inferred is refused too: a model that cannot be bounded is not
 * built.
 *
 * The count must be of the model TF.js will build, so it reads the topology as TF.js does: keys
 * and string values go through {@link kerasToTs} (TF.js's `convertPythonicToTs`: `kernel_size`
 * and `kernelSize` are one key, the later wins), and every construct that TF.js reads differently
 * from a plain chain of layers is refused rather than modelled:
 * - a functional layer called more than once (several inbound nodes: TF.js runs it once per node,
 *   a 1,000-node layer ran 1,000 convolutions counted as one), on several tensors, or on a node
 *   index other than 0;
 * - an input shape (`batch_input_shape`, `input_shape`, `batch_size`, `input_dim`) on any layer
 *   but a Sequential's first or a functional InputLayer (TF.js Sequential ignores it on later
 *   layers: a Dense declaring a 1-wide input was counted as 2,410 parameters and built as 800 M);
 * - initializers other than the cheap random/constant ones (`Orthogonal` runs a QR decomposition:
 *   12 s for a 500×500 kernel on the coordinator's thread);
 * - layer names that are not plain identifiers or that repeat (TF.js keys its graph by name).
 */

type Shape = number[];
type Json = Record<string, unknown>;
type LayerJson = { className?: unknown; name?: unknown; config?: Json; inboundNodes?: unknown };

/** Most values one sample may produce at any layer (keeps a worker's activations bounded). */
export const MAX_ACTIVATIONS_PER_SAMPLE = 4_000_000;

/** Initializers a layer may name: each draws or fills its values in one pass over the weight. */
const CHEAP_INITIALIZERS: ReadonlySet<string> = new Set([
  'Zeros',
  'Ones',
  'Constant',
  'RandomNormal',
  'RandomUniform',
  'TruncatedNormal',
  'GlorotNormal',
  'GlorotUniform',
  'HeNormal',
  'HeUniform',
  'LeCunNormal',
  'LeCunUniform',
  'VarianceScaling',
]);
/** Config keys that declare a layer's input (TF.js reads them on a model's first layer only). */
const INPUT_KEYS = ['batchInputShape', 'inputShape', 'batchSize', 'inputDim'] as const;
const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * `params`: trainable weights; `largestActivation`: most values one layer produces per sample;
 * `macs`: multiply-accumulates of one sample's forward pass (Dense and Conv2D; pooling counted
 * per window element) — what evaluating the model costs, bounded at intake (trainIntake.ts).
 */
export type TopologySize = { params: number; largestActivation: number; macs: number };

/**
 * A Keras/TF.js topology JSON as TF.js reads it (`convertPythonicToTs` of tfjs-layers 4.x):
 * snake_case keys and string values become camelCase (a later key wins over an earlier one that
 * converts to the same name), except `name` values and the layer names in inbound nodes and
 * input/output layer lists.
 *
 * @example kerasToTs({ class_name: 'Conv2D', config: { data_format: 'channels_last' } })
 * // { className: 'Conv2D', config: { dataFormat: 'channelsLast' } }
 */
export function kerasToTs(value: unknown, key?: string): unknown {
  if (value === null) return null;
  if (typeof value === 'string') return toCamelCase(value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value))
    return value.map((item, i) =>
      (key === 'inboundNodes' || key === 'outputLayers' || key === 'inputLayers') &&
      i === 0 &&
      typeof item === 'string'
        ? item
        : kerasToTs(item, key),
    );
  const out: Json = {};
  for (const k of Object.keys(value as Json)) {
    const v = (value as Json)[k];
    if (k === 'name' && typeof v === 'string') out[k] = v;
    else {
      const tsKey = toCamelCase(k);
      out[tsKey] = kerasToTs(v, tsKey);
    }
  }
  return out;
}

function toCamelCase(s: string): string {
  if (s.length <= 1 || !s.includes('_')) return s;
  return s.replace(/[_]+(\w|$)/g, (_m, p1: string) => p1.toUpperCase());
}

/**
 * Parameters, largest per-sample layer output and forward multiply-accumulates of a Sequential or
 * single-path functional topology, its layers in {@link kerasToTs} form (`config.layers`;
 * `inputLayers`/`outputLayers` from `config` for a functional model). Throws an Error (its message
 * says which layer) when a shape cannot be inferred or the topology is not a plain chain.
 *
 * @example
 * const ts = kerasToTs(json);
 * topologySize(ts.config.layers, ts.className, ts.config); // { params: 13610, … }
 */
export function topologySize(layers: LayerJson[], className: string, model: Json = {}): TopologySize {
  const sequential = className === 'Sequential';
  const outputs = new Map<string, Shape>();
  let previous: Shape | undefined;
  let params = 0;
  let largestActivation = 0;
  let macs = 0;
  for (const [i, layer] of layers.entries()) {
    const config = (layer.config ?? {}) as Json;
    const cls = String(layer.className);
    const name = layerName(layer, config, sequential, i);
    if (outputs.has(name)) throw new Error(`${name}: two layers have this name`);
    checkInitializers(config, name);
    const declaresInput = sequential ? i === 0 : cls === 'InputLayer';
    if (!declaresInput) {
      const key = INPUT_KEYS.find((k) => config[k] != null);
      if (key)
        throw new Error(
          `${name}: ${key} is only read on ${sequential ? 'the first layer' : 'an InputLayer'}`,
        );
    }
    if (sequential && i > 0 && cls === 'InputLayer')
      throw new Error(`${name}: an InputLayer must come first`);
    let input: Shape | undefined = previous;
    if (!sequential) input = cls === 'InputLayer' ? undefined : outputs.get(inboundOf(layer, name, outputs));
    if (declaresInput) input = declaredInput(config, name, cls);
    if (!input) throw new Error(`${name}: its input shape cannot be inferred`);
    const { shape, weights, perOutput = 0 } = layerOutput(cls, config, input, name);
    params += weights;
    macs += product(shape) * perOutput;
    largestActivation = Math.max(largestActivation, product(shape));
    outputs.set(name, shape);
    previous = shape;
  }
  if (!sequential) {
    endpoint(
      model.inputLayers,
      'inputLayers',
      (n) => layers.find((l) => l.name === n)?.className === 'InputLayer',
    );
    endpoint(model.outputLayers, 'outputLayers', (n) => outputs.has(n));
  }
  return { params, largestActivation, macs };
}

function layerName(layer: LayerJson, config: Json, sequential: boolean, i: number): string {
  const name = sequential ? config.name : layer.name;
  if (sequential && name === undefined) return `#${i}`;
  if (typeof name !== 'string' || !NAME.test(name) || name in {})
    throw new Error(
      `layer ${i}: name ${JSON.stringify(name)} is not a plain identifier (letters, digits, _ . -)`,
    );
  if (!sequential && config.name !== name)
    throw new Error(`${name}: config.name ${JSON.stringify(config.name)} differs from the layer's name`);
  return name;
}

/** The one layer a functional layer is called on: exactly one node of one tensor, node 0 of an earlier layer. */
function inboundOf(layer: LayerJson, name: string, outputs: Map<string, Shape>): string {
  const nodes = layer.inboundNodes;
  if (!Array.isArray(nodes) || nodes.length !== 1)
    throw new Error(
      `${name}: a layer must be called exactly once (${Array.isArray(nodes) ? nodes.length : 'no'} inbound nodes)`,
    );
  const node = nodes[0];
  if (!Array.isArray(node) || node.length !== 1)
    throw new Error(`${name}: a layer must be called on exactly one tensor`);
  const [from, nodeIndex, tensorIndex, kwargs, ...rest] = node[0] as unknown[];
  if (typeof from !== 'string' || !outputs.has(from))
    throw new Error(`${name}: its input ${JSON.stringify(from)} is not an earlier layer`);
  if (nodeIndex !== 0 || tensorIndex !== 0)
    throw new Error(`${name}: its input must be node 0, tensor 0 of ${from}`);
  if (rest.length > 0 || (kwargs != null && (typeof kwargs !== 'object' || Object.keys(kwargs).length > 0)))
    throw new Error(`${name}: call arguments are not supported`);
  return from;
}

function endpoint(list: unknown, what: string, ok: (name: string) => boolean): void {
  const refs = Array.isArray(list) ? list : [];
  const [name, nodeIndex, tensorIndex] = (refs[0] ?? []) as unknown[];
  if (refs.length !== 1 || typeof name !== 'string' || nodeIndex !== 0 || tensorIndex !== 0 || !ok(name))
    throw new Error(`${what} must name exactly one layer of the model, node 0, tensor 0`);
}

function declaredInput(config: Json, name: string, cls: string): Shape | undefined {
  if (config.inputDim != null)
    throw new Error(`${name}: input_dim is not supported (give batch_input_shape)`);
  if (config.batchInputShape != null) {
    if (config.inputShape != null || (cls === 'InputLayer' && config.batchSize != null))
      throw new Error(`${name}: give batch_input_shape or input_shape, not both`);
    if (!Array.isArray(config.batchInputShape)) throw new Error(`${name}: batch_input_shape is not a list`);
    return dims(config.batchInputShape.slice(1), `${name}: batch_input_shape`);
  }
  if (config.inputShape != null) return dims(config.inputShape, `${name}: input_shape`);
  return undefined;
}

function checkInitializers(config: Json, name: string): void {
  for (const [key, v] of Object.entries(config)) {
    if (!key.endsWith('Initializer') || v == null) continue;
    const cls = typeof v === 'string' ? (INITIALIZER_ALIASES[v] ?? v) : (v as Json).className;
    if (typeof cls !== 'string' || !CHEAP_INITIALIZERS.has(cls))
      throw new Error(
        `${name}: ${key} ${JSON.stringify(cls)} is not allowed (use ${[...CHEAP_INITIALIZERS].join(', ')})`,
      );
  }
}

/** TF.js's short initializer names (`INITIALIZER_IDENTIFIER_REGISTRY_SYMBOL_MAP`). */
const INITIALIZER_ALIASES: Record<string, string> = Object.fromEntries(
  [...CHEAP_INITIALIZERS, 'Identity', 'Orthogonal'].map((c) => [c[0]?.toLowerCase() + c.slice(1), c]),
);

function layerOutput(
  cls: string,
  c: Json,
  input: Shape,
  name: string,
): { shape: Shape; weights: number; perOutput?: number } {
  const bias = c.useBias === false ? 0 : 1;
  switch (cls) {
    case 'InputLayer':
    case 'Activation':
      return { shape: input, weights: 0 };
    case 'Flatten':
      return { shape: [product(input)], weights: 0 };
    case 'Reshape': {
      const shape = dims(c.targetShape, `${name}: target_shape`);
      if (product(shape) !== product(input))
        throw new Error(`${name}: target_shape [${shape.join(',')}] does not hold [${input.join(',')}]`);
      return { shape, weights: 0 };
    }
    case 'Dense': {
      const units = positive(c.units, `${name}: units`);
      const last = input.at(-1) ?? 0;
      return {
        shape: [...input.slice(0, -1), units],
        weights: last * units + bias * units,
        perOutput: last,
      };
    }
    case 'Conv2D': {
      const [h, w, ch] = spatial(input, c, name);
      const filters = positive(c.filters, `${name}: filters`);
      const [kh, kw] = pair(c.kernelSize, `${name}: kernel_size`);
      const [sh, sw] = pair(c.strides ?? 1, `${name}: strides`);
      const [dh, dw] = pair(c.dilationRate ?? 1, `${name}: dilation_rate`);
      const oh = outSize(h, (kh - 1) * dh + 1, sh, padding(c, name));
      const ow = outSize(w, (kw - 1) * dw + 1, sw, padding(c, name));
      return {
        shape: channels(oh, ow, filters, c),
        weights: kh * kw * ch * filters + bias * filters,
        perOutput: kh * kw * ch,
      };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [h, w, ch] = spatial(input, c, name);
      const [ph, pw] = pair(c.poolSize ?? 2, `${name}: pool_size`);
      const [sh, sw] = pair(c.strides ?? [ph, pw], `${name}: strides`);
      return {
        shape: channels(outSize(h, ph, sh, padding(c, name)), outSize(w, pw, sw, padding(c, name)), ch, c),
        weights: 0,
        perOutput: ph * pw,
      };
    }
    default:
      throw new Error(`${name}: layer class ${cls} has no known shape`);
  }
}

function padding(c: Json, name: string): 'same' | 'valid' {
  const p = c.padding ?? 'valid';
  if (p !== 'same' && p !== 'valid')
    throw new Error(`${name}: padding ${JSON.stringify(p)} is not valid or same`);
  return p;
}

/** Height, width and channels of a rank-3 input in the layer's data format. */
function spatial(input: Shape, c: Json, name: string): [number, number, number] {
  if (input.length !== 3) throw new Error(`${name}: expects a rank-3 input, got [${input.join(',')}]`);
  const format = c.dataFormat ?? 'channelsLast';
  if (format !== 'channelsLast' && format !== 'channelsFirst')
    throw new Error(`${name}: data_format ${JSON.stringify(format)} is not channels_last or channels_first`);
  const [a, b, d] = input as [number, number, number];
  return format === 'channelsFirst' ? [b, d, a] : [a, b, d];
}

function channels(h: number, w: number, ch: number, c: Json): Shape {
  return c.dataFormat === 'channelsFirst' ? [ch, h, w] : [h, w, ch];
}

function outSize(n: number, window: number, stride: number, pad: 'same' | 'valid'): number {
  const out = pad === 'same' ? Math.ceil(n / stride) : Math.ceil((n - window + 1) / stride);
  if (out < 1) throw new Error(`a window of ${window} does not fit an input of ${n}`);
  return out;
}

function pair(v: unknown, what: string): [number, number] {
  if (Array.isArray(v) && v.length !== 2) throw new Error(`${what} must be one size or two`);
  const [a, b] = Array.isArray(v) ? v : [v, v];
  return [positive(a, what), positive(b, what)];
}

function dims(v: unknown, what: string): Shape {
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${what} is not a list of sizes`);
  return v.map((d) => positive(d, what));
}

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new Error(`${what} must be a positive integer (got ${JSON.stringify(v)})`);
  return v;
}

function product(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}
