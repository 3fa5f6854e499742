/**
 * Perceptual comparison of two renders of one task. Cycles is not bit-exact across machines (or
 * thread counts), so renders are compared as images: SSIM (ssim.js, on luminance, no downsampling
 * so sampling noise counts) and PSNR over RGB, each against a threshold calibrated on honest
 * renders (docs/render.md, `npm run bench -- render`). Both must pass.
 */
import { createCanvas, Image } from '@napi-rs/canvas';
import ssimModule from 'ssim.js';
import {
  RENDER_REGION_TENSOR,
  type RenderFormat,
  type RenderTask,
  renderImageParts,
  renderImageSize,
} from '../../protocol/render.ts';
import { decodeExr, toneMapExr, toneMapExrHighlights } from '../../protocol/renderExr.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';

/** Least SSIM of two honest renders of a task (calibration: docs/render.md). */
export const RENDER_MIN_SSIM = 0.97;
/** Least PSNR (dB) of two honest renders of a task over RGB. */
export const RENDER_MIN_PSNR_DB = 30;
/**
 * Least SSIM of an honest region audit against the same crop of the task's image. Over a few
 * percent of the pixels SSIM is unsteady (a flat patch of sky: honest pairs down to 0.993, and
 * another scene's sky up to 0.999), so for regions PSNR is the gate and SSIM only a floor
 * (calibration: docs/render.md, docs/benchmarks.md "render").
 */
export const RENDER_REGION_MIN_SSIM = 0.98;
/**
 * Least PSNR (dB) of an honest region audit against the same crop of the task's image: honest
 * region pairs scored ≥ 51.6 dB here, the best region of any cheat 42.1 dB (half resolution).
 */
export const RENDER_REGION_MIN_PSNR_DB = 45;

/**
 * RGBA pixels of an image; for an EXR render also its highlight copy (`toneMapExrHighlights`, the
 * same size), compared as well wherever both sides have one.
 */
export type Pixels = {
  data: Uint8ClampedArray;
  width: number;
  height: number;
  highlights?: { data: Uint8ClampedArray; width: number; height: number };
};

/** The pixels of `crop` (`[x0, y0, x1, y1]`, x1/y1 exclusive) of an image. */
export function cropPixels(img: Pixels, crop: RenderTask['region']): Pixels {
  const plain = cropPlain(img, crop);
  return img.highlights ? { ...plain, highlights: cropPlain(img.highlights, crop) } : plain;
}

function cropPlain(
  img: { data: Uint8ClampedArray; width: number; height: number },
  crop: RenderTask['region'],
): { data: Uint8ClampedArray; width: number; height: number } {
  const [x0, y0, x1, y1] = crop;
  const width = x1 - x0;
  const height = y1 - y0;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * img.width + x0) * 4;
    data.set(img.data.subarray(from, from + width * 4), y * width * 4);
  }
  return { data, width, height };
}

const ssim = (ssimModule as unknown as { ssim: typeof ssimModule.ssim }).ssim ?? ssimModule;

/** RGBA pixels of a PNG (throws on anything that is not an image). */
export function decodePng(png: Uint8Array): { data: Uint8ClampedArray; width: number; height: number } {
  const img = new Image();
  img.src = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!img.complete || img.width === 0 || img.height === 0) throw new Error('not a decodable image');
  const canvas = createCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const { data } = ctx.getImageData(0, 0, img.width, img.height);
  return { data, width: img.width, height: img.height };
}

/**
 * The 8-bit RGBA pixels a render output is compared by: a PNG decoded, an EXR decoded
 * (renderExr.ts checks every block against its header first) and tone-mapped (`toneMapExr`:
 * clamped to [0, 1], sRGB-encoded), with its highlight copy (`toneMapExrHighlights`: 4 stops
 * darker, soft-clipped, so values above 1.0 count too), the same way for every output. Read the
 * size from the header (`renderImageSize`) before calling this.
 *
 * @example const pixels = decodeRenderImage(image, 'exr');
 */
export function decodeRenderImage(image: Uint8Array, format: RenderFormat): Pixels {
  if (format !== 'exr') return decodePng(image);
  const img = decodeExr(image);
  return { ...toneMapExr(img), highlights: toneMapExrHighlights(img) };
}

/**
 * How alike two images are.
 *
 * @example const { ssim, psnrDb } = imageScores(decodePng(a), decodePng(b));
 */
export function imageScores(
  a: { data: Uint8ClampedArray; width: number; height: number },
  b: { data: Uint8ClampedArray; width: number; height: number },
): { ssim: number; psnrDb: number } {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    if (i % 4 === 3) continue; // alpha
    const d = a.data[i]! - b.data[i]!;
    se += d * d;
  }
  const mse = se / ((a.data.length / 4) * 3);
  const psnrDb = mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
  const s = ssim(a, b, { downsample: false }).mssim;
  return { ssim: s, psnrDb };
}

/**
 * Whether two render outputs show the same image within the thresholds, with the reason when not.
 * When one of them is a region audit (it carries the crop it shows: protocol/render.ts), it is
 * compared with that crop of the other under the region thresholds; two region outputs, or a crop
 * outside the other image, never agree.
 *
 * @example const { ok, reasons } = compareRenderOutputs(a, b);
 */
