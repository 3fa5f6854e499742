/**
 * The explorer's frame thumbnails (web/src/views/renderFrames.ts, web/src/exrThumbnail.ts) read the
 * image out of a render output's safetensors bytes in the browser, without the protocol code: the
 * same bytes the agent writes must give back the same PNG, and an EXR output the same 8-bit
 * pixels as the coordinator's tone map (protocol/renderExr.ts `toneMapExr`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderOutputTensors, renderRegionOutputTensors } from '../src/protocol/render.ts';
import { encodeExr, toneMapExr } from '../src/protocol/renderExr.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
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
