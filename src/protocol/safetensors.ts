/**
 * The safetensors codec: how tensors cross the wire between clients, the coordinator and providers.
 *
 * A safetensors file (https://github.com/huggingface/safetensors) is
 * `u64 little-endian N` · `N bytes of UTF-8 JSON header` · `data`. The header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the start of `data`, row-major,
 * little-endian elements) plus an optional `__metadata__` object of string → string. Python users read
 * and write it with `safetensors.numpy` (see `docs/tensors.md`).
 *
 * Decoding treats the bytes as hostile: every number in the header is checked before it is used, and
 * any problem is a `PLX_BAD_TENSOR_FILE` error that names the tensor and the check that failed.
 */
import { PlexusError } from '../errors/PlexusError.ts';

/**
 * Element types a Plexus tensor can have (the subset of safetensors dtypes that onnxruntime also knows).
 *
 * @example
 * const d: DType = 'float32';
 */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/**
 * The typed array holding a tensor's elements. `float16` is raw IEEE half bits in a Uint16Array;
 * `bool` is a Uint8Array of 0/1.
 *
 * @example
 * const data: TensorData = new Float32Array([1, 2, 3]);
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/**
 * A dense row-major tensor.
 *
 * @example
 * const t: Tensor = { dtype: 'float32', shape: [1, 3], data: new Float32Array([1, 2, 3]) };
 */
export type Tensor = { dtype: DType; shape: number[]; data: TensorData };

/**
 * Bounds applied while decoding untrusted bytes.
 *
 * @example
 * decodeSafetensors(bytes, { maxHeaderBytes: 64 * 1024, maxTensors: 16 });
 */
export type SafetensorsLimits = {
  /** Largest accepted JSON header in bytes (default 1 MiB). */
  maxHeaderBytes?: number;
  /** Most tensors in one file (default 1024). */
  maxTensors?: number;
  /** Highest tensor rank (default 32). */
  maxRank?: number;
};

type DTypeInfo = {
  code: string;
  size: number;
  array: { new (buffer: ArrayBuffer, byteOffset: number, length: number): TensorData; name: string };
};

const DTYPE_INFO: Record<DType, DTypeInfo> = {
  float32: { code: 'F32', size: 4, array: Float32Array },
  float64: { code: 'F64', size: 8, array: Float64Array },
  float16: { code: 'F16', size: 2, array: Uint16Array },
  int8: { code: 'I8', size: 1, array: Int8Array },
  uint8: { code: 'U8', size: 1, array: Uint8Array },
  int16: { code: 'I16', size: 2, array: Int16Array },
  uint16: { code: 'U16', size: 2, array: Uint16Array },
  int32: { code: 'I32', size: 4, array: Int32Array },
  uint32: { code: 'U32', size: 4, array: Uint32Array },
  int64: { code: 'I64', size: 8, array: BigInt64Array },
  uint64: { code: 'U64', size: 8, array: BigUint64Array },
  bool: { code: 'BOOL', size: 1, array: Uint8Array },
};

const DTYPE_BY_CODE = new Map<string, DType>(
  (Object.keys(DTYPE_INFO) as DType[]).map((d) => [DTYPE_INFO[d].code, d]),
);

/**
 * Every supported dtype, in a stable order.
 *
 * @example
 * DTYPES.includes('float32'); // true
 */
export const DTYPES: readonly DType[] = Object.freeze(Object.keys(DTYPE_INFO) as DType[]);

const DEFAULT_LIMITS: Required<SafetensorsLimits> = {
  maxHeaderBytes: 1 << 20,
  maxTensors: 1024,
  maxRank: 32,
};

const METADATA_KEY = '__metadata__';

// Typed arrays use the platform's byte order; safetensors is little-endian. Every platform Node ships
// for today is little-endian, but swapping on the rare big-endian host costs nothing to write down.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bad(message: string, details?: Record<string, unknown>): PlexusError {
  return new PlexusError('PLX_BAD_TENSOR_FILE', message, details === undefined ? {} : { details });
}

