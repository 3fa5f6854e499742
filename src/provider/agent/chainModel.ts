/**
 * The capability proof's ONNX model, encoded in code (protobuf by hand, no download, no ONNX
 * toolchain): the whole chain C_0 = A, C_i = (C_{i−1}·B) mod p, i = 1..K, as a `Loop` of
 * MatMul + Mod, so that on the CUDA execution provider the matrices stay on the device for all K
 * products and only C_k (one byte per entry, uint8) comes back. The agent runs it on the CUDA EP
 * when it has a GPU, on the CPU one otherwise.
 *
 * Inputs: `A`, `B` int8 [n, n]; `K` int64 scalar (the chain length); `P` float [1] (the modulus).
 * Output: `C` uint8 [n, n], entries in [0, p). Inside the loop the entries are fmod remainders in
 * (−p, p); every partial sum stays below 250·8·n < 2^24, so float32 is exact; the last step maps
 * them to [0, p).
 */

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
/** A varint field. */
const num = (field: number, v: number): number[] => [...varint(field << 3), ...varint(v)];
/** A length-delimited field (bytes, string or embedded message). */
const bytes = (field: number, b: number[]): number[] => [
  ...varint((field << 3) | 2),
  ...varint(b.length),
  ...b,
];

/** TensorProto.DataType values used here. */
const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const INT64 = 7;
const BOOL = 9;

/** ValueInfoProto of a tensor; each dim is a symbolic name or a fixed size ([] is a scalar). */
function tensor(name: string, elemType: number, dims: (string | number)[]): number[] {
  const dim = (d: string | number) => bytes(1, typeof d === 'string' ? bytes(2, utf8(d)) : num(1, d));
  const shape = dims.flatMap(dim); // TensorShapeProto { dim… }
  const tensorType = [...num(1, elemType), ...bytes(2, shape)];
  return [...bytes(1, utf8(name)), ...bytes(2, bytes(1, tensorType))];
}

/** AttributeProto: an INT (type 2) or a GRAPH (type 5). */
const intAttr = (name: string, v: number) => [...bytes(1, utf8(name)), ...num(3, v), ...num(20, 2)];
const graphAttr = (name: string, g: number[]) => [...bytes(1, utf8(name)), ...bytes(6, g), ...num(20, 5)];

/** NodeProto. */
function node(op: string, inputs: string[], outputs: string[], attributes: number[][] = []): number[] {
  return [
    ...inputs.flatMap((i) => bytes(1, utf8(i))),
    ...outputs.flatMap((o) => bytes(2, utf8(o))),
    ...bytes(3, utf8(`${op}_${outputs[0]}`)),
    ...bytes(4, utf8(op)),
    ...attributes.flatMap((a) => bytes(5, a)),
  ];
}

/**
 * The serialized ModelProto (IR version 7, opset 13) of the chained capability proof.
 *
 * @example
 * const session = await ort.InferenceSession.create(chainOnnxModel(), { executionProviders: ['cuda', 'cpu'] });
 * const { C } = await session.run({ A, B, K, P }); // C: uint8 [n, n] = A·B^K mod P
 */
export function chainOnnxModel(): Uint8Array {
  // Loop body: (iteration, cond, X) → (cond, X·Bf fmod P); Bf and P come from the outer scope.
  const body = [
    ...bytes(1, node('MatMul', ['X', 'Bf'], ['Y'])),
    ...bytes(1, node('Mod', ['Y', 'P'], ['Z'], [intAttr('fmod', 1)])),
    ...bytes(1, node('Identity', ['cond_in'], ['cond_out'])),
    ...bytes(2, utf8('chain-step')),
    ...bytes(11, tensor('iteration', INT64, [])),
    ...bytes(11, tensor('cond_in', BOOL, [])),
    ...bytes(11, tensor('X', FLOAT, ['n', 'n'])),
    ...bytes(12, tensor('cond_out', BOOL, [])),
    ...bytes(12, tensor('Z', FLOAT, ['n', 'n'])),
  ];
  const graph = [
    ...bytes(1, node('Cast', ['A'], ['Af'], [intAttr('to', FLOAT)])),
    ...bytes(1, node('Cast', ['B'], ['Bf'], [intAttr('to', FLOAT)])),
    // No condition input (''): the loop runs exactly K times.
    ...bytes(1, node('Loop', ['K', '', 'Af'], ['Ck'], [graphAttr('body', body)])),
    ...bytes(1, node('Add', ['Ck', 'P'], ['Cp'])),
    ...bytes(1, node('Mod', ['Cp', 'P'], ['Cm'], [intAttr('fmod', 1)])),
    ...bytes(1, node('Cast', ['Cm'], ['C'], [intAttr('to', UINT8)])),
    ...bytes(2, utf8('capability-proof-chain')),
    ...bytes(11, tensor('A', INT8, ['n', 'n'])),
    ...bytes(11, tensor('B', INT8, ['n', 'n'])),
    ...bytes(11, tensor('K', INT64, [])),
    ...bytes(11, tensor('P', FLOAT, [1])),
    ...bytes(12, tensor('C', UINT8, ['n', 'n'])),
  ];
  const model = [
    ...num(1, 7), // ir_version
    ...bytes(2, utf8('plexus')), // producer_name
    ...bytes(7, graph),
    ...bytes(8, [...bytes(1, []), ...num(2, 13)]), // opset_import { domain '', version 13 }
  ];
  return new Uint8Array(model);
}
