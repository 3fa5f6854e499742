/**
 * A one-node ONNX model, `C = MatMul(A, B)` over float32 with symbolic shapes, encoded in code
 * (protobuf by hand, no download, no ONNX toolchain): the capability-proof solver runs it on the
 * CUDA execution provider when the agent has a GPU, on the CPU one otherwise.
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

/** ValueInfoProto of a float32 matrix with symbolic dimensions `rows` × `cols`. */
function matrix(name: string, rows: string, cols: string): number[] {
  const dim = (p: string) => bytes(1, bytes(2, utf8(p))); // Dimension { dim_param }
  const shape = [...dim(rows), ...dim(cols)]; // TensorShapeProto { dim, dim }
  const tensorType = [...num(1, 1), ...bytes(2, shape)]; // elem_type FLOAT = 1
  return [...bytes(1, utf8(name)), ...bytes(2, bytes(1, tensorType))];
}

/**
 * The serialized ModelProto (IR version 7, opset 13) of `C[n×m] = A[n×k] · B[k×m]`.
 *
 * @example
 * const session = await ort.InferenceSession.create(matmulOnnxModel(), { executionProviders: ['cuda', 'cpu'] });
 */
export function matmulOnnxModel(): Uint8Array {
  const node = [
    ...bytes(1, utf8('A')),
    ...bytes(1, utf8('B')),
    ...bytes(2, utf8('C')),
    ...bytes(3, utf8('matmul')),
    ...bytes(4, utf8('MatMul')),
  ];
  const graph = [
    ...bytes(1, node),
    ...bytes(2, utf8('capability-proof')),
    ...bytes(11, matrix('A', 'n', 'k')),
    ...bytes(11, matrix('B', 'k', 'm')),
    ...bytes(12, matrix('C', 'n', 'm')),
  ];
  const model = [
    ...num(1, 7), // ir_version
    ...bytes(2, utf8('plexus')), // producer_name
    ...bytes(7, graph),
    ...bytes(8, [...bytes(1, []), ...num(2, 13)]), // opset_import { domain '', version 13 }
  ];
  return new Uint8Array(model);
}
