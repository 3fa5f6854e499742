/**
 * Thumbnails of `format: 'exr'` render outputs in the browser (docs/render.md, "EXR"), without the
 * protocol code (no DOM needed: tested in node against the coordinator's `toneMapExr`): the output's
 * `exr` tensor decoded with parse-exr and tone-mapped the way the coordinator compares EXR renders
 * and PNG jobs look — scene-linear RGB clamped to [0, 1], sRGB-encoded, 8 bits. The file passes the
 * coordinator's checks first (exrCheck.ts): parse-exr alone would inflate whatever blocks it finds.
 */
import parseExr from 'parse-exr';
import { checkExr } from './exrCheck.ts';

/** RGBA pixels, top row first. */
export type ThumbnailPixels = { data: Uint8ClampedArray<ArrayBuffer>; width: number; height: number };

/**
 * The image a render output carries: its uint8 tensor `png` or `exr`, from the safetensors bytes.
 *
 * @example const image = imageOfSafetensors(bytes); if ('exr' in image) draw(exrThumbnail(image.exr, 64, 48));
 */
export function imageOfSafetensors(bytes: Uint8Array): { png: Uint8Array } | { exr: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw new Error('not a safetensors file');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<
    string,
    { dtype?: string; data_offsets?: [number, number] }
  >;
  for (const name of ['png', 'exr'] as const) {
    const t = header[name];
    if (t?.dtype !== 'U8' || !t.data_offsets) continue;
    const [a, b] = t.data_offsets;
    const image = bytes.subarray(8 + headerLen + a, 8 + headerLen + b);
    return name === 'png' ? { png: image } : { exr: image };
  }
  throw new Error('no png or exr tensor');
}

/** sRGB transfer of a linear value clamped to [0, 1] (NaN → 0). */
function srgb(v: number): number {
  const x = v > 0 ? Math.min(v, 1) : 0;
  return x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
}

/**
 * The 8-bit thumbnail of an EXR render of `width`×`height` pixels (the tile's size from the job's
 * spec; another size throws, so an output is never drawn at a size it was not asked for; so does a
 * file the coordinator's checks refuse, before parse-exr sees it).
 *
 * @example ctx.putImageData(new ImageData(px.data, px.width, px.height), x, y);
 */
export function exrThumbnail(exr: Uint8Array, width: number, height: number): ThumbnailPixels {
  const size = checkExr(exr); // before anything is decoded
  if (size.width !== width || size.height !== height)
    throw new Error(`EXR of ${size.width}×${size.height}, not ${width}×${height}`);
  const parsed = parseExr(exr.slice().buffer as ArrayBuffer, 1015); // 1015: float output
  if (parsed.width !== width || parsed.height !== height || parsed.format !== 1023)
    throw new Error(`EXR of ${parsed.width}×${parsed.height}, not ${width}×${height}`);
  const src = parsed.data as Float32Array;
  const data = new Uint8ClampedArray(width * height * 4);
  // parse-exr writes rows bottom up (a texture's order): flip to top row first.
  for (let y = 0; y < height; y++)
    for (let i = 0; i < width * 4; i++) {
      const v = src[(height - 1 - y) * width * 4 + i]!;
      data[y * width * 4 + i] = Math.round((i % 4 === 3 ? (v > 0 ? Math.min(v, 1) : 0) : srgb(v)) * 255);
    }
  return { data, width, height };
}
