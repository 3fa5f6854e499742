/**
 * Render test fixtures: the procedural scene (src/runtimes/blender/makeScene.py) generated into a
 * folder, local reference renders, and the Blender check (with CI=true a missing Blender fails).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RenderTask } from '../../src/protocol/render.ts';
import { type BlenderInfo, probeBlender } from '../../src/runtimes/blender/probeBlender.ts';
import { renderBlenderBatch } from '../../src/runtimes/blender/renderBlender.ts';

export const MAKE_SCENE = fileURLToPath(new URL('../../src/runtimes/blender/makeScene.py', import.meta.url));

/** Blender, or undefined (then the caller skips) unless CI=true, where it throws. */
export async function blenderOrSkip(): Promise<BlenderInfo | undefined> {
  const b = await probeBlender();
  if (!b && process.env.CI === 'true') throw new Error('Blender is not installed (apt-get install blender)');
  return b;
}

/** Runs Blender with `args` (auto-run as given) and resolves when it exits 0. */
export function runBlender(args: string[], timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('blender', args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

/**
 * Generates the test scene (`variant` changes colours and layout; `marker`: embed an auto-run
 * script; `sunEnergy`: the sun's strength, 3 by default).
 */
export async function makeScene(
  out: string,
  opts: { frames?: number; variant?: number; marker?: string; sunEnergy?: number } = {},
) {
  const extra = [
    ...(opts.frames ? ['--frames', String(opts.frames)] : []),
    ...(opts.variant ? ['--variant', String(opts.variant)] : []),
    ...(opts.marker ? ['--autorun-marker', opts.marker] : []),
    ...(opts.sunEnergy !== undefined ? ['--sun-energy', String(opts.sunEnergy)] : []),
  ];
  await runBlender([
    '-b',
    '--factory-startup',
    '--disable-autoexec',
    '-noaudio',
    '--python',
    MAKE_SCENE,
    '--',
    out,
    ...extra,
  ]);
}

/** Renders tasks locally in one Blender process, in the provider's sandbox; PNGs in task order. */
export async function renderLocally(
  blender: BlenderInfo,
  blendPath: string,
  tasks: RenderTask[],
  scratch: string,
): Promise<Buffer[]> {
  const out = await renderBlenderBatch({
    blender,
    blendPath,
    tasks,
    scratchDir: `${scratch}/local`,
    threads: 2,
    timeoutMs: 280_000,
  });
  return out.map((o) => o.png);
}
