/**
 * OpenEXR render outputs (`format: 'exr'`, docs/render.md "EXR"): the header read without
 * decoding (`exrHeader`), a decode that first checks every scanline block against what the header
 * allows — no block inflates past its lines' bytes, so a small file cannot claim gigabytes — and
 * then decodes with parse-exr (three.js's EXRLoader), and the fixed tone map through which
 * EXR renders are compared as 8-bit images.
 */
import { inflateSync } from 'node:zlib';
import parseExr from 'parse-exr';

/** EXR compression codes the coordinator decodes: none, ZIPS (1 line per block), ZIP (16 lines). */
const EXR_COMPRESSIONS = new Map([
  [0, { name: 'none', lines: 1 }],
  [2, { name: 'zips', lines: 1 }],
  [3, { name: 'zip', lines: 16 }],
]);

/**
 * Byte sizes of the fixed-size attribute types. parse-exr reads these by type and ignores the
 * declared size, so a declared size that differs would show it a different header than ours (a
 * hidden compression or tiles attribute): such a file is refused.
 */
const FIXED_ATTRIBUTE_SIZES = new Map([
  ['box2i', 16],
  ['chromaticities', 32],
  ['compression', 1],
  ['envmap', 1],
  ['float', 4],
  ['int', 4],
  ['lineOrder', 1],
  ['rational', 8],
  ['tiledesc', 9],
  ['timecode', 8],
  ['v2f', 8],
  ['v3f', 12],
]);

/** The type each attribute this reader interprets must have (parse-exr keys attributes by name only). */
const REQUIRED_TYPES = new Map([
  ['channels', 'chlist'],
  ['compression', 'compression'],
  ['dataWindow', 'box2i'],
  ['lineOrder', 'lineOrder'],
]);

/** What the header of an acceptable render EXR says. */
export type ExrHeader = {
  size: { width: number; height: number };
  /** Bytes per pixel over all channels. */
  pixelBytes: number;
  compression: 'none' | 'zips' | 'zip';
  /** Scanlines per block. */
  blockLines: number;
  /** The data window's first line (scanline blocks name their first line in file coordinates). */
  yMin: number;
  /** Offset of the scanline offset table (the first byte after the header). */
  tableOffset: number;
};

/**
 * Reads an OpenEXR header without decoding any pixel (undefined when the file is not the kind of
 * EXR a render output may be): single-part scanline (no tiles, deep data or multiple parts),
 * channels R, G, B and optionally A, all half or all float, full resolution, compression none,
 * ZIPS or ZIP. Attribute names and sizes are bounded by the file's bytes, so this costs at most
 * one pass over the header.
 *
 * @example exrHeader(exr)?.size // { width: 64, height: 48 }
 */