export function compareRenderOutputs(
  a: TensorSet,
  b: TensorSet,
  thresholds?: { minSsim: number; minPsnrDb: number },
): { ok: boolean; reasons: string[]; ssim?: number; psnrDb?: number } {
  let ia: Pixels;
  let ib: Pixels;
  let crop: RenderTask['region'] | undefined;
  try {
    const pa = renderImageParts(a);
    const pb = renderImageParts(b);
    if (pa.crop && pb.crop) return { ok: false, reasons: ['two region audits are not a comparison'] };
    if (pa.format !== pb.format) return { ok: false, reasons: [`format ${pa.format} ≠ ${pb.format}`] };
    crop = pa.crop ?? pb.crop;
    // Sizes from the headers first: images that cannot match are never decoded.
    const [sa, sb] = [renderImageSize(pa.image, pa.format), renderImageSize(pb.image, pb.format)];
    if (!sa || !sb) return { ok: false, reasons: [`not a render output: not a ${pa.format.toUpperCase()}`] };
    if (!crop && (sa.width !== sb.width || sa.height !== sb.height))
      return { ok: false, reasons: [`size ${sa.width}×${sa.height} ≠ ${sb.width}×${sb.height}`] };
    if (
      crop &&
      !(crop[2] - crop[0] === (pa.crop ? sa : sb).width && crop[3] - crop[1] === (pa.crop ? sa : sb).height)
    )
      return {
        ok: false,
        reasons: [
          `region ${crop.join(',')} is not ${(pa.crop ? sa : sb).width}×${(pa.crop ? sa : sb).height}`,
        ],
      };
    ia = decodeRenderImage(pa.image, pa.format);
    ib = decodeRenderImage(pb.image, pb.format);
    if (pa.crop) [ia, ib] = [ib, ia]; // ia: the whole task's image, ib: the region when there is one
  } catch (err) {
    return { ok: false, reasons: [`not a render output: ${(err as Error).message}`] };
  }
  return compareRenderPixels(ia, ib, crop, thresholds);
}

/**
 * compareRenderOutputs on decoded images: `whole` a task's image, `other` another whole image of
 * it, or with `crop` the region audit's image of that crop.
 *
 * @example compareRenderPixels(decodePng(a), decodePng(region), [8, 4, 24, 16]).ok
 */
export function compareRenderPixels(
  whole: Pixels,
  other: Pixels,
  crop?: RenderTask['region'],
  thresholds?: { minSsim: number; minPsnrDb: number },
): { ok: boolean; reasons: string[]; ssim?: number; psnrDb?: number } {
  let ia = whole;
  const ib = other;
  if (crop) {
    const [x0, y0, x1, y1] = crop;
    if (
      !(
        x0 >= 0 &&
        y0 >= 0 &&
        x1 <= ia.width &&
        y1 <= ia.height &&
        x1 - x0 === ib.width &&
        y1 - y0 === ib.height
      )
    )
      return {
        ok: false,
        reasons: [
          `region ${crop.join(',')} (${ib.width}×${ib.height}) is not inside ${ia.width}×${ia.height}`,
        ],
      };
    ia = cropPixels(ia, crop);
  }
  if (ia.width !== ib.width || ia.height !== ib.height) {
    return { ok: false, reasons: [`size ${ia.width}×${ia.height} ≠ ${ib.width}×${ib.height}`] };
  }
  const t =
    thresholds ??
    (crop
      ? { minSsim: RENDER_REGION_MIN_SSIM, minPsnrDb: RENDER_REGION_MIN_PSNR_DB }
      : { minSsim: RENDER_MIN_SSIM, minPsnrDb: RENDER_MIN_PSNR_DB });
  const where = crop ? ` (region ${crop.join(',')})` : '';
  const reasons: string[] = [];
  let { ssim: s, psnrDb } = imageScores(ia, ib);
  if (!(s >= t.minSsim)) reasons.push(`ssim ${s.toFixed(4)} < ${t.minSsim}${where}`);
  if (!(psnrDb >= t.minPsnrDb)) reasons.push(`psnr ${psnrDb.toFixed(1)} dB < ${t.minPsnrDb}${where}`);
  // EXR: the highlight copies must agree under the same thresholds (values above 1.0 clip to
  // white in the standard map); the scores reported are the lower of the two.
  if (ia.highlights && ib.highlights) {
    const h = imageScores(ia.highlights, ib.highlights);
    if (!(h.ssim >= t.minSsim)) reasons.push(`highlights: ssim ${h.ssim.toFixed(4)} < ${t.minSsim}${where}`);
    if (!(h.psnrDb >= t.minPsnrDb))
      reasons.push(`highlights: psnr ${h.psnrDb.toFixed(1)} dB < ${t.minPsnrDb}${where}`);
    s = Math.min(s, h.ssim);
    psnrDb = Math.min(psnrDb, h.psnrDb);
  }
  return { ok: reasons.length === 0, reasons, ssim: s, psnrDb };
}

/**
 * Whether an output is a region audit's (a part of the task's image): never the output a verdict
 * accepts for the client.
 *
 * @example if (isRegionRenderOutput(tensors)) preferAnother();
 */
export function isRegionRenderOutput(tensors: TensorSet | undefined): boolean {
  return tensors?.[RENDER_REGION_TENSOR] !== undefined;
}
