/**
 * The explorer's frame thumbnails (web/src/views/renderFrames.ts, web/src/exrThumbnail.ts) read the
 * image out of a render output's safetensors bytes in the browser, without the protocol code: the
 * same bytes the agent writes must give back the same PNG, and an EXR output the same 8-bit
 * pixels as the coordinator's tone map (protocol/renderExr.ts `toneMapExr`), and an EXR the
 * coordinator refuses (a zip bomb, hidden blocks, a lying header) is refused before parse-exr runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { renderOutputTensors, renderRegionOutputTensors } from '../src/protocol/render.ts';
import { decodeExr, encodeExr, exrHeader, toneMapExr } from '../src/protocol/renderExr.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { checkExr } from '../web/src/exrCheck.ts';
import { exrThumbnail, imageOfSafetensors } from '../web/src/exrThumbnail.ts';

test('the explorer finds the png tensor of a render output', () => {
  const png = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  assert.deepEqual(imageOfSafetensors(encodeSafetensors(renderOutputTensors(png))), { png });
  assert.deepEqual(imageOfSafetensors(encodeSafetensors(renderRegionOutputTensors(png, [1, 2, 17, 14]))), {
    png,
  });
  const other = encodeSafetensors({ x: { dtype: 'float32', shape: [2], data: new Float32Array(2) } });
  assert.throws(() => imageOfSafetensors(other), /no png or exr tensor/);
  assert.throws(() => imageOfSafetensors(new Uint8Array(16).fill(255)), /not a safetensors file/);
});

test('an EXR output is thumbnailed as the coordinator tone-maps it; another size is refused', () => {
  const width = 20;
  const height = 13;
  const rgba = new Float32Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      rgba.set(
        [(x / width) * 3, y / height, x === y ? Number.NaN : -0.5 + x / 10, x / width],
        (y * width + x) * 4,
      );
  const exr = encodeExr({ width, height, rgba });
  const image = imageOfSafetensors(encodeSafetensors(renderOutputTensors(exr, 'exr')));
  assert.ok('exr' in image, "'exr' in image");
  const px = exrThumbnail(image.exr, width, height);
  assert.deepEqual(Array.from(px.data), Array.from(toneMapExr({ width, height, rgba }).data));
  assert.throws(() => exrThumbnail(image.exr, width, height + 1), /not 20×14/);
});

/** `exr` (ZIPS-free, one-line blocks) re-written as ZIP (16-line blocks) holding `blockBytes(b, raw)`. */
function asZip(exr: Uint8Array, blockBytes: (b: number, raw: number) => Buffer): Uint8Array {
  const h = exrHeader(exr)!;
  const header = Buffer.from(exr.subarray(0, h.tableOffset));
  header[header.indexOf(Buffer.from('compression\0compression\0', 'latin1')) + 28] = 3;
  const blocks = Math.ceil(h.size.height / 16);
  const table = Buffer.alloc(blocks * 8);
  const chunks: Buffer[] = [];
  let at = header.length + table.length;
  for (let b = 0; b < blocks; b++) {
    const data = blockBytes(b, Math.min(16, h.size.height - b * 16) * h.size.width * h.pixelBytes);
    const head = Buffer.alloc(8);
    head.writeInt32LE(b * 16, 0);
    head.writeInt32LE(data.length, 4);
    table.writeBigUInt64LE(BigInt(at), b * 8);
    chunks.push(head, data);
    at += 8 + data.length;
  }
  return new Uint8Array(Buffer.concat([header, table, ...chunks]));
}

test('the explorer refuses what the coordinator refuses, before parse-exr decodes anything', () => {
  const width = 16;
  const height = 20;
  const exr = encodeExr({ width, height, rgba: new Float32Array(width * height * 4).fill(0.25) });
  const honest = asZip(exr, (_b, raw) => deflateSync(Buffer.alloc(raw, 7)));
  const h = exrHeader(honest)!;
  const tableEnd = h.tableOffset + 2 * 8;
  // Blocks the table does not point at, straight after it (what parse-exr reads, in file order).
  const bombBlock = (y: number) => {
    const data = deflateSync(Buffer.alloc(8 << 20));
    const head = Buffer.alloc(8);
    head.writeInt32LE(y, 0);
    head.writeInt32LE(data.length, 4);
    return Buffer.concat([head, data]);
  };
  const hidden = Buffer.concat([bombBlock(0), bombBlock(16)]);
  const table = Buffer.from(honest.subarray(h.tableOffset, tableEnd));
  for (let b = 0; b < 2; b++)
    table.writeBigUInt64LE(table.readBigUInt64LE(b * 8) + BigInt(hidden.length), b * 8);
  const lying = Buffer.from(exr);
  lying.writeInt32LE(2, lying.indexOf(Buffer.from('compression\0compression\0', 'latin1')) + 24);
  const tiled = exr.slice();
  tiled[5] = 0x02;
  const refused: [string, Uint8Array][] = [
    [
      'a zip bomb in its own blocks (each inflates 8 MiB)',
      asZip(exr, () => deflateSync(Buffer.alloc(8 << 20))),
    ],
    [
      'a bomb hidden before the blocks the table points at',
      new Uint8Array(
        Buffer.concat([honest.subarray(0, h.tableOffset), table, hidden, honest.subarray(tableEnd)]),
      ),
    ],
    ['bytes after the last block', new Uint8Array(Buffer.concat([honest, Buffer.alloc(16)]))],
    ['a block that inflates short', asZip(exr, (_b, raw) => deflateSync(Buffer.alloc(raw - 1)))],
    ['a fixed-size attribute declared longer', new Uint8Array(lying)],
    ['a tiled file', tiled],
    ['not an EXR', new Uint8Array(64)],
  ];
  assert.deepEqual(checkExr(honest), { width, height });
  assert.equal(exrThumbnail(honest, width, height).width, width, 'an honest ZIP EXR is drawn');
  for (const [name, bad] of refused) {
    const started = Date.now();
    assert.throws(() => decodeExr(bad), `the coordinator refuses ${name}`);
    assert.throws(() => exrThumbnail(bad, width, height), `the explorer refuses ${name}`);
    assert.ok(Date.now() - started < 10_000, `${name}: refused without inflating it`);
  }
});