export function exrHeader(exr: Uint8Array): ExrHeader | undefined {
  const view = new DataView(exr.buffer, exr.byteOffset, exr.byteLength);
  if (exr.length < 8 || view.getUint32(0, true) !== 20000630) return undefined;
  const version = view.getUint32(4, true);
  // Version 2; of the flags only "long names" (0x400): no tiles (0x200), deep (0x800), multi-part (0x1000).
  if ((version & 0xff) !== 2 || (version & ~0x4ff) !== 0) return undefined;
  let at = 8;
  const cString = (): string | undefined => {
    const end = exr.indexOf(0, at);
    if (end < 0 || end - at > 255) return undefined;
    const s = Buffer.from(exr.subarray(at, end)).toString('latin1');
    at = end + 1;
    return s;
  };
  let size: ExrHeader['size'] | undefined;
  let compression: number | undefined;
  let yMin = 0;
  let pixelBytes = 0;
  let channelType: number | undefined;
  const names = new Set<string>();
  const attributes = new Set<string>();
  for (;;) {
    const name = cString();
    if (name === undefined) return undefined;
    if (name === '') break;
    const type = cString();
    if (type === undefined || at + 4 > exr.length) return undefined;
    const len = view.getInt32(at, true);
    at += 4;
    if (len < 0 || at + len > exr.length) return undefined;
    // One reading for every parser: no repeated attribute (parse-exr keeps the last), the type this
    // reader expects for the attributes it interprets, the fixed size for fixed-size types.
    if (attributes.has(name)) return undefined;
    attributes.add(name);
    const required = REQUIRED_TYPES.get(name);
    if (required !== undefined && type !== required) return undefined;
    const fixed = FIXED_ATTRIBUTE_SIZES.get(type);
    if (fixed !== undefined && len !== fixed) return undefined;
    const end = at + len;
    if (name === 'dataWindow' && type === 'box2i' && len === 16) {
      const [x0, y0, x1, y1] = [0, 4, 8, 12].map((o) => view.getInt32(at + o, true));
      const width = x1! - x0! + 1;
      const height = y1! - y0! + 1;
      if (!(width >= 1 && height >= 1 && width <= 16_384 && height <= 16_384)) return undefined;
      size = { width, height };
      yMin = y0!;
    } else if (name === 'compression' && type === 'compression' && len === 1) {
      compression = exr[at];
    } else if (name === 'channels' && type === 'chlist') {
      while (at < end && exr[at] !== 0) {
        const ch = cString();
        if (ch === undefined || at + 16 > end) return undefined;
        const pixelType = view.getInt32(at, true);
        const xs = view.getInt32(at + 8, true);
        const ys = view.getInt32(at + 12, true);
        at += 16;
        if (!['R', 'G', 'B', 'A'].includes(ch) || names.has(ch) || xs !== 1 || ys !== 1) return undefined;
        if ((pixelType !== 1 && pixelType !== 2) || (channelType !== undefined && pixelType !== channelType))
          return undefined;
        channelType = pixelType;
        names.add(ch);
        pixelBytes += pixelType * 2;
      }
      // The list ends with its terminating zero as the attribute's last byte, nothing after it.
      if (at !== end - 1 || exr[at] !== 0) return undefined;
    } else if (name === 'lineOrder') {
      if (len !== 1 || exr[at] !== 0) return undefined; // increasing y only
    } else if (name === 'tiles') return undefined;
    at = end;
  }
  const codec = compression === undefined ? undefined : EXR_COMPRESSIONS.get(compression);
  if (!size || !codec || !names.has('R') || !names.has('G') || !names.has('B')) return undefined;
  return {
    size,
    pixelBytes,
    compression: codec.name as ExrHeader['compression'],
    blockLines: codec.lines,
    yMin,
    tableOffset: at,
  };
}

/**
 * Decodes an EXR render output to float RGBA, top row first (throws when it is not an EXR the
 * coordinator accepts or a block is inconsistent with its header). Every block is checked before
 * parse-exr sees the file: it names the lines it must and holds (or, with ZIP, inflates to at most)
 * exactly those lines' bytes. The file must be laid out as OpenEXR writes it — the blocks one after
 * another straight after the offset table, in line order, the last ending the file — because
 * parse-exr reads the blocks in file order and ignores the table: blocks the table does not point
 * at (a zip bomb, or another image) would otherwise be decoded unchecked.
 *
 * @example const { width, height, rgba } = decodeExr(bytes);
 */
