/**
 * The region a render audit re-renders (docs/render.md, "Region audits"): a few percent of the
 * sampled task's pixels, placed by the audit seed, so that it is unknown until the seed is
 * revealed (after every verdict of its epoch: the primary has long committed) and then
 * recomputable by anyone, like the audit draw itself (auditSeeds.ts).
 */
import { type RenderTask, renderImageParts, renderImageSize } from '../../protocol/render.ts';
import {
  drawnAuditRegion,
  RENDER_AUDIT_FRACTION as FRACTION,
  grownOnce,
  isWholeTask,
} from '../../protocol/renderAuditDraw.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { cropPixels, decodeRenderImage, isRegionRenderOutput, type Pixels } from './compareRenders.ts';

/** Share of a task's pixels a region audit renders (at least 16×12 px; protocol/renderAuditDraw.ts). */
export const RENDER_AUDIT_FRACTION = FRACTION;

/**
 * Largest share of a region's pixels that may be one flat colour (within ±2 of its most common
 * colour in every channel) before the region grows. Over a patch both images share (sky, a plain
 * floor) any image agrees, so a region that is mostly such a patch says little: an eighth of the
 * samples passed ~0.3–0.9 % of the 16×12 region draws on a third of the test frames, all of them
 * top-corner regions, mostly sky (`npm run bench -- render-audit`).
 */
export const RENDER_AUDIT_MAX_FLAT_SHARE = 0.5;

/**
 * The audit region of `task` (frame pixels, inside its own region) for the task `taskId`, drawn
 * with the seed its audit draw used. With `primary` (the pixels of the output under audit, the
 * task's own region), a region mostly of one flat colour in it grows (twice the width and height
 * about its centre, clamped into the task) until it is not, or is the whole task: what is flat in
 * the primary's image costs a larger audit, never a smaller one, so painting flat over skimped
 * pixels only makes the audit see more of them; a constant (black) frame is audited whole.
 *
 * @example renderAuditRegion(seed, taskId, task, decodePng(primaryPng)) // [x0, y0, x1, y1]
 */
export function renderAuditRegion(
  seed: string,
  taskId: string,
  task: RenderTask,
  primary?: Pixels,
): RenderTask['region'] {
  // Pure geometry shared with validators, which re-derive it (protocol/renderAuditDraw.ts).
  const drawn = drawnAuditRegion(seed, taskId, task);
  return primary ? grownAuditRegion(task, drawn, primary) : drawn;
}

/**
 * The pixels a region grows over, from a primary's output: its image when the output is a whole
 * (not region) render whose header gives a size and which decodes; else undefined (the drawn
 * region is not grown; the comparison reports the output). Shared with validators, which re-derive
 * the growth step (validator/checkRenderRegions.ts).
 *
 * @example const pixels = primaryRenderPixels(decodeSafetensors(bytes));
 */
export function primaryRenderPixels(tensors: TensorSet | undefined): Pixels | undefined {
  if (!tensors || isRegionRenderOutput(tensors)) return undefined;
  try {
    const { image, format } = renderImageParts(tensors);
    if (!renderImageSize(image, format)) return undefined;
    return decodeRenderImage(image, format);
  } catch {
    return undefined; // not an image: the comparison says so
  }
}

/** `region` grown while the primary's crop of it is mostly one flat colour (see renderAuditRegion). */
export function grownAuditRegion(
  task: RenderTask,
  region: RenderTask['region'],
  primary: Pixels,
): RenderTask['region'] {
  const [tx0, ty0, tx1, ty1] = task.region;
  if (primary.width !== tx1 - tx0 || primary.height !== ty1 - ty0) return region; // compared as a mismatch
  let r = region;
  while (
    !isWholeTask(task, r) &&
    flatShare(cropPixels(primary, [r[0] - tx0, r[1] - ty0, r[2] - tx0, r[3] - ty0])) >
      RENDER_AUDIT_MAX_FLAT_SHARE
  )
    r = grownOnce(task, r);
  return r;
}

/** The share of pixels within ±2 (every channel) of the most common colour (binned by 4). */
export function flatShare(p: Pixels): number {
  const counts = new Map<number, number>();
  let mode = 0;
  let most = -1;
  for (let i = 0; i < p.data.length; i += 4) {
    const k = ((p.data[i]! >> 2) << 16) | ((p.data[i + 1]! >> 2) << 8) | (p.data[i + 2]! >> 2);
    const n = (counts.get(k) ?? 0) + 1;
    counts.set(k, n);
    if (n > most) [most, mode] = [n, i];
  }
  const [r, g, b] = [p.data[mode]!, p.data[mode + 1]!, p.data[mode + 2]!];
  let near = 0;
  for (let i = 0; i < p.data.length; i += 4) {
    if (
      Math.abs(p.data[i]! - r) <= 2 &&
      Math.abs(p.data[i + 1]! - g) <= 2 &&
      Math.abs(p.data[i + 2]! - b) <= 2
    )
      near++;
  }
  return near / (p.data.length / 4);
}
