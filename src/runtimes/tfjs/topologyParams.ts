/**
 * Counts a training topology's parameters from its JSON alone, before TF.js builds it.
 *
 * Building a model allocates and initialises every weight: a 600-byte topology of two wide Dense
 * layers asks for 800 M parameters and blocked a coordinator for 70 s (3.2 GB) before the
 * parameter check could refuse it. So intake infers each layer's output shape and weight count
 * from its config (the layer classes of TRAINABLE_LAYER_CLASSES only) and refuses before building.
 * A topology whose shapes cannot be inferred is refused too: a model that cannot be bounded is not
 * built.
 */

type Shape = number[];
type LayerJson = {
  class_name?: unknown;
  name?: unknown;
  config?: Record<string, unknown>;
  inbound_nodes?: unknown;
};

/** Most values one sample may produce at any layer (keeps a worker's activations bounded). */
export const MAX_ACTIVATIONS_PER_SAMPLE = 4_000_000;

/**
 * `params`: trainable weights; `largestActivation`: most values one layer produces per sample;
 * `macs`: multiply-accumulates of one sample's forward pass (Dense and Conv2D; pooling counted
 * per window element) — what evaluating the model costs, bounded at intake (trainIntake.ts).
 */
export type TopologySize = { params: number; largestActivation: number; macs: number };

/**
 * Parameters and the largest per-sample layer output of a Sequential or single-path Model topology.
 * Throws an Error (its message says which layer) when a shape cannot be inferred.
 *
 * @example
 * topologySize(json.config.layers, 'Sequential'); // { params: 13610, largestActivation: 5408 }
 */
export function topologySize(layers: LayerJson[], className: string): TopologySize {
  const outputs = new Map<string, Shape>();
  let previous: Shape | undefined;
  let params = 0;
  let largestActivation = 0;
  let macs = 0;
  for (const [i, layer] of layers.entries()) {
    const config = layer.config ?? {};
    const name = String(layer.name ?? config.name ?? i);
    let input: Shape | undefined = previous;
    if (className !== 'Sequential') {
      const inbound = layer.inbound_nodes as unknown[][][] | undefined;
      const from = inbound?.[0]?.[0]?.[0];
      input = typeof from === 'string' ? outputs.get(from) : undefined;
    }
    const declared = config.batch_input_shape ?? config.batchInputShape;
    if (Array.isArray(declared)) input = dims(declared.slice(1), `${name}: batch_input_shape`);
    if (!input) throw new Error(`${name}: its input shape cannot be inferred`);
    const { shape, weights, perOutput = 0 } = layerOutput(String(layer.class_name), config, input, name);
    params += weights;
    macs += product(shape) * perOutput;
    largestActivation = Math.max(largestActivation, product(shape));
    outputs.set(name, shape);
    previous = shape;
  }
  return { params, largestActivation, macs };
}

function layerOutput(
  cls: string,
  c: Record<string, unknown>,
  input: Shape,
  name: string,
): { shape: Shape; weights: number; perOutput?: number } {
  const bias = c.use_bias === false ? 0 : 1;
  switch (cls) {
    case 'InputLayer':
    case 'Activation':
      return { shape: input, weights: 0 };
    case 'Flatten':
      return { shape: [product(input)], weights: 0 };
    case 'Reshape':
      return { shape: dims(c.target_shape, `${name}: target_shape`), weights: 0 };
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
      const [kh, kw] = pair(c.kernel_size, `${name}: kernel_size`);
      const [sh, sw] = pair(c.strides ?? 1, `${name}: strides`);
      const [dh, dw] = pair(c.dilation_rate ?? 1, `${name}: dilation_rate`);
      const oh = outSize(h, (kh - 1) * dh + 1, sh, c.padding);
      const ow = outSize(w, (kw - 1) * dw + 1, sw, c.padding);
      return {
        shape: channels(oh, ow, filters, c),
        weights: kh * kw * ch * filters + bias * filters,
        perOutput: kh * kw * ch,
      };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [h, w, ch] = spatial(input, c, name);
      const [ph, pw] = pair(c.pool_size ?? 2, `${name}: pool_size`);
      const [sh, sw] = pair(c.strides ?? [ph, pw], `${name}: strides`);
      return {
        shape: channels(outSize(h, ph, sh, c.padding), outSize(w, pw, sw, c.padding), ch, c),
        weights: 0,
        perOutput: ph * pw,
      };
    }
    default:
      throw new Error(`${name}: layer class ${cls} has no known shape`);
  }
}

/** Height, width and channels of a rank-3 input in the layer's data format. */
function spatial(input: Shape, c: Record<string, unknown>, name: string): [number, number, number] {
  if (input.length !== 3) throw new Error(`${name}: expects a rank-3 input, got [${input.join(',')}]`);
  const [a, b, d] = input as [number, number, number];
  return c.data_format === 'channels_first' ? [b, d, a] : [a, b, d];
}

function channels(h: number, w: number, ch: number, c: Record<string, unknown>): Shape {
  return c.data_format === 'channels_first' ? [ch, h, w] : [h, w, ch];
}

function outSize(n: number, window: number, stride: number, padding: unknown): number {
  const out = padding === 'same' ? Math.ceil(n / stride) : Math.ceil((n - window + 1) / stride);
  if (out < 1) throw new Error(`a window of ${window} does not fit an input of ${n}`);
  return out;
}

function pair(v: unknown, what: string): [number, number] {
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
