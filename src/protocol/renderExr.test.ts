import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { renderImageSize } from './render.ts';
import { decodeExr, encodeExr, exrHeader, toneMapExr } from './renderExr.ts';

/** A float image with a gradient and some values above 1. */
function image(width: number, height: number, scale = 1) {
  const rgba = new Float32Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      rgba.set([(scale * x) / width, (scale * y) / height, ((x * y) % 7) / 3, 1], i);
    }
  return { width, height, rgba };
}

/** `exr` re-written with compression ZIP (16-line blocks) whose blocks hold `blockBytes(b, raw)`. */
function asZip(exr: Uint8Array, blockBytes: (b: number, raw: number) => Buffer): Uint8Array {
  const h = exrHeader(exr)!;
  const header = Buffer.from(exr.subarray(0, h.tableOffset));
  header[header.indexOf(Buffer.from('compression\0compression\0', 'latin1')) + 28] = 3;
  const blocks = Math.ceil(h.size.height / 16);
  const table = Buffer.alloc(blocks * 8);
  const chunks: Buffer[] = [];
  let at = header.length + table.length;
  for (let b = 0; b < blocks; b++) {
    const lines = Math.min(16, h.size.height - b * 16);
    const data = blockBytes(b, lines * h.size.width * h.pixelBytes);
    const head = Buffer.alloc(8);
    head.writeInt32LE(b * 16, 0);
    head.writeInt32LE(data.length, 4);
    table.writeBigUInt64LE(BigInt(at), b * 8);
    chunks.push(head, data);
    at += 8 + data.length;
  }
  return new Uint8Array(Buffer.concat([header, table, ...chunks]));
}

test('encodeExr round-trips through parse-exr, top row first; the header gives the size', () => {
  const img = image(20, 13, 3);
  const exr = encodeExr(img);
  assert.deepEqual(exrHeader(exr)?.size, { width: 20, height: 13 });
  assert.deepEqual(renderImageSize(exr, 'exr'), { width: 20, height: 13 });
  const back = decodeExr(exr);
  assert.equal(back.width, 20);
  assert.deepEqual(Array.from(back.rgba), Array.from(img.rgba));
  // The tone map: clamped, sRGB-encoded (0.5 linear → 188).
  const px = toneMapExr({ width: 1, height: 1, rgba: Float32Array.from([0.5, 2, -1, 1]) });
  assert.deepEqual(Array.from(px.data), [188, 255, 0, 255]);
});

test('EXRs a render output may not be are refused from the header', () => {
  const exr = encodeExr(image(8, 8));
  assert.equal(exrHeader(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), undefined);
  const tiled = exr.slice();
  tiled[5] = 0x02; // version flags: tiled
  assert.equal(exrHeader(tiled), undefined);
  const depth = Buffer.from(exr);
  depth[depth.indexOf(Buffer.from('R\0', 'latin1'), 20)] = 'Z'.charCodeAt(0); // a channel Z
  assert.equal(exrHeader(depth), undefined);
  const piz = Buffer.from(exr);
  piz[piz.indexOf(Buffer.from('compression\0compression\0', 'latin1')) + 28] = 4;
  assert.equal(exrHeader(piz), undefined, 'PIZ is not accepted');
});

test('a ZIP block that inflates past its lines is refused before parse-exr decodes anything', () => {
  const exr = encodeExr(image(16, 20));
  const honest = asZip(exr, (_b, raw) => deflateSync(Buffer.alloc(raw, 7)));
  assert.equal(decodeExr(honest).width, 16);
  const bomb = asZip(exr, (_b, raw) => deflateSync(Buffer.alloc((raw + 64) << 20)));
  assert.ok(bomb.length < 2 << 20, `${bomb.length} bytes that inflate to 32 MiB`);
  assert.throws(() => decodeExr(bomb));
  // A header claiming 16384×16384 over a few bytes: the offset table is not there.
  const big = Buffer.from(exr);
  big.writeInt32LE(16_383, big.indexOf(Buffer.from('dataWindow\0box2i\0', 'latin1')) + 21 + 8);
  big.writeInt32LE(16_383, big.indexOf(Buffer.from('dataWindow\0box2i\0', 'latin1')) + 21 + 12);
  assert.deepEqual(exrHeader(big)?.size, { width: 16_384, height: 16_384 });
  assert.throws(() => decodeExr(big), /truncated/);
});

