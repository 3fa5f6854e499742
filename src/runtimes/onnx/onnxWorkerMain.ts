/**
 * The body of an ONNX runtime worker process: a small LRU of loaded sessions and one run at a time.
 * onnxruntime-node runs inference synchronously on the calling thread and cannot be interrupted, so
 * it runs here, in a child process: the provider's event loop stays responsive, a run past its time
 * limit is stopped for real with SIGKILL (terminating a worker *thread* mid-run aborts the whole
 * process inside onnxruntime's native code), and a crash inside onnxruntime on a hostile model
 * takes down this process, not the provider agent.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writevSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { decodeSafetensors, encodeSafetensorsParts, type Tensor } from '../../protocol/safetensors.ts';
import { checkInputsAgainstModel } from './checkInputsAgainstModel.ts';
import { inspectOnnxModel, modelMetaFromSession, type OnnxModelMeta } from './inspectOnnxModel.ts';
import {
  cudaProviderLibraryPath,
  listOrtExecutionProviders,
  type OrtExecutionProvider,
} from './listOrtExecutionProviders.ts';
import { fromOrtTensor, toOrtTensor } from './ortTensor.ts';
import type { InspectRequest, WorkerConfig, WorkerReply, WorkerRequest } from './workerProtocol.ts';

type Loaded = { session: ort.InferenceSession; meta: OnnxModelMeta; provider: OrtExecutionProvider };

const config = JSON.parse(process.env.PLEXUS_ONNX_WORKER_CONFIG ?? '{}') as WorkerConfig;
config.executionProviders ??= ['cpu'];
config.maxSessions ??= 4;
// The parent is gone (crashed or killed): nothing left to work for.
process.on('disconnect', () => process.exit(0));
// Profiling (forkOnnxWorker): exit cleanly when the runtime closes, so that the profile is written.
if (process.execArgv.some((a) => a.startsWith('--cpu-prof'))) process.on('SIGTERM', () => process.exit(0));
const sessions = new Map<string, Loaded>();
// Asking onnxruntime for CUDA when its provider library is not installed only produces a native
// error dump; say it once, plainly, instead.
let cudaUsable = config.executionProviders.includes('cuda') && listOrtExecutionProviders().includes('cuda');
if (config.executionProviders.includes('cuda') && !cudaUsable)
  post({
    type: 'warning',
    message: `CUDA execution provider not installed (${cudaProviderLibraryPath()} is missing; install with ONNXRUNTIME_NODE_INSTALL=cuda12), falling back to CPU`,
  });

function sessionOptions(providers: OrtExecutionProvider[]): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    logSeverityLevel: 3,
    ...(config.intraOpThreads === undefined ? {} : { intraOpNumThreads: config.intraOpThreads }),
    // Session config entries: idle intra-op threads block instead of spinning (see OnnxRuntimeOptions.spinning).
    ...(config.spinning === undefined
      ? {}
      : { extra: { session: { intra_op: { allow_spinning: config.spinning ? '1' : '0' } } } }),
  };
}

async function load(modelPath: string): Promise<{ loaded: Loaded; loadMs: number }> {
  const cached = sessions.get(modelPath);
  if (cached !== undefined) {
    sessions.delete(modelPath);
    sessions.set(modelPath, cached);
    return { loaded: cached, loadMs: 0 };
  }
  const started = performance.now();
  let session: ort.InferenceSession | undefined;
  let provider: OrtExecutionProvider = 'cpu';
  let cudaError: Error | undefined;
  if (cudaUsable) {
    try {
      session = await ort.InferenceSession.create(modelPath, sessionOptions(['cuda', 'cpu']));
      provider = 'cuda';
    } catch (err) {
      cudaError = err as Error;
    }
  }
  try {
    session ??= await ort.InferenceSession.create(modelPath, sessionOptions(['cpu']));
  } catch (err) {
    // CPU fails too: the model is at fault, not the CUDA setup.
    const e = new Error(`not a loadable ONNX model: ${(err as Error).message}`);
    throw Object.assign(e, { plexusCode: 'PLX_BAD_MODEL' });
  }
  if (cudaError !== undefined) {
    cudaUsable = false;
    post({
      type: 'warning',
      message: `CUDA execution provider unavailable, falling back to CPU: ${cudaError.message.split('\n')[0]}`,
    });
  }
  const loaded: Loaded = { session, meta: modelMetaFromSession(session), provider };
  sessions.set(modelPath, loaded);
  while (sessions.size > config.maxSessions) {
    const [oldest, victim] = sessions.entries().next().value as [string, Loaded];
    sessions.delete(oldest);
    await victim.session.release();
  }
  return { loaded, loadMs: performance.now() - started };
}

/**
 * The input file of the current run, read into one buffer that the next run reuses (a fresh
 * buffer per run is garbage the collector has to chase). The tensors decoded from it are views
 * into it, used only until their run ends. The worker does one thing at a time, so its file I/O is
 * synchronous: a round trip through libuv's thread pool per operation cost more than the reads.
 */
