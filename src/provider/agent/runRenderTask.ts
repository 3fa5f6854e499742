import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlexusError } from '../../errors/PlexusError.ts';
import { cidOf } from '../../protocol/ids.ts';
import {
  decodeRenderTask,
  type RenderTask,
  renderOutputTensors,
  renderRegionOutputTensors,
} from '../../protocol/render.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import type { BlenderInfo } from '../../runtimes/blender/probeBlender.ts';
import { renderBlender } from '../../runtimes/blender/renderBlender.ts';
import type { BlenderPool } from '../../runtimes/blender/warmBlender.ts';
import type { BlobCache } from '../cache/createBlobCache.ts';
import { cheatedImage, cheatedTask, cheatFor, type RenderCheat } from './renderCheats.ts';
import type { TaskOutput } from './runOnnxTask.ts';

/**
 * Runs one `blender.render` task: the `.blend` (`model`) and the task descriptor (`input`) come
 * from the blob cache; Blender renders the descriptor's region in a sandboxed child process
 * (runtimes/blender/renderBlender.ts); the image becomes the output tensor set `{ png }` (or
 * `{ exr }` for an EXR task).
 * `cheat` is the adversary harness only.
 *
 * @example const out = await runRenderTask({ cache, blender, scratchDir, threads: 2 }, { model, input, timeoutMs }, signal);
 */
export async function runRenderTask(
  deps: {
    cache: Pick<BlobCache, 'acquire'>;
    blender: BlenderInfo | undefined;
    scratchDir: string;
    threads: number;
    cheat?: RenderCheat | undefined;
    /** Warm Blenders (warmBlender.ts); without, each task starts its own Blender. */
    pool?: BlenderPool | undefined;
  },
  task: {
    assignmentId: string;
    model: string;
    input: string;
    timeoutMs: number;
    /** A region audit: only this region of the task (frame pixels, inside the task's region). */
    region?: RenderTask['region'] | undefined;
  },
  signal?: AbortSignal,
): Promise<TaskOutput> {
  if (!deps.blender)
    throw new PlexusError('PLX_TASK_RUNTIME_ERROR', 'Blender is not installed on this provider');
  const [blend, input] = await Promise.all([
    deps.cache.acquire(task.model, signal),
    deps.cache.acquire(task.input, signal),
  ]);
  try {
    const whole = decodeRenderTask(await readFile(input.path));
    const desc = task.region ? { ...whole, region: auditedRegion(whole, task.region) } : whole;
    const cheat = deps.cheat ? cheatFor(deps.cheat, desc.frame) : undefined;
    const plan = cheat ? cheatedTask(cheat, desc, blend.path) : { task: desc, blendPath: blend.path };
    const started = performance.now();
    const rendered = plan
      ? await (deps.pool ? deps.pool.render.bind(deps.pool) : renderBlender)({
          blender: deps.blender,
          blendPath: plan.blendPath,
          task: plan.task,
          scratchDir: join(deps.scratchDir, `render-${task.assignmentId.slice(2, 18)}`),
          threads: deps.threads,
          timeoutMs: task.timeoutMs,
          ...(signal ? { signal } : {}),
        })
      : undefined;
    const cheatReshapes = cheat?.kind === 'low-res' || cheat?.kind === 'black';
    const image = cheatReshapes ? cheatedImage(desc, rendered?.png) : rendered!.png;
    const format = desc.format ?? 'png';
    const [x0, y0, x1, y1] = desc.region;
    const [tx, ty] = whole.region;
    const bytes = encodeSafetensors(
      task.region
        ? renderRegionOutputTensors(image, [x0 - tx, y0 - ty, x1 - tx, y1 - ty], format)
        : renderOutputTensors(image, format),
    );
    return {
      bytes,
      cid: cidOf(bytes),
      usage: rendered?.usage ?? {
        wallMs: Math.round(performance.now() - started),
        cpuMs: 0,
        peakRssBytes: 0,
      },
    };
  } finally {
    blend.release();
    input.release();
  }
}

/** The region a region audit asks for, checked to lie inside the task's own region. */
function auditedRegion(task: RenderTask, r: RenderTask['region']): RenderTask['region'] {
  const [x0, y0, x1, y1] = r;
  const [tx0, ty0, tx1, ty1] = task.region;
  const ok = [x0, y0, x1, y1].every(Number.isInteger) && x0 >= tx0 && y0 >= ty0 && x1 <= tx1 && y1 <= ty1;
  if (!ok || x0 >= x1 || y0 >= y1)
    throw new PlexusError('PLX_VALIDATION', `audit region ${r.join(',')} is not inside the task's region`);
  return [x0, y0, x1, y1];
}
