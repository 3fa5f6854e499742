/**
 * The render cheats of the adversary harness (`--behaviour render-…`, tests only): what a
 * dishonest renderer could hand in instead of the frame it was paid for. Applied while rendering,
 * so the cheater saves the work it pretends to have done.
 */
import { createCanvas, Image } from '@napi-rs/canvas';
import type { RenderTask } from '../../protocol/render.ts';
import { decodeExr, encodeExr } from '../../protocol/renderExr.ts';

/**
 * One way to cheat a render task.
 *
 * @example const c: RenderCheat = { kind: 'fewer-samples' };
 */
export type RenderCheat =
  /** An eighth of the samples paid for. */
  | { kind: 'fewer-samples' }
  /** Half the resolution, scaled up to the size asked for. */
  | { kind: 'low-res' }
  /** A black frame, nothing rendered. */
  | { kind: 'black' }
  /**
   * Another frame of the same animation: three frames earlier (later for frames 1–3), so that it
   * stays inside the animation (past its end an animation holds still, and frame + 3 of the
   * last frames would be the right image).
   */
  | { kind: 'other-frame' }
  /** The same frame of another scene (the `.blend` at `path`). */
  | { kind: 'other-scene'; path: string }
  /** Each cheat above in turn, by frame number (frame mod 5), the other scene at `path`. */
  | { kind: 'every'; path: string }
  /**
   * Each cheat above in turn, by the cheater's own count of render tasks (its n-th task: cheat
   * n mod 5), whichever frames or audits it gets; `turn` counts.
   */
  | { kind: 'each'; path: string; turn: number };

/** The cheats `every` cycles through, in order of frame mod 5. */
export const EVERY_CHEAT = ['fewer-samples', 'low-res', 'black', 'other-frame', 'other-scene'] as const;

/** The cheat a provider applies to `frame` (`every` and `each` resolve to one of the others; `each` counts a turn). */
export function cheatFor(
  cheat: RenderCheat,
  frame: number,
): Exclude<RenderCheat, { kind: 'every' } | { kind: 'each' }> {
  if (cheat.kind !== 'every' && cheat.kind !== 'each') return cheat;
  const n = cheat.kind === 'each' ? cheat.turn++ : frame;
  const kind = EVERY_CHEAT[n % EVERY_CHEAT.length]!;
  return kind === 'other-scene' ? { kind, path: cheat.path } : { kind };
}

/** Parses `render-fewer-samples`, …, `render-other-scene:PATH`; undefined for anything else. */
export function parseRenderCheat(value: string): RenderCheat | undefined {
  if (value.startsWith('render-other-scene:')) return { kind: 'other-scene', path: value.slice(19) };
  if (value.startsWith('render-every-cheat:')) return { kind: 'every', path: value.slice(19) };
  if (value.startsWith('render-each-cheat:')) return { kind: 'each', path: value.slice(18), turn: 0 };
  const kind = value.startsWith('render-') ? value.slice(7) : '';
  if (kind === 'fewer-samples' || kind === 'low-res' || kind === 'black' || kind === 'other-frame')
    return { kind };
  return undefined;
}

/** The task the cheater really renders, and the .blend it uses; undefined: renders nothing. */
export function cheatedTask(
  anyCheat: RenderCheat,
  task: RenderTask,
  blendPath: string,
): { task: RenderTask; blendPath: string } | undefined {
  const cheat = cheatFor(anyCheat, task.frame);
  switch (cheat.kind) {
    case 'fewer-samples':
      return { task: { ...task, samples: Math.max(1, Math.floor(task.samples / 8)) }, blendPath };
    case 'low-res': {
      const half = (n: number) => Math.max(1, Math.floor(n / 2));
      const [x0, y0, x1, y1] = task.region;
      return {
        task: {
          ...task,
          width: half(task.width),
          height: half(task.height),
          region: [half(x0), half(y0), Math.max(half(x0) + 1, half(x1)), Math.max(half(y0) + 1, half(y1))],
        },
        blendPath,
      };
    }
    case 'black':
      return undefined;
    case 'other-frame':
      return { task: { ...task, frame: task.frame > 3 ? task.frame - 3 : task.frame + 3 }, blendPath };
    case 'other-scene':
      return { task, blendPath: cheat.path };
  }
}

/** The cheat's PNG at the size of `task`'s region: scaled up (low-res) or a black image. */
export function cheatedPng(task: RenderTask, rendered: Uint8Array | undefined): Buffer {
  const [x0, y0, x1, y1] = task.region;
  const canvas = createCanvas(x1 - x0, y1 - y0);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, x1 - x0, y1 - y0);
  if (rendered) {
    const img = new Image();
    img.src = Buffer.from(rendered);
    ctx.drawImage(img, 0, 0, x1 - x0, y1 - y0);
  }
  return canvas.toBuffer('image/png');
}

/**
 * The cheat's image at the size of `task`'s region in the task's format: cheatedPng, or for an
 * EXR task a black float frame, or the half-resolution EXR scaled up (nearest pixel).
 */
export function cheatedImage(task: RenderTask, rendered: Uint8Array | undefined): Uint8Array {
  if (task.format !== 'exr') return cheatedPng(task, rendered);
  const [x0, y0, x1, y1] = task.region;
  const width = x1 - x0;
  const height = y1 - y0;
  const rgba = new Float32Array(width * height * 4);
  if (!rendered) {
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 1;
    return encodeExr({ width, height, rgba });
  }
  const small = decodeExr(rendered);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const sx = Math.min(small.width - 1, Math.floor((x * small.width) / width));
      const sy = Math.min(small.height - 1, Math.floor((y * small.height) / height));
      rgba.set(
        small.rgba.subarray((sy * small.width + sx) * 4, (sy * small.width + sx) * 4 + 4),
        (y * width + x) * 4,
      );
    }
  return encodeExr({ width, height, rgba });
}
