import { createCanvas } from '@napi-rs/canvas';
import type { Tensor } from '../protocol/safetensors.ts';

/** Lines of text the demo draws, one image each. */
export const DEMO_TEXTS = [
  'Plexus shares idle GPUs',
  'Verified work earns PLX',
  'PP-OCRv4 on a DePIN',
  'Hello from the devnet 2026',
  'Commit reveal audit settle',
  'Inference for everyone',
];

/** PaddleOCR's detection normalisation (ImageNet mean and std on 0..1 pixels). */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/**
 * Draws `text` on a white canvas and turns it into the PP-OCRv4 detection input: a float32
 * tensor [1, 3, H, W] (H and W multiples of 32, as the model's strides need), normalised per channel.
 *
 * @example const x = textImageTensor('Hello', 7); // { dtype: 'float32', shape: [1, 3, 96, 640], … }
 */
export function textImageTensor(text: string, seed: number, width = 640, height = 96): Tensor {
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = ['#111111', '#1a237e', '#4a148c', '#263238'][seed % 4]!;
  ctx.font = `${36 + (seed % 3) * 4}px sans-serif`;
  ctx.fillText(text, 16 + (seed % 5) * 6, height / 2 + 14);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) data[c * plane + i] = (rgba[i * 4 + c]! / 255 - MEAN[c]!) / STD[c]!;
  }
  return { dtype: 'float32', shape: [1, 3, height, width], data };
}

/**
 * Share of pixels the detector marks as text (probability > 0.3, PaddleOCR's default threshold):
 * a one-number summary that shows the model really found the drawn text.
 */
export function textPixelShare(probMap: Tensor): number {
  const d = probMap.data as Float32Array;
  let n = 0;
  for (const v of d) if (v > 0.3) n++;
  return d.length === 0 ? 0 : n / d.length;
}