let inputBuffer = Buffer.allocUnsafeSlow(0);
/** Inputs larger than this get a buffer of their own, so that one huge input is not held forever. */
const MAX_REUSED_INPUT_BYTES = 64 * 1024 * 1024;

function readInputFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    let buf = inputBuffer;
    if (buf.byteLength < size) {
      buf = Buffer.allocUnsafeSlow(size);
      if (size <= MAX_REUSED_INPUT_BYTES) inputBuffer = buf;
    }
    let read = 0;
    while (read < size) {
      const n = readSync(fd, buf, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buf.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the outputs as safetensors (the same bytes as `encodeSafetensors`) without one big copy.
 * An existing file (the provider reuses its scratch files) is overwritten in place and then cut to
 * size: cheaper than truncating it first, which frees every page only to allocate them again.
 */
function writeOutputFile(path: string, outputs: Record<string, Tensor>): number {
  let parts = encodeSafetensorsParts(outputs);
  const size = parts.reduce((n, p) => n + p.byteLength, 0);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    let at = 0;
    while (parts.length > 0) {
      let written = writevSync(fd, parts, at);
      at += written;
      while (parts.length > 0 && written >= parts[0]!.byteLength) {
        written -= parts[0]!.byteLength;
        parts = parts.slice(1);
      }
      if (written > 0) parts = [parts[0]!.subarray(written), ...parts.slice(1)];
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return size;
}

function post(reply: WorkerReply): void {
  process.send?.(reply);
}

async function handle(req: WorkerRequest | InspectRequest): Promise<void> {
  try {
    if ('inspect' in req) {
      post({ type: 'meta', id: req.id, meta: await inspectOnnxModel(req.inspect) });
      return;
    }
    const { loaded, loadMs } = await load(req.modelPath);
    const inputs = 'inputs' in req ? req.inputs : decodeSafetensors(readInputFile(req.inputPath));
    checkInputsAgainstModel(loaded.meta, inputs);
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = toOrtTensor(t);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const results = await loaded.session.run(feeds);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const outputs: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(results)) outputs[name] = fromOrtTensor(name, value);
    const outputBytes = 'outputPath' in req ? writeOutputFile(req.outputPath, outputs) : undefined;
    post({
      type: 'result',
      id: req.id,
      outputs: 'outputPath' in req ? undefined : outputs,
      ...(outputBytes === undefined ? {} : { outputBytes }),
      provider: loaded.provider,
      usage: {
        wallMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        // maxRSS is in KiB: this worker process's high-water mark since it started.
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        loadMs,
      },
    });
  } catch (err) {
    const e = err as Error & { plexusCode?: string };
    post({
      type: 'error',
      id: req.id,
      message: e.message,
      ...(isPlexusError(err)
        ? { code: err.code, ...(err.details === undefined ? {} : { details: err.details }) }
        : e.plexusCode === undefined
          ? {}
          : { code: e.plexusCode }),
    });
  }
}

process.on('message', (req: WorkerRequest | InspectRequest) => {
  void handle(req);
});