/**
 * Byte size of one element of `dtype`.
 *
 * @example
 * dtypeItemSize('float16'); // 2
 */
export function dtypeItemSize(dtype: DType): number {
  return DTYPE_INFO[dtype].size;
}

/**
 * Joins tensors along their first (batch) dimension: `[1, 3, H, W]` × 8 → `[8, 3, H, W]`, the input of
 * one task that runs a batch (docs/tensors.md). All must share the dtype and every other dimension;
 * a RangeError says which one does not.
 *
 * @example
 * const x = concatBatch(images); // images: Tensor[] of shape [1, 3, 96, 640]
 */
export function concatBatch(tensors: readonly Tensor[]): Tensor {
  const first = tensors[0];
  if (first === undefined || first.shape.length === 0)
    throw new RangeError('concatBatch needs at least one tensor with a batch dimension');
  let batch = 0;
  let elements = 0;
  for (const [i, t] of tensors.entries()) {
    if (
      t.dtype !== first.dtype ||
      t.shape.length !== first.shape.length ||
      t.shape.some((d, axis) => axis > 0 && d !== first.shape[axis])
    )
      throw new RangeError(
        `tensor ${i} is ${t.dtype} [${t.shape.join(', ')}]; tensor 0 is ${first.dtype} [${first.shape.join(', ')}]: only the first dimension may differ`,
      );
    batch += t.shape[0]!;
    elements += t.data.length;
  }
  const data = new (first.data.constructor as new (n: number) => TensorData)(elements);
  let at = 0;
  for (const t of tensors) {
    (data as { set(from: ArrayLike<number | bigint>, offset: number): void }).set(t.data, at);
    at += t.data.length;
  }
  return { dtype: first.dtype, shape: [batch, ...first.shape.slice(1)], data };
}

/**
 * Number of elements of a shape (1 for a scalar `[]`). Throws when a dimension is not a non-negative
 * safe integer or the product overflows.
 *
 * @example
 * shapeSize([2, 3, 4]); // 24
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw bad(`dimension ${String(d)} is not a non-negative integer`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw bad(`shape [${shape.join(', ')}] has too many elements`);
  }
  return n;
}

function swapBytes(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size)
    for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j]!;
  return out;
}

function dataBytes(name: string, t: Tensor): Uint8Array {
  const info = DTYPE_INFO[t.dtype];
  if (info === undefined) throw bad(`tensor "${name}": unknown dtype ${String(t.dtype)}`);
  if (!(t.data instanceof info.array))
    throw bad(
      `tensor "${name}": dtype ${t.dtype} needs a ${info.array.name}, got ${t.data.constructor.name}`,
    );
  const n = shapeSize(t.shape);
  if (t.data.length !== n)
    throw bad(
      `tensor "${name}": shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`,
    );
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return HOST_IS_LITTLE_ENDIAN || info.size === 1 ? raw : swapBytes(raw, info.size);
}

/**
 * Encodes named tensors as a safetensors file. Deterministic: tensors are laid out in sorted name
 * order and the header is padded with spaces to a multiple of 8 bytes (as the reference
 * implementation does, so every tensor starts 8-byte aligned), so the same tensors always give the
 * same bytes and therefore the same content id.
 *
 * @example
 * const bytes = encodeSafetensors({ x: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const parts = encodeSafetensorsParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * The bytes of {@link encodeSafetensors} as consecutive pieces: the length prefix and header, then
 * each tensor's data as a view of its array (no copy on a little-endian host), for a writer that
 * takes several buffers at once (`writev`) instead of one file-sized copy.
 *
 * @example
 * writevSync(fd, encodeSafetensorsParts(outputs));
 */
export function encodeSafetensorsParts(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw bad(`metadata "${k}" must be a string`);
    header[METADATA_KEY] = Object.fromEntries(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '' || name === METADATA_KEY) throw bad(`"${name}" is not a valid tensor name`);
    const t = tensors[name]!;
    const bytes = dataBytes(name, t);
    header[name] = {
      dtype: DTYPE_INFO[t.dtype].code,
      shape: [...t.shape],
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLen);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLen), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length, 8 + headerLen);
  return [head, ...chunks.filter((c) => c.byteLength > 0)];
}

