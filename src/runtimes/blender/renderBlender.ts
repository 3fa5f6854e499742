/**
 * Renders one task with Blender in a child process: auto-run of scripts embedded in the `.blend`
 * off (`--disable-autoexec`, and `--factory-startup` so no user add-on loads either), no network
 * where `unshare` allows, an address-space limit (`prlimit --as`), a time limit (SIGKILL), a
 * scratch directory as its home and working directory, and an environment with nothing of the
 * agent's (no keystore password). Cycles on the CPU with a fixed seed, adaptive sampling and
 * denoising off, so honest renders of one task agree closely on any machine (docs/render.md).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { RenderTask } from '../../protocol/render.ts';
import type { BlenderInfo } from './probeBlender.ts';

const RENDER_SCRIPT = fileURLToPath(new URL('./renderTask.py', import.meta.url));
/** Default address-space limit of a render: 8 GiB. */
export const DEFAULT_RENDER_MEMORY_BYTES = 8 * 1024 ** 3;

/**
 * One render's inputs.
 *
 * @example await renderBlender({ blender, blendPath, task, scratchDir, threads: 2, timeoutMs: 60_000 });
 */
export type RenderRequest = {
  blender: BlenderInfo;
  blendPath: string;
  task: RenderTask;
  /** A directory of this render alone (emptied and removed afterwards). */
  scratchDir: string;
  threads: number;
  timeoutMs: number;
  memoryBytes?: number;
  signal?: AbortSignal;
};

export type RenderOutput = {
  /** The image: PNG, or OpenEXR when the task's `format` is `exr`. */
  png: Buffer;
  usage: { wallMs: number; cpuMs: number; peakRssBytes: number };
};

/**
 * Renders `task` (its region only) to PNG bytes. Rejects with PLX_LEASE_EXPIRED on the time limit
 * and PLX_TASK_RUNTIME_ERROR when Blender fails or writes no image.
 */
export async function renderBlender(req: RenderRequest): Promise<RenderOutput> {
  const [out] = await runRender(req, false);
  return out!;
}

/**
 * Renders several tasks in one Blender process, in order (reference renders for tests and the
 * benchmark: one Blender start instead of one per image). Usage is that of the whole batch.
 *
 * @example const pngs = await renderBlenderBatch({ ...req, tasks });
 */
export async function renderBlenderBatch(
  req: Omit<RenderRequest, 'task'> & { tasks: RenderTask[] },
): Promise<RenderOutput[]> {
  return runRender(req, true);
}

/**
 * Starts Blender on `req.blendPath` running renderTask.py with `scriptArgs` (then the thread
 * count), in the sandbox: auto-run off, factory settings, an address-space limit, no network
 * where `unshare` allows, `dir` as working and home directory, an environment with nothing of
 * the agent's. stderr is piped; stdin is piped when `stdio` is 'pipe' (a warm Blender).
 *
 * @example const child = spawnSandboxedBlender(req, dir, [taskPath, outPath], 'ignore');
 */
export function spawnSandboxedBlender(
  req: Pick<RenderRequest, 'blender' | 'blendPath' | 'threads' | 'memoryBytes'>,
  dir: string,
  scriptArgs: string[],
  stdio: 'ignore' | 'pipe',
): ChildProcess {
  const blenderArgs = [
    '-b',
    '--factory-startup',
    '--disable-autoexec',
    '-noaudio',
    req.blendPath,
    '--python',
    RENDER_SCRIPT,
    '--',
    ...scriptArgs,
    String(Math.max(1, req.threads)),
  ];
  const limit = ['prlimit', `--as=${req.memoryBytes ?? DEFAULT_RENDER_MEMORY_BYTES}`, '--'];
  const isolate = req.blender.isolateNetwork ? ['unshare', '--net', '--map-root-user'] : [];
  const [cmd, ...args] = [...limit, ...isolate, req.blender.path, ...blenderArgs];
  return spawn(cmd!, args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TMPDIR: dir, LANG: 'C.UTF-8' },
    stdio: [stdio, stdio, 'pipe'],
  });
}

async function runRender(
  req: Omit<RenderRequest, 'task'> & { task?: RenderTask; tasks?: RenderTask[] },
  batch: boolean,
): Promise<RenderOutput[]> {
  const dir = req.scratchDir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const taskPath = join(dir, 'task.json');
  const outPath = join(dir, 'out.png');
  const ext = (t: RenderTask | undefined) => (t?.format === 'exr' ? 'exr' : 'png');
  await writeFile(taskPath, JSON.stringify(batch ? req.tasks : req.task));
  const t0 = performance.now();
  try {
    const { code, stderr, timedOut } = await new Promise<{
      code: number | null;
      stderr: string;
      timedOut: boolean;
    }>((resolve, reject) => {
      const child = spawnSandboxedBlender(
        req,
        dir,
        [taskPath, batch ? outPath : `${outPath.slice(0, -4)}.${ext(req.task)}`],
        'ignore',
      );
      let stderr = '';
      let timedOut = false;
      child.stderr?.on('data', (b: Buffer) => {
        if (stderr.length < 8192) stderr += b.toString();
      });
      const kill = () => child.kill('SIGKILL');
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, req.timeoutMs);
      req.signal?.addEventListener('abort', kill, { once: true });
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', kill);
        resolve({ code, stderr, timedOut });
      });
    });
    if (req.signal?.aborted) throw new DOMException('render cancelled', 'AbortError');
    if (timedOut) throw new PlexusError('PLX_LEASE_EXPIRED', `render took longer than ${req.timeoutMs} ms`);
    const paths = batch
      ? (req.tasks ?? []).map((t, i) => `${outPath}-${i}.${ext(t)}`)
      : [`${outPath.slice(0, -4)}.${ext(req.task)}`];
    const pngs = await Promise.all(paths.map((p) => readFile(p).catch(() => undefined)));
    if (code !== 0 || pngs.some((p) => !p)) {
      throw new PlexusError('PLX_TASK_RUNTIME_ERROR', `blender exited ${code}: ${stderr.trim().slice(-500)}`);
    }
    const usagePath = batch ? outPath : `${outPath.slice(0, -4)}.${ext(req.task)}`;
    const measured = JSON.parse(await readFile(`${usagePath}.usage.json`, 'utf8')) as {
      cpuMs: number;
      peakRssBytes: number;
    };
    const usage = {
      wallMs: Math.round(performance.now() - t0),
      cpuMs: Math.max(0, Math.round(measured.cpuMs)),
      peakRssBytes: Math.max(0, Math.round(measured.peakRssBytes)),
    };
    return pngs.map((png) => ({ png: png!, usage }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
