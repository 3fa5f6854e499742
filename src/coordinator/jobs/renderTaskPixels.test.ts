// Render outputs are decoded on the coordinator's thread, so one task's pixels are capped at intake
// (security review 2026-12-07: a 1.6 MB ZIP EXR of a 16384×16384 frame decoded to about 9 GB).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RENDER_TASK_PIXELS } from '../../protocol/render.ts';
import { decodeExr, encodeExr } from '../../protocol/renderExr.ts';
import type { BlenderRenderSpec } from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import { checkRenderJob } from './checkRenderJob.ts';

const noBlobs = {} as BlobStore; // the checks under test refuse before any blob is read

function spec(width: number, height: number, tiles = { x: 1, y: 1 }): BlenderRenderSpec {
  return {
    kind: 'blender.render',
    model: 'bafy-model',
    inputs: [],
    render: { frameStart: 1, frameEnd: 1, width, height, samples: 1, seed: 0, tiles, format: 'exr' },
  } as unknown as BlenderRenderSpec;
}

/** The PLX_VALIDATION message checkRenderJob throws for a spec (every spec here fails somewhere). */
async function refusal(s: BlenderRenderSpec): Promise<{ message: string; path?: unknown }> {
  try {
    await checkRenderJob(noBlobs, s);
  } catch (err) {
    const e = err as { code?: string; message: string; details?: { path?: unknown } };
    assert.equal(e.code, 'PLX_VALIDATION', e.message);
    return { message: e.message, path: e.details?.path };
  }
  assert.fail('checkRenderJob accepted a spec with no inputs');
}

test('a render task over 4096×4096 pixels is refused at intake; tiling the frame admits it', async () => {
  assert.equal(MAX_RENDER_TASK_PIXELS, 4096 * 4096);
  // The review's frame: 16384×16384 in one task.
  const whole = await refusal(spec(16_384, 16_384));
  assert.equal(whole.path, 'spec.render.tiles');
  assert.match(
    whole.message,
    /16384×16384 pixels is over 16777216 \(4096×4096\): split each frame into at least 16 tiles/,
  );
  // 4×4 tiles of 4096×4096 pass the pixel check (and fail later, on the missing task descriptors).
  assert.match((await refusal(spec(16_384, 16_384, { x: 4, y: 4 }))).message, /spec\.inputs must be/);
  // Uneven tiles: the largest is ⌈w/x⌉×⌈h/y⌉ (4097×4096 here), one pixel over.
  assert.equal((await refusal(spec(8193, 8192, { x: 2, y: 2 }))).path, 'spec.render.tiles');
  // What the docs, demo and tests render stays one task a frame: 1920×1080, 3840×2160 (4K UHD).
  for (const [w, h] of [
    [1920, 1080],
    [3840, 2160],
    [4096, 4096],
  ] as const)
    assert.match((await refusal(spec(w, h))).message, /spec\.inputs must be/, `${w}×${h}`);
});

test('decodeExr flips rows in place and reads a view into a larger buffer without changing it', () => {
  const width = 7;
  const height = 5; // odd: the middle row stays
  const rgba = new Float32Array(width * height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i % 97) / 8;
  const file = encodeExr({ width, height, rgba });
  // As a safetensors blob holds it: the image is a view at an offset into a larger buffer.
  const blob = new Uint8Array(file.length + 24);
  blob.set(file, 24);
  const before = Buffer.from(blob);
  for (const exr of [file, blob.subarray(24)]) {
    const img = decodeExr(exr);
    assert.deepEqual([img.width, img.height], [width, height]);
    assert.deepEqual(img.rgba, rgba, 'top row first, every value as encoded');
  }
  assert.ok(before.equals(Buffer.from(blob)), 'the blob is not modified');
});