test('blocks the offset table does not point at are refused: parse-exr would decode them unchecked', () => {
  const exr = encodeExr(image(16, 20));
  const honest = asZip(exr, (_b, raw) => deflateSync(Buffer.alloc(raw, 7)));
  const h = exrHeader(honest)!;
  const tableEnd = h.tableOffset + Math.ceil(20 / 16) * 8;
  // Security review: a bomb straight after the table (what parse-exr reads, in file order) and the
  // honest blocks after it (what the table points at). Each bomb block inflates 64 MiB.
  const bombBlock = (y: number) => {
    const data = deflateSync(Buffer.alloc(64 << 20));
    const head = Buffer.alloc(8);
    head.writeInt32LE(y, 0);
    head.writeInt32LE(data.length, 4);
    return Buffer.concat([head, data]);
  };
  const hidden = Buffer.concat([bombBlock(0), bombBlock(16)]);
  const table = Buffer.from(honest.subarray(h.tableOffset, tableEnd));
  for (let b = 0; b < 2; b++)
    table.writeBigUInt64LE(table.readBigUInt64LE(b * 8) + BigInt(hidden.length), b * 8);
  const split = Buffer.concat([honest.subarray(0, h.tableOffset), table, hidden, honest.subarray(tableEnd)]);
  const started = Date.now();
  assert.throws(() => decodeExr(new Uint8Array(split)), /not where it must be/);
  assert.ok(Date.now() - started < 5_000, 'refused before anything is inflated');
  // Trailing bytes after the last block (another image parse-exr might see) are refused too.
  const trailing = Buffer.concat([honest, Buffer.alloc(16)]);
  assert.throws(() => decodeExr(new Uint8Array(trailing)), /after its last block/);
});

test('a header parse-exr would read differently is refused: sizes that lie, repeats, wrong types', () => {
  const exr = Buffer.from(encodeExr(image(8, 8)));
  assert.ok(exrHeader(exr), 'the honest header reads');
  const attr = (name: string, type: string) => exr.indexOf(Buffer.from(`${name}\0${type}\0`, 'latin1'));
  // compression declared 2 bytes long: parse-exr reads 1 and takes the next byte as the next attribute.
  const lying = Buffer.from(exr);
  lying.writeInt32LE(2, attr('compression', 'compression') + 24);
  assert.equal(exrHeader(lying), undefined);
  // A channel list with bytes after its terminator.
  const chlist = Buffer.from(exr);
  const at = attr('channels', 'chlist') + 16;
  chlist.writeInt32LE(chlist.readInt32LE(at) + 1, at);
  assert.equal(exrHeader(chlist), undefined);
  // The same attribute twice (parse-exr keeps the last one), and an attribute of another type.
  const header = exr.subarray(0, exrHeader(exr)!.tableOffset - 1);
  const compression = Buffer.from('compression\0compression\0\x01\0\0\0\x03', 'latin1');
  const twice = Buffer.concat([header, compression, Buffer.from([0])]);
  assert.equal(exrHeader(twice), undefined);
  const lineOrder = attr('lineOrder', 'lineOrder');
  const asInt = Buffer.from('lineOrder\0int\0\x04\0\0\0\0\0\0\0', 'latin1');
  const retyped = Buffer.concat([exr.subarray(0, lineOrder), asInt, exr.subarray(lineOrder + 25)]);
  assert.equal(exrHeader(retyped), undefined);
  // The same attribute with its own type reads (what makes the cases above refusals of the lie).
  const same = Buffer.from('lineOrder\0lineOrder\0\x01\0\0\0\0', 'latin1');
  assert.ok(
    exrHeader(Buffer.concat([exr.subarray(0, lineOrder), same, exr.subarray(lineOrder + 25)])),
    'exrHeader(Buffer.concat([exr.subarray(0, lineOrder), same, exr.subarray(lineOrder + 25)]))',
  );
});
