/**
 * The `blender.render` task model shared by client, coordinator and agent: the task descriptors
 * a render job's `inputs` name (one per frame, or per tile of a frame), their canonical bytes, and
 * the output tensor set that carries a rendered PNG through the ordinary result machinery.
 */
import { z } from 'zod';
import { PlexusError } from '../errors/PlexusError.ts';
import { canonicalJson } from './canonicalJson.ts';
import { cidOf } from './ids.ts';
import { exrHeader } from './renderExr.ts';
import type { Tensor } from './safetensors.ts';
import type { BlenderRenderSpec } from './schemas.ts';
import type { TensorSet } from './tensorSet.ts';

/** Largest task descriptor a provider or the coordinator reads (they are ~100 bytes). */
export const MAX_RENDER_TASK_BYTES = 1024;

/**
 * Most pixels one render task (a frame, or a tile of one) may have: 4096×4096. The coordinator
 * decodes every compared output on its own thread (about 24 bytes a pixel for an EXR), so a frame
 * larger than this is split into tiles at intake (`--tiles`, docs/render.md): an uncapped
 * 16384×16384 task was a 1.6 MB ZIP EXR that decoded to about 9 GB.
 */
export const MAX_RENDER_TASK_PIXELS = 4096 * 4096;

/**
 * One render task: a frame, or the region of it `[x0, y0, x1, y1]` in pixels (origin top left,
 * x1 and y1 exclusive), at the job's resolution, samples and seed.
 */
export const renderTaskSchema = z.strictObject({
  v: z.literal(1),
  frame: z.int().min(0).max(1_048_574),
  width: z.int().min(4).max(16_384),
  height: z.int().min(4).max(16_384),
  samples: z.int().min(1).max(65_536),
  seed: z
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  region: z.tuple([z.int().min(0), z.int().min(0), z.int().min(1), z.int().min(1)]),
  /** Present only for EXR output (a PNG task's descriptor, and so its cid, is what it always was). */
  format: z.literal('exr').optional(),
});
export type RenderTask = z.infer<typeof renderTaskSchema>;

/** The render parameters of a job, as the spec carries them after defaults. */
export type RenderParams = BlenderRenderSpec['render'];

/**
 * The tasks a render job consists of, in job order: frames ascending, and within a frame its
 * tiles row by row from the top left (tile edges at ⌊i·size/n⌋, so tiles cover every pixel once).
 *
 * @example renderTasksOf({ frameStart: 1, frameEnd: 2, width: 64, height: 48, samples: 16, seed: 0, tiles: { x: 1, y: 1 }, format: 'png' }).length // 2
 */
export function renderTasksOf(r: RenderParams): RenderTask[] {
  const out: RenderTask[] = [];
  for (let frame = r.frameStart; frame <= r.frameEnd; frame++) {
    for (let ty = 0; ty < r.tiles.y; ty++) {
      for (let tx = 0; tx < r.tiles.x; tx++) {
        const region: RenderTask['region'] = [
          Math.floor((tx * r.width) / r.tiles.x),
          Math.floor((ty * r.height) / r.tiles.y),
          Math.floor(((tx + 1) * r.width) / r.tiles.x),
          Math.floor(((ty + 1) * r.height) / r.tiles.y),
        ];
        out.push({
          v: 1,
          frame,
          width: r.width,
          height: r.height,
          samples: r.samples,
          seed: r.seed,
          region,
          ...(r.format === 'exr' ? { format: 'exr' as const } : {}),
        });
      }
    }
  }
  return out;
}

/** The canonical bytes of a task descriptor (what the client uploads; its cid is the task's input). */
export function encodeRenderTask(t: RenderTask): Uint8Array {
  return new TextEncoder().encode(canonicalJson(t));
}

/** The input cids a render job must name, in order. */
export function renderInputCids(r: RenderParams): string[] {
  return renderTasksOf(r).map((t) => cidOf(encodeRenderTask(t)));
}

