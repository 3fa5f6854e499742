import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { listSupportedBackends } from 'onnxruntime-node';

/**
 * Execution providers Plexus knows how to ask onnxruntime for.
 *
 * @example
 * const eps: OrtExecutionProvider[] = ['cuda', 'cpu'];
 */
export type OrtExecutionProvider = 'cpu' | 'cuda';

/**
 * The execution providers this onnxruntime-node install can really use: `cpu` always; `cuda` only
 * when the binding lists it *and* the CUDA provider library was installed next to the binding
 * (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm install`). onnxruntime-node lists `cuda` on every linux/x64
 * build, installed or not, so the listing alone would promise a GPU runtime that fails to load.
 * Whether a GPU is present is a separate question (see `probeHardware`).
 *
 * @example
 * listOrtExecutionProviders(); // ['cpu'] on a CPU-only install
 */
export function listOrtExecutionProviders(): OrtExecutionProvider[] {
  const out: OrtExecutionProvider[] = ['cpu'];
  const listed = listSupportedBackends().some((b) => b.name === 'cuda');
  if (listed && existsSync(cudaProviderLibraryPath())) out.push('cuda');
  return out;
}

/**
 * Where onnxruntime-node expects the CUDA execution provider's shared library.
 *
 * @example
 * cudaProviderLibraryPath(); // …/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
 */
export function cudaProviderLibraryPath(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
  const lib =
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return join(pkg, '..', 'bin', 'napi-v6', process.platform, process.arch, lib);
}