type Entry = { name: string; dtype: DType; shape: number[]; begin: number; end: number };

function parseEntry(name: string, value: unknown, maxRank: number): Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(`tensor "${name}": header entry must be an object`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v))
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets')
      throw bad(`tensor "${name}": unknown header field "${key}"`);
  if (typeof v.dtype !== 'string') throw bad(`tensor "${name}": dtype must be a string`);
  const dtype = DTYPE_BY_CODE.get(v.dtype);
  if (dtype === undefined)
    throw bad(
      `tensor "${name}": dtype ${v.dtype} is not supported (supported: ${[...DTYPE_BY_CODE.keys()].join(', ')})`,
    );
  if (!Array.isArray(v.shape)) throw bad(`tensor "${name}": shape must be an array`);
  if (v.shape.length > maxRank) throw bad(`tensor "${name}": rank ${v.shape.length} exceeds ${maxRank}`);
  for (const d of v.shape)
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw bad(`tensor "${name}": shape [${v.shape.join(', ')}] must hold non-negative integers`);
  const offs = v.data_offsets;
  if (
    !Array.isArray(offs) ||
    offs.length !== 2 ||
    !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  )
    throw bad(`tensor "${name}": data_offsets must be two non-negative integers`);
  const [begin, end] = offs as [number, number];
  if (end < begin) throw bad(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
  const shape = v.shape as number[];
  const expected = shapeSize(shape) * DTYPE_INFO[dtype].size;
  if (end - begin !== expected)
    throw bad(
      `tensor "${name}": shape [${shape.join(', ')}] of ${v.dtype} needs ${expected} bytes but data_offsets span ${end - begin}`,
    );
  return { name, dtype, shape, begin, end };
}

/**
 * The layout of a safetensors file from its first bytes: `head` holds at least the 8-byte length
 * and the JSON header, `fileLength` is the whole file's size. Every check of decodeSafetensorsFile
 * that does not need the tensor data (header, dtypes, shapes, offsets covering the data section).
 */