/**
 * Parses a task descriptor (PLX_VALIDATION when it is not one, or its region is outside the frame).
 *
 * @example decodeRenderTask(encodeRenderTask(task)) // task
 */
export function decodeRenderTask(bytes: Uint8Array): RenderTask {
  if (bytes.length > MAX_RENDER_TASK_BYTES)
    throw new PlexusError('PLX_VALIDATION', 'render task descriptor is too large');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new PlexusError('PLX_VALIDATION', 'render task descriptor is not JSON');
  }
  const parsed = renderTaskSchema.safeParse(json);
  if (!parsed.success)
    throw new PlexusError('PLX_VALIDATION', `render task: ${z.prettifyError(parsed.error)}`);
  const t = parsed.data;
  const [x0, y0, x1, y1] = t.region;
  if (x0 >= x1 || y0 >= y1 || x1 > t.width || y1 > t.height)
    throw new PlexusError('PLX_VALIDATION', `render task region ${t.region.join(',')} is outside the frame`);
  return t;
}

/** The name of the tensor that carries a render output's PNG bytes. */
export const RENDER_PNG_TENSOR = 'png';
/** The name of the tensor that carries a render output's OpenEXR bytes (`format: 'exr'` jobs). */
export const RENDER_EXR_TENSOR = 'exr';

/** A render output's image format: the tensor its bytes travel in. */
export type RenderFormat = 'png' | 'exr';

/** A rendered image as the output tensor set of its task (`{ png }` or `{ exr }`). */
export function renderOutputTensors(image: Uint8Array, format: RenderFormat = 'png'): TensorSet {
  const name = format === 'exr' ? RENDER_EXR_TENSOR : RENDER_PNG_TENSOR;
  return { [name]: { dtype: 'uint8', shape: [image.length], data: image } satisfies Tensor };
}

/**
 * The name of the tensor a region-audit output carries besides its image: which part of the task's
 * image it shows, `[x0, y0, x1, y1]` in pixels of the task's own output (int32, shape [4]).
 */
export const RENDER_REGION_TENSOR = 'region';

/**
 * The output of a region audit: the image of `crop` (relative to the task's output image) and the crop.
 *
 * @example renderRegionOutputTensors(png, [8, 4, 24, 16]).region.data // Int32Array [8, 4, 24, 16]
 */
export function renderRegionOutputTensors(
  image: Uint8Array,
  crop: RenderTask['region'],
  format: RenderFormat = 'png',
): TensorSet {
  return {
    ...renderOutputTensors(image, format),
    [RENDER_REGION_TENSOR]: { dtype: 'int32', shape: [4], data: Int32Array.from(crop) } satisfies Tensor,
  };
}

/**
 * The PNG of any render output and, for a region-audit output, the crop of the task's image it
 * shows (PLX_VALIDATION when the set is neither, or carries an EXR: renderImageParts reads both).
 *
 * @example const { png, crop } = renderOutputParts(tensors); // crop undefined for a whole task
 */
export function renderOutputParts(tensors: TensorSet): { png: Uint8Array; crop?: RenderTask['region'] } {
  const { image, format, crop } = renderImageParts(tensors);
  if (format !== 'png') throw new PlexusError('PLX_VALIDATION', 'a render output is one uint8 tensor "png"');
  return crop ? { png: image, crop } : { png: image };
}

/**
 * The image bytes of any render output (PNG or EXR, by its tensor's name) and, for a region-audit
 * output, the crop of the task's image it shows (PLX_VALIDATION when the set is none of these).
 *
 * @example const { image, format, crop } = renderImageParts(tensors);
 */
