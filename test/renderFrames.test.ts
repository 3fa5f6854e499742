/**
 * The explorer's frame thumbnails (web/src/views/renderFrames.ts, web/src/safetensorsPng.ts) read the PNG out of a render
 * output's safetensors bytes in the browser, without the protocol code: the same bytes the agent
 * writes must give back the same PNG.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderOutputTensors, renderRegionOutputTensors } from '../src/protocol/render.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { pngOfSafetensors } from '../web/src/safetensorsPng.ts';

test('the explorer finds the png tensor of a render output', () => {
  const png = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
  assert.deepEqual(pngOfSafetensors(encodeSafetensors(renderOutputTensors(png))), png);
  assert.deepEqual(pngOfSafetensors(encodeSafetensors(renderRegionOutputTensors(png, [1, 2, 17, 14]))), png);
  const other = encodeSafetensors({ x: { dtype: 'float32', shape: [2], data: new Float32Array(2) } });
  assert.throws(() => pngOfSafetensors(other), /no png tensor/);
  assert.throws(() => pngOfSafetensors(new Uint8Array(16).fill(255)), /not a safetensors file/);
});
