/**
 * Perceptual comparison of two renders of one task. Cycles is not bit-exact across machines (or
 * thread counts), so renders are compared as images: SSIM (ssim.js, on luminance, no downsampling
 * so sampling noise counts) and PSNR over RGB, each against a threshold calibrated on honest
 * renders (docs/render.md, `npm run bench -- render`). Both must pass.
 */
import { createCanvas, Image } from '@napi-rs/canvas';
import ssimModule from 'ssim.js';
import { pngOfRenderOutput } from '../../protocol/render.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';

/** Least SSIM of two honest renders of a task (calibration: docs/render.md). */
export const RENDER_MIN_SSIM = 0.97;
/** Least PSNR (dB) of two honest renders of a task over RGB. */
export const RENDER_MIN_PSNR_DB = 30;

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
 *
 * @example const { ok, reasons } = compareRenderOutputs(a, b);
 */
export function compareRenderOutputs(
  a: TensorSet,
  b: TensorSet,
  thresholds = { minSsim: RENDER_MIN_SSIM, minPsnrDb: RENDER_MIN_PSNR_DB },
): { ok: boolean; reasons: string[]; ssim?: number; psnrDb?: number } {
  let ia: ReturnType<typeof decodePng>;
  let ib: ReturnType<typeof decodePng>;
  try {
    ia = decodePng(pngOfRenderOutput(a));
    ib = decodePng(pngOfRenderOutput(b));
  } catch (err) {
    return { ok: false, reasons: [`not a render output: ${(err as Error).message}`] };
  }
  if (ia.width !== ib.width || ia.height !== ib.height) {
    return { ok: false, reasons: [`size ${ia.width}×${ia.height} ≠ ${ib.width}×${ib.height}`] };
  }
  const { ssim: s, psnrDb } = imageScores(ia, ib);
  const reasons: string[] = [];
  if (!(s >= thresholds.minSsim)) reasons.push(`ssim ${s.toFixed(4)} < ${thresholds.minSsim}`);
  if (!(psnrDb >= thresholds.minPsnrDb))
    reasons.push(`psnr ${psnrDb.toFixed(1)} dB < ${thresholds.minPsnrDb}`);
  return { ok: reasons.length === 0, reasons, ssim: s, psnrDb };
}
