/**
 * The body of an ONNX runtime worker process: a small LRU of loaded sessions and one run at a time.
 * onnxruntime-node runs inference synchronously on the calling thread and cannot be interrupted, so
 * it runs here, in a child process: the provider's event loop stays responsive, a run past its time
 * limit is stopped for real with SIGKILL (terminating a worker *thread* mid-run aborts the whole
 * process inside onnxruntime's native code), and a crash inside onnxruntime on a hostile model
 * takes down this process, not the provider agent.
 */
import { readFile, writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { isPlexusError } from '../../../errors/PlexusError.ts';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../../protocol/safetensors.ts';
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
    const inputs = 'inputs' in req ? req.inputs : decodeSafetensors(await readFile(req.inputPath));
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
    if ('outputPath' in req) await writeFile(req.outputPath, encodeSafetensors(outputs));
    post({
      type: 'result',
      id: req.id,
      outputs: 'outputPath' in req ? undefined : outputs,
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
