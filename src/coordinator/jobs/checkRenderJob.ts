/**
 * Intake checks of a `blender.render` job (the ONNX model and input checks do not apply): a sane
 * frame range and task count, tasks of at most MAX_RENDER_TASK_PIXELS (a larger frame is tiled), a `.blend` file (plain, gzip or zstd compressed), and inputs that
 * are exactly the task descriptors the spec implies (src/protocol/render.ts), so a task can never
 * ask a provider for another resolution, sample count or frame than the client signed.
 */
import { open } from 'node:fs/promises';
import { PlexusError } from '../../errors/PlexusError.ts';
import { MAX_INPUTS_PER_JOB } from '../../protocol/constants.ts';
import { MAX_RENDER_TASK_PIXELS, renderInputCids } from '../../protocol/render.ts';
import type { BlenderRenderSpec } from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';

/** File signatures of a .blend: `BLENDER`, gzip (Blender ≤ 2.9x) or zstd (3.0 and later). */
const BLEND_MAGICS = [
  Buffer.from('BLENDER'),
  Buffer.from([0x1f, 0x8b]),
  Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
];

/**
 * Throws PLX_VALIDATION (with the offending field) when the job cannot be what it says.
 *
 * @example await checkRenderJob(blobs, spec);
 */
export async function checkRenderJob(blobs: BlobStore, spec: BlenderRenderSpec): Promise<void> {
  const r = spec.render;
  if (r.frameEnd < r.frameStart) {
    throw new PlexusError(
      'PLX_VALIDATION',
      `spec.render: frameEnd ${r.frameEnd} is before frameStart ${r.frameStart}`,
      {
        details: { path: 'spec.render.frameEnd' },
      },
    );
  }
  const tasks = (r.frameEnd - r.frameStart + 1) * r.tiles.x * r.tiles.y;
  if (tasks > MAX_INPUTS_PER_JOB) {
    throw new PlexusError(
      'PLX_VALIDATION',
      `spec.render: ${tasks} tasks (frames × tiles) exceed ${MAX_INPUTS_PER_JOB}`,
    );
  }
  if (r.tiles.x > r.width || r.tiles.y > r.height) {
    throw new PlexusError('PLX_VALIDATION', 'spec.render.tiles: more tiles than pixels', {
      details: { path: 'spec.render.tiles' },
    });
  }
  // The largest tile is ⌈width/x⌉ × ⌈height/y⌉ (tile edges at ⌊i·size/n⌋, protocol/render.ts).
  const tileWidth = Math.ceil(r.width / r.tiles.x);
  const tileHeight = Math.ceil(r.height / r.tiles.y);
  if (tileWidth * tileHeight > MAX_RENDER_TASK_PIXELS) {
    const need = Math.ceil((r.width * r.height) / MAX_RENDER_TASK_PIXELS);
    throw new PlexusError(
      'PLX_VALIDATION',
      `spec.render.tiles: a task of ${tileWidth}×${tileHeight} pixels is over ${MAX_RENDER_TASK_PIXELS} (4096×4096): split each frame into at least ${need} tiles`,
      {
        details: {
          path: 'spec.render.tiles',
          taskPixels: tileWidth * tileHeight,
          max: MAX_RENDER_TASK_PIXELS,
        },
      },
    );
  }
  const expected = renderInputCids(r);
  if (spec.inputs.length !== expected.length || spec.inputs.some((cid, i) => cid !== expected[i])) {
    const index = spec.inputs.findIndex((cid, i) => cid !== expected[i]);
    throw new PlexusError(
      'PLX_VALIDATION',
      `spec.inputs must be the ${expected.length} render task descriptors of spec.render (src/protocol/render.ts)`,
      {
        details: {
          path: 'spec.inputs',
          expected: expected.length,
          got: spec.inputs.length,
          firstMismatch: index,
        },
      },
    );
  }
  const head = Buffer.alloc(8);
  const size = await blobs.size(spec.model);
  if (size === undefined) throw new PlexusError('PLX_UNKNOWN_BLOB', `model ${spec.model} was not uploaded`);
  if (size < 8) throw new PlexusError('PLX_VALIDATION', 'spec.model is not a .blend file (too short)');
  const fh = await open(await blobs.localPath(spec.model, size), 'r');
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  if (!BLEND_MAGICS.some((m) => head.subarray(0, m.length).equals(m))) {
    throw new PlexusError('PLX_VALIDATION', 'spec.model is not a .blend file', {
      details: { path: 'spec.model' },
    });
  }
}