export function decodeExr(exr: Uint8Array): { width: number; height: number; rgba: Float32Array } {
  const h = exrHeader(exr);
  if (!h) throw new Error('not an EXR render output');
  const { width, height } = h.size;
  const view = new DataView(exr.buffer, exr.byteOffset, exr.byteLength);
  const blocks = Math.ceil(height / h.blockLines);
  if (h.tableOffset + blocks * 8 > exr.length) throw new Error('EXR offset table is truncated');
  let next = h.tableOffset + blocks * 8;
  for (let b = 0; b < blocks; b++) {
    const off = Number(view.getBigUint64(h.tableOffset + b * 8, true));
    if (off !== next || off + 8 > exr.length) throw new Error(`EXR block ${b} is not where it must be`);
    const y = view.getInt32(off, true);
    const size = view.getInt32(off + 4, true);
    const lines = Math.min(h.blockLines, height - b * h.blockLines);
    const raw = lines * width * h.pixelBytes;
    if (y !== h.yMin + b * h.blockLines) throw new Error(`EXR block ${b} names line ${y}`);
    if (!(size >= 1 && size <= raw && off + 8 + size <= exr.length))
      throw new Error(`EXR block ${b} has ${size} bytes`);
    if (size < raw) {
      if (h.compression === 'none') throw new Error(`EXR block ${b} is short`);
      const out = inflateSync(exr.subarray(off + 8, off + 8 + size), { maxOutputLength: raw });
      if (out.length !== raw) throw new Error(`EXR block ${b} inflates to ${out.length} bytes, not ${raw}`);
    }
    next = off + 8 + size;
  }
  if (next !== exr.length) throw new Error('EXR has bytes after its last block');
  // parse-exr reads from the start of an ArrayBuffer: copy only a view into a larger one.
  const whole = exr.byteOffset === 0 && exr.byteLength === exr.buffer.byteLength;
  const parsed = parseExr((whole ? exr.buffer : exr.slice().buffer) as ArrayBuffer, 1015); // 1015: float output
  if (parsed.width !== width || parsed.height !== height || parsed.format !== 1023)
    throw new Error('EXR decoded to another size');
  // parse-exr writes rows bottom up (a texture's order): flip to top row first, in place (a
  // second full-size copy was 16 bytes a pixel more on the coordinator's heap).
  const rgba = parsed.data as Float32Array;
  const row = new Float32Array(width * 4);
  for (let y = 0; y < height >> 1; y++) {
    const top = rgba.subarray(y * width * 4, (y + 1) * width * 4);
    const bottom = rgba.subarray((height - 1 - y) * width * 4, (height - y) * width * 4);
    row.set(top);
    top.set(bottom);
    bottom.set(row);
  }
  return { width, height, rgba };
}

/** A value clamped to [0, 1]; NaN → 0. */
const clamp01 = (v: number) => (v > 0 ? Math.min(v, 1) : 0);

/** The sRGB transfer function of a linear value clamped to [0, 1]. */
function srgb(v: number): number {
  const x = clamp01(v);
  return x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
}

/**
 * The display image through which EXR renders are compared (and previewed): scene-linear RGB
 * clamped to [0, 1], sRGB-encoded and rounded to 8 bits, alpha clamped — Blender's "Standard"
 * view transform, so an EXR render compares as the PNG of the same render would under it.
 *
 * @example const pixels = toneMapExr(decodeExr(bytes));
 */
export function toneMapExr(img: { width: number; height: number; rgba: Float32Array }): {
  data: Uint8ClampedArray;
  width: number;
  height: number;
} {
  const data = new Uint8ClampedArray(img.rgba.length);
  for (let i = 0; i < data.length; i++) {
    const v = img.rgba[i]!;
    data[i] = Math.round((i % 4 === 3 ? clamp01(v) : srgb(v)) * 255);
  }
  return { data, width: img.width, height: img.height };
}

/**
 * Stops by which the highlight copy of an EXR render (`toneMapExrHighlights`) is darkened before its
 * soft clip: a linear value of 16 maps to the middle of the copy's range.
 */
export const EXR_HIGHLIGHT_STOPS = 4;

/**
 * The highlight copy through which EXR renders are compared as well (docs/render.md, "EXR"): the
 * standard map clips every value above 1.0 to white, so a cheat confined to highlights (a clipped
 * or under-sampled sun, lamp or specular) would pass. Here scene-linear RGB is darkened by
 * `EXR_HIGHLIGHT_STOPS` stops, soft-clipped with `c / (1 + c)` (Reinhard: never saturates, so no
 * value above 1.0 is lost, and 1 → 69, 4 → 124, 16 → 188, 64 → 231 of 255), sRGB-encoded and
 * rounded to 8 bits; alpha as in `toneMapExr`. Pure.
 *
 * @example const highlights = toneMapExrHighlights(decodeExr(bytes));
 */