function parseLayout(head: Uint8Array, fileLength: number, limits: SafetensorsLimits) {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  if (fileLength < 8 || head.length < 8)
    throw bad(`file is ${fileLength} bytes; a safetensors file has at least 8`);
  const headerLen = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(lim.maxHeaderBytes))
    throw bad(`header length ${headerLen} exceeds the limit of ${lim.maxHeaderBytes} bytes`);
  const n = Number(headerLen);
  if (8 + n > fileLength) throw bad(`header length ${n} runs past the end of the ${fileLength}-byte file`);
  if (8 + n > head.length) throw new RangeError(`the first ${8 + n} bytes hold the header`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + n));
  } catch (cause) {
    throw new PlexusError('PLX_BAD_TENSOR_FILE', 'header is not valid UTF-8', { cause });
  }
  if (!text.startsWith('{')) throw bad('header must be a JSON object starting with "{"');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (cause) {
    throw new PlexusError('PLX_BAD_TENSOR_FILE', `header is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw bad('header must be a JSON object');

  const metadata: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw bad('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw bad(`__metadata__ "${k}" must be a string`);
        metadata.push([k, v]);
      }
      continue;
    }
    if (entries.length >= lim.maxTensors) throw bad(`file holds more than ${lim.maxTensors} tensors`);
    entries.push(parseEntry(name, value, lim.maxRank));
  }

  // The data section must be covered exactly: sorted by offset, no gap, no overlap, nothing after.
  const dataStart = 8 + n;
  const dataLen = fileLength - dataStart;
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin !== cursor)
      throw bad(
        `tensor "${e.name}": data_offsets begin at ${e.begin} but the previous tensor ends at ${cursor} (offsets must be contiguous)`,
      );
    if (e.end > dataLen)
      throw bad(`tensor "${e.name}": data_offsets end at ${e.end}, past the ${dataLen}-byte data section`);
    cursor = e.end;
  }
  if (cursor !== dataLen) throw bad(`${dataLen - cursor} trailing bytes after the last tensor`);

  return { entries, metadata, dataStart };
}

/**
 * How many leading bytes of a safetensors file hold its header (8 + the header length), from its
 * first 8 bytes; PLX_BAD_TENSOR_FILE beyond the header limit.
 *
 * @example const need = safetensorsHeaderBytes(first8);
 */
export function safetensorsHeaderBytes(first8: Uint8Array, limits: SafetensorsLimits = {}): number {
  if (first8.length < 8) throw bad(`file is ${first8.length} bytes; a safetensors file has at least 8`);
  const headerLen = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  const max = limits.maxHeaderBytes ?? DEFAULT_LIMITS.maxHeaderBytes;
  if (headerLen > BigInt(max)) throw bad(`header length ${headerLen} exceeds the limit of ${max} bytes`);
  return 8 + Number(headerLen);
}

/**
 * Each tensor's dtype, shape and element count, from the file's first bytes only (at least
 * `safetensorsHeaderBytes` of them) and its size: the same checks as decodeSafetensorsFile,
 * without reading the data (intake checks inputs against a model this way).
 *
 * @example const layout = safetensorsLayout(head, size); layout.x?.shape;
 */
export function safetensorsLayout(
  head: Uint8Array,
  fileLength: number,
  limits: SafetensorsLimits = {},
): Record<string, { dtype: DType; shape: number[]; data: { length: number } }> {
  const { entries } = parseLayout(head, fileLength, limits);
  return Object.fromEntries(
    entries.map((e) => [
      e.name,
      { dtype: e.dtype, shape: e.shape, data: { length: (e.end - e.begin) / DTYPE_INFO[e.dtype].size } },
    ]),
  );
}

/**
 * Decodes a safetensors file into tensors and its `__metadata__`, validating the whole layout.
 * Tensors whose data is aligned for their element size are views into `bytes` (no copy); unaligned
 * ones are copied. Throws `PLX_BAD_TENSOR_FILE` on any inconsistency.
 *
 * @example
 * const { tensors, metadata } = decodeSafetensorsFile(bytes);
 */
export function decodeSafetensorsFile(
  bytes: Uint8Array,
  limits: SafetensorsLimits = {},
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw bad(`file is ${bytes.length} bytes; a safetensors file has at least 8`);
  const { entries, metadata, dataStart } = parseLayout(bytes, bytes.length, limits);

  const tensors: [string, Tensor][] = entries.map((e) => {
    const info = DTYPE_INFO[e.dtype];
    const length = (e.end - e.begin) / info.size;
    const at = bytes.byteOffset + dataStart + e.begin;
    let data: TensorData;
    if (!HOST_IS_LITTLE_ENDIAN && info.size > 1) {
      const swapped = swapBytes(bytes.subarray(dataStart + e.begin, dataStart + e.end), info.size);
      data = new info.array(swapped.buffer as ArrayBuffer, 0, length);
    } else if (at % info.size === 0) {
      data = new info.array(bytes.buffer as ArrayBuffer, at, length);
    } else {
      // Typed arrays need offsets aligned to their element size; copy to a fresh buffer.
      const copy = bytes.slice(dataStart + e.begin, dataStart + e.end);
      data = new info.array(copy.buffer as ArrayBuffer, 0, length);
    }
    return [e.name, { dtype: e.dtype, shape: e.shape, data }];
  });
  // Object.fromEntries defines own properties, so a tensor named "__proto__" cannot touch the prototype.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

/**
 * Decodes a safetensors file into named tensors (see {@link decodeSafetensorsFile} for the checks
 * and for reading `__metadata__`). Throws `PLX_BAD_TENSOR_FILE` with a message naming the problem.
 *
 * @example
 * const { x } = decodeSafetensors(await readFile('inputs.safetensors'));
 */
export function decodeSafetensors(bytes: Uint8Array, limits?: SafetensorsLimits): Record<string, Tensor> {
  return decodeSafetensorsFile(bytes, limits).tensors;
}
