/**
 * What a provider machine can do: CPU, memory, GPUs and the onnxruntime execution providers that
 * really work here. The agent advertises this to the coordinator (and the capability proof checks it).
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { env as ortEnv } from 'onnxruntime-node';
import { createLogger, type Logger } from '../../logger.ts';
import {
  listOrtExecutionProviders,
  type OrtExecutionProvider,
} from '../../runtimes/onnx/listOrtExecutionProviders.ts';

/**
 * One GPU as nvidia-smi reports it.
 *
 * @example
 * const [gpu]: GpuInfo[] = (await probeHardware()).gpus;
 */
export type GpuInfo = { name: string; memoryMiB: number; driverVersion: string; uuid: string };

/**
 * A provider's hardware, plain JSON (no bigint, no class instances).
 *
 * @example
 * const hw: HardwareProfile = await probeHardware();
 */
export type HardwareProfile = {
  cpuModel: string;
  /** Logical cores this process may use (`os.availableParallelism()`). */
  cpuCores: number;
  /** Total memory, or the cgroup (container) limit when that is lower. */
  memoryBytes: number;
  freeMemoryBytes: number;
  gpus: GpuInfo[];
  /** `cpu` always; `cuda` only when onnxruntime's CUDA provider is installed and a GPU was found. */
  executionProviders: OrtExecutionProvider[];
  os: { platform: string; release: string; arch: string };
  nodeVersion: string;
  onnxruntimeVersion: string;
};

/**
 * Runs a command and resolves with its stdout (rejects on spawn failure, non-zero exit or timeout).
 *
 * @example
 * const exec: ExecText = async () => 'NVIDIA L4, 23034, 550.54.15, GPU-0123…\n';
 */
export type ExecText = (file: string, args: string[], timeoutMs: number) => Promise<string>;

/**
 * Options of {@link probeHardware}; the defaults probe the real machine.
 *
 * @example
 * await probeHardware({ nvidiaSmi: '/usr/bin/nvidia-smi', timeoutMs: 2000 });
 */
export type ProbeHardwareOptions = {
  /** nvidia-smi binary (default `nvidia-smi` on the PATH). */
  nvidiaSmi?: string;
  /** Time limit for nvidia-smi (default 5 s: a wedged driver must not hang the agent's start). */
  timeoutMs?: number;
  exec?: ExecText;
  logger?: Logger;
};

/**
 * The arguments Plexus passes to nvidia-smi.
 *
 * @example
 * execFile('nvidia-smi', NVIDIA_SMI_ARGS);
 */
export const NVIDIA_SMI_ARGS: readonly string[] = Object.freeze([
  '--query-gpu=name,memory.total,driver_version,uuid',
  '--format=csv,noheader,nounits',
]);

const execText: ExecText = (file, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, windowsHide: true, maxBuffer: 1 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total,driver_version,uuid --format=csv,noheader,nounits`
 * output. Lines that do not parse (a `[N/A]` memory, a warning banner) are skipped, not fatal; a name
 * containing commas is kept whole because the last three fields are taken from the right.
 *
 * @example
 * parseNvidiaSmiCsv('NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-6f1c…\n');
 * // [{ name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559, driverVersion: '550.54.15', uuid: 'GPU-6f1c…' }]
 */
export function parseNvidiaSmiCsv(stdout: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < 4) continue;
    const uuid = fields.pop()!;
    const driverVersion = fields.pop()!;
    const memory = fields.pop()!;
    const name = fields.join(', ');
    if (!/^\d+$/.test(memory) || name === '' || !/^[\d.]+$/.test(driverVersion) || !/^(GPU|MIG)-/.test(uuid))
      continue;
    gpus.push({ name, memoryMiB: Number(memory), driverVersion, uuid });
  }
  return gpus;
}

/**
 * Probes the machine. Never throws for a missing or broken GPU stack: no nvidia-smi, a failing
 * driver or unparseable output all mean "no GPUs" (logged at debug level).
 *
 * @example
 * const hw = await probeHardware();
 * hw.executionProviders; // ['cpu'] or ['cpu', 'cuda']
 */
export async function probeHardware(options: ProbeHardwareOptions = {}): Promise<HardwareProfile> {
  const log = options.logger ?? createLogger('hardware');
  let gpus: GpuInfo[] = [];
  try {
    const stdout = await (options.exec ?? execText)(
      options.nvidiaSmi ?? 'nvidia-smi',
      [...NVIDIA_SMI_ARGS],
      options.timeoutMs ?? 5000,
    );
    gpus = parseNvidiaSmiCsv(stdout);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { killed?: boolean };
    log.debug({ code: e.code, killed: e.killed, err: e.message }, 'no usable nvidia-smi; assuming no GPUs');
  }
  const executionProviders = listOrtExecutionProviders().filter((p) => p === 'cpu' || gpus.length > 0);
  // Inside a container the cgroup limit, not the host's RAM, is what a task can use.
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  const memoryBytes = constrained > 0 && constrained < total ? constrained : total;
  return {
    cpuModel: os.cpus()[0]?.model.trim() || 'unknown',
    cpuCores: os.availableParallelism(),
    memoryBytes,
    freeMemoryBytes: Math.min(os.freemem(), memoryBytes),
    gpus,
    executionProviders,
    os: { platform: process.platform, release: os.release(), arch: process.arch },
    nodeVersion: process.versions.node,
    onnxruntimeVersion: ortEnv.versions.node ?? ortEnv.versions.common,
  };
}
