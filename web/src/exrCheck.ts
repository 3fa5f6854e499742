/**
 * The coordinator's EXR checks (src/protocol/renderExr.ts `exrHeader`, `decodeExr`), in the browser,
 * run before parse-exr decodes a render output's thumbnail (docs/render.md, "Explorer"): a public
 * output is anyone's bytes, and parse-exr inflates every block it finds in file order with no limit,
 * so a small file could otherwise stall a viewer's tab or exhaust its memory. The explorer may import
 * only types from src/ (test/import-rules.test.ts), so this is a port without Node's Buffer and zlib:
 * ZIP blocks are inflated with fflate in 1 KiB slices of input and stopped as soon as they pass their
 * lines' bytes. test/renderFrames.test.ts feeds the same refused files to both.
 */
import { Unzlib } from 'fflate';

/** Compression codes accepted: none, ZIPS (1 line per block), ZIP (16 lines). */
const COMPRESSIONS = new Map([
  [0, 1],
  [2, 1],
  [3, 16],
]);

/** Fixed-size attribute types (parse-exr reads them by type, ignoring the declared size). */
const FIXED_SIZES = new Map([
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

/** The type each attribute read here must have (parse-exr keys attributes by name only). */
const REQUIRED_TYPES = new Map([
  ['channels', 'chlist'],
  ['compression', 'compression'],
  ['dataWindow', 'box2i'],
  ['lineOrder', 'lineOrder'],
]);

type Header = {
  width: number;
  height: number;
  pixelBytes: number;
  zip: boolean;
  blockLines: number;
  yMin: number;
  tableOffset: number;
};

/** The header of an EXR a render output may be (as `exrHeader`), or undefined. */
function header(exr: Uint8Array): Header | undefined {
  const view = new DataView(exr.buffer, exr.byteOffset, exr.byteLength);
  if (exr.length < 8 || view.getUint32(0, true) !== 20000630) return undefined;
  const version = view.getUint32(4, true);
  if ((version & 0xff) !== 2 || (version & ~0x4ff) !== 0) return undefined;
  let at = 8;
  const cString = (): string | undefined => {
    const end = exr.indexOf(0, at);
    if (end < 0 || end - at > 255) return undefined;
    let s = '';
    for (let i = at; i < end; i++) s += String.fromCharCode(exr[i]!);
    at = end + 1;
    return s;
  };
  let size: { width: number; height: number } | undefined;
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
    if (attributes.has(name)) return undefined;
    attributes.add(name);
    const required = REQUIRED_TYPES.get(name);
    if (required !== undefined && type !== required) return undefined;
    const fixed = FIXED_SIZES.get(type);
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
      if (at !== end - 1 || exr[at] !== 0) return undefined;
    } else if (name === 'lineOrder') {
      if (len !== 1 || exr[at] !== 0) return undefined;
    } else if (name === 'tiles') return undefined;
    at = end;
  }
  const blockLines = compression === undefined ? undefined : COMPRESSIONS.get(compression);
  if (!size || !blockLines || !names.has('R') || !names.has('G') || !names.has('B')) return undefined;
  return { ...size, pixelBytes, zip: compression !== 0, blockLines, yMin, tableOffset: at };
}

/** The bytes `data` (zlib) inflates to, stopped as soon as they pass `max`: at most `max + 1`. */
function inflatedLength(data: Uint8Array, max: number): number {
  let n = 0;
  const z = new Unzlib((chunk) => {
    n += chunk.length;
  });
  for (let i = 0; i < data.length && n <= max; i += 1024)
    z.push(data.subarray(i, i + 1024), i + 1024 >= data.length);
  return n;
}

/**
 * Throws unless `exr` is an EXR a render output may be, laid out as OpenEXR writes it, with every
 * block where the offset table says, naming its lines and holding (or inflating to) exactly their
 * bytes, the last one ending the file: what the coordinator checks before it lets parse-exr decode.
 * Returns the image's size.
 *
 * @example const { width, height } = checkExr(bytes); // then parse-exr
 */
export function checkExr(exr: Uint8Array): { width: number; height: number } {
  const h = header(exr);
  if (!h) throw new Error('not an EXR render output');
  const view = new DataView(exr.buffer, exr.byteOffset, exr.byteLength);
  const blocks = Math.ceil(h.height / h.blockLines);
  if (h.tableOffset + blocks * 8 > exr.length) throw new Error('EXR offset table is truncated');
  let next = h.tableOffset + blocks * 8;
  for (let b = 0; b < blocks; b++) {
    const off = Number(view.getBigUint64(h.tableOffset + b * 8, true));
    if (off !== next || off + 8 > exr.length) throw new Error(`EXR block ${b} is not where it must be`);
    const y = view.getInt32(off, true);
    const size = view.getInt32(off + 4, true);
    const lines = Math.min(h.blockLines, h.height - b * h.blockLines);
    const raw = lines * h.width * h.pixelBytes;
    if (y !== h.yMin + b * h.blockLines) throw new Error(`EXR block ${b} names line ${y}`);
    if (!(size >= 1 && size <= raw && off + 8 + size <= exr.length))
      throw new Error(`EXR block ${b} has ${size} bytes`);
    if (size < raw) {
      if (!h.zip) throw new Error(`EXR block ${b} is short`);
      let out: number;
      try {
        out = inflatedLength(exr.subarray(off + 8, off + 8 + size), raw);
      } catch {
        throw new Error(`EXR block ${b} does not inflate`);
      }
      if (out !== raw)
        throw new Error(`EXR block ${b} inflates to ${out > raw ? 'more than' : out} ${raw} bytes`);
    }
    next = off + 8 + size;
  }
  if (next !== exr.length) throw new Error('EXR has bytes after its last block');
  return { width: h.width, height: h.height };
}