export function renderImageParts(tensors: TensorSet): {
  image: Uint8Array;
  format: RenderFormat;
  crop?: RenderTask['region'];
} {
  const r = tensors[RENDER_REGION_TENSOR];
  if (r === undefined) return imageOfRenderOutput(tensors);
  if (r.dtype !== 'int32' || r.shape.length !== 1 || r.shape[0] !== 4)
    throw new PlexusError('PLX_VALIDATION', 'a render region is one int32 tensor of 4');
  const { [RENDER_REGION_TENSOR]: _, ...rest } = tensors;
  const [x0, y0, x1, y1] = Array.from(r.data as Int32Array);
  return { ...imageOfRenderOutput(rest), crop: [x0!, y0!, x1!, y1!] };
}

/** The image bytes and format of a whole render output (PLX_VALIDATION when the set is not one). */
export function imageOfRenderOutput(tensors: TensorSet): { image: Uint8Array; format: RenderFormat } {
  const names = Object.keys(tensors);
  const name = names[0];
  const t = name === undefined ? undefined : tensors[name];
  if (
    names.length !== 1 ||
    (name !== RENDER_PNG_TENSOR && name !== RENDER_EXR_TENSOR) ||
    t?.dtype !== 'uint8' ||
    t.shape.length !== 1
  )
    throw new PlexusError('PLX_VALIDATION', 'a render output is one uint8 tensor "png" or "exr"');
  return { image: t.data as Uint8Array, format: name };
}

/**
 * The region a region audit of `task` renders, in frame pixels: about `fraction` of the task's
 * pixels (at least 16×12, so SSIM's 11-pixel window fits), placed by two uniform numbers `u`, `v`
 * in [0, 1) (verification/renderAuditRegion.ts draws them from the audit seed). The top-left
 * corner is drawn over `[x0 − w + 1, x1 − 1]` and clamped into the task, so that every pixel,
 * edges and corners included, lies in the region with probability at least
 * `w·h / ((W + w − 1)(H + h − 1))`: no part of a frame is safe to skimp on.
 *
 * @example auditRegionOf(task, 0.04, 0.5, 0.5) // [x0, y0, x1, y1] inside task.region
 */
export function auditRegionOf(
  task: RenderTask,
  fraction: number,
  u: number,
  v: number,
): RenderTask['region'] {
  const [tx0, ty0, tx1, ty1] = task.region;
  const W = tx1 - tx0;
  const H = ty1 - ty0;
  const side = Math.sqrt(fraction);
  const w = Math.min(W, Math.max(16, Math.round(W * side)));
  const h = Math.min(H, Math.max(12, Math.round(H * side)));
  const pick = (lo: number, n: number, size: number, r: number) => {
    const raw = lo - size + 1 + Math.floor(r * (n + size - 1));
    return Math.min(lo + n - size, Math.max(lo, raw));
  };
  const x = pick(tx0, W, w, u);
  const y = pick(ty0, H, h, v);
  return [x, y, x + w, y + h];
}

/** The PNG bytes of a render output (PLX_VALIDATION when the set is not one). */
export function pngOfRenderOutput(tensors: TensorSet): Uint8Array {
  const { image, format } = imageOfRenderOutput(tensors);
  if (format !== 'png') throw new PlexusError('PLX_VALIDATION', 'a render output is one uint8 tensor "png"');
  return image;
}

/**
 * Width and height from a PNG's IHDR chunk (bytes 16–23), or undefined when it is no PNG: read
 * before decoding, whose cost grows with the pixels a header claims, not with the file's bytes.
 *
 * @example pngSize(png) // { width: 64, height: 48 }
 */
export function pngSize(png: Uint8Array): { width: number; height: number } | undefined {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || signature.some((b, i) => png[i] !== b)) return undefined;
  if (Buffer.from(png.subarray(12, 16)).toString('latin1') !== 'IHDR') return undefined;
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Width and height of a render output image from its header, whichever its format (undefined
 * when it is not an image of that format the coordinator accepts): read before decoding.
 *
 * @example renderImageSize(exr, 'exr') // { width: 64, height: 48 }
 */
export function renderImageSize(
  image: Uint8Array,
  format: RenderFormat,
): { width: number; height: number } | undefined {
  return format === 'exr' ? exrHeader(image)?.size : pngSize(image);
}