export function toneMapExrHighlights(img: { width: number; height: number; rgba: Float32Array }): {
  data: Uint8ClampedArray;
  width: number;
  height: number;
} {
  const scale = 2 ** -EXR_HIGHLIGHT_STOPS;
  const data = new Uint8ClampedArray(img.rgba.length);
  for (let i = 0; i < data.length; i++) {
    const v = img.rgba[i]!;
    if (i % 4 === 3) {
      data[i] = Math.round(clamp01(v) * 255);
      continue;
    }
    // NaN and negatives → 0, +∞ → 1 (clamp01 handles both after the soft clip).
    const c = v > 0 ? v * scale : 0;
    data[i] = Math.round(srgb(c === Number.POSITIVE_INFINITY ? 1 : c / (1 + c)) * 255);
  }
  return { data, width: img.width, height: img.height };
}

/**
 * Encodes float RGBA (top row first) as an uncompressed single-part scanline OpenEXR with float
 * channels A, B, G, R: what the client writes for frames stitched from tiles (every half value of
 * the tiles is exact in float) and the adversary harness for its made-up frames. Not a general
 * writer: no compression, no attributes beyond the required ones.
 *
 * @example await writeFile('frame-0001.exr', encodeExr({ width, height, rgba }));
 */
export function encodeExr(img: { width: number; height: number; rgba: Float32Array }): Uint8Array {
  const { width, height, rgba } = img;
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  const i32 = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    for (const [i, x] of v.entries()) b.writeInt32LE(x, i * 4);
    return b;
  };
  const f32 = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    for (const [i, x] of v.entries()) b.writeFloatLE(x, i * 4);
    return b;
  };
  const attr = (name: string, type: string, value: Buffer) =>
    parts.push(Buffer.from(`${name}\0${type}\0`, 'latin1'), i32(value.length), value);
  const channels = ['A', 'B', 'G', 'R'];
  attr(
    'channels',
    'chlist',
    Buffer.concat([
      ...channels.map((c) => Buffer.concat([Buffer.from(`${c}\0`, 'latin1'), i32(2, 0, 1, 1)])),
      Buffer.from([0]),
    ]),
  );
  attr('compression', 'compression', Buffer.from([0]));
  attr('dataWindow', 'box2i', i32(0, 0, width - 1, height - 1));
  attr('displayWindow', 'box2i', i32(0, 0, width - 1, height - 1));
  attr('lineOrder', 'lineOrder', Buffer.from([0]));
  attr('pixelAspectRatio', 'float', f32(1));
  attr('screenWindowCenter', 'v2f', f32(0, 0));
  attr('screenWindowWidth', 'float', f32(1));
  parts.push(Buffer.from([0]));
  const header = Buffer.concat([u32(20000630), u32(2), ...parts]);
  const lineBytes = 8 + width * 16;
  const table = Buffer.alloc(height * 8);
  const data = Buffer.alloc(height * lineBytes);
  const order = [3, 2, 1, 0]; // A, B, G, R from RGBA
  for (let y = 0; y < height; y++) {
    table.writeBigUInt64LE(BigInt(header.length + table.length + y * lineBytes), y * 8);
    const at = y * lineBytes;
    data.writeInt32LE(y, at);
    data.writeInt32LE(width * 16, at + 4);
    for (let c = 0; c < 4; c++)
      for (let x = 0; x < width; x++)
        data.writeFloatLE(rgba[(y * width + x) * 4 + order[c]!]!, at + 8 + (c * width + x) * 4);
  }
  return new Uint8Array(Buffer.concat([header, table, data]));
}
