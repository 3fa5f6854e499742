import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlexusError } from '../../errors/PlexusError.ts';
import { cidOf } from '../../protocol/ids.ts';
import { decodeRenderTask, renderOutputTensors } from '../../protocol/render.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import type { BlenderInfo } from '../../runtimes/blender/probeBlender.ts';
import { renderBlender } from '../../runtimes/blender/renderBlender.ts';
import type { BlobCache } from '../cache/createBlobCache.ts';
import { cheatedPng, cheatedTask, cheatFor, type RenderCheat } from './renderCheats.ts';
import type { TaskOutput } from './runOnnxTask.ts';

/**
 * Runs one `blender.render` task: the `.blend` (`model`) and the task descriptor (`input`) come
 * from the blob cache; Blender renders the descriptor's region in a sandboxed child process
 * (runtimes/blender/renderBlender.ts); the PNG becomes the output tensor set `{ png }`.
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
  },
  task: { assignmentId: string; model: string; input: string; timeoutMs: number },
  signal?: AbortSignal,
): Promise<TaskOutput> {
  if (!deps.blender)
    throw new PlexusError('PLX_TASK_RUNTIME_ERROR', 'Blender is not installed on this provider');
  const [blend, input] = await Promise.all([
    deps.cache.acquire(task.model, signal),
    deps.cache.acquire(task.input, signal),
  ]);
  try {
    const desc = decodeRenderTask(await readFile(input.path));
    const plan = deps.cheat
      ? cheatedTask(deps.cheat, desc, blend.path)
      : { task: desc, blendPath: blend.path };
    const started = performance.now();
    const rendered = plan
      ? await renderBlender({
          blender: deps.blender,
          blendPath: plan.blendPath,
          task: plan.task,
          scratchDir: join(deps.scratchDir, `render-${task.assignmentId.slice(2, 18)}`),
          threads: deps.threads,
          timeoutMs: task.timeoutMs,
          ...(signal ? { signal } : {}),
        })
      : undefined;
    const cheat = deps.cheat ? cheatFor(deps.cheat, desc.frame).kind : undefined;
    const cheatReshapes = cheat === 'low-res' || cheat === 'black';
    const png = cheatReshapes ? cheatedPng(desc, rendered?.png) : rendered!.png;
    const bytes = encodeSafetensors(renderOutputTensors(png));
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
