import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlexusError } from '../errors/PlexusError.ts';
import {
  decodeRenderTask,
  encodeRenderTask,
  pngOfRenderOutput,
  renderInputCids,
  renderOutputTensors,
  renderTasksOf,
} from './render.ts';

const params = {
  frameStart: 3,
  frameEnd: 5,
  width: 65,
  height: 47,
  samples: 16,
  seed: 0,
  tiles: { x: 3, y: 2 },
  format: 'png' as const,
};

test('tiles of a frame cover every pixel exactly once, frames in order', () => {
  const tasks = renderTasksOf(params);
  assert.equal(tasks.length, 3 * 6);
  assert.deepEqual([...new Set(tasks.map((t) => t.frame))], [3, 4, 5]);
  const hits = new Uint8Array(65 * 47);
  for (const t of tasks.filter((x) => x.frame === 4)) {
    const [x0, y0, x1, y1] = t.region;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) hits[y * 65 + x]!++;
  }
  assert.ok(
    hits.every((h) => h === 1),
    'hits.every((h) => h === 1)',
  );
});

test('descriptors round-trip canonically; their cids are what intake expects', () => {
  const [t] = renderTasksOf(params);
  assert.deepEqual(decodeRenderTask(encodeRenderTask(t!)), t);
  assert.equal(renderInputCids(params).length, 18);
  assert.notEqual(renderInputCids(params)[0], renderInputCids({ ...params, samples: 8 })[0]);
});

test('bad descriptors and outputs are PLX_VALIDATION', () => {
  const bad = (json: unknown) => () => decodeRenderTask(new TextEncoder().encode(JSON.stringify(json)));
  const t = renderTasksOf(params)[0]!;
  assert.throws(
    bad({ ...t, region: [0, 0, 66, 10] }),
    (e: unknown) => e instanceof PlexusError && e.code === 'PLX_VALIDATION',
  );
  assert.throws(
    bad({ ...t, extra: 1 }),
    (e: unknown) => e instanceof PlexusError && e.code === 'PLX_VALIDATION',
  );
  assert.throws(() => decodeRenderTask(new TextEncoder().encode('{')), /not JSON/);
  const png = new Uint8Array([1, 2, 3]);
  assert.deepEqual(pngOfRenderOutput(renderOutputTensors(png)), png);
  assert.throws(() => pngOfRenderOutput({}), /uint8 tensor "png"/);
});

test('an EXR job names its format in each descriptor; a PNG job’s descriptors are what they were', () => {
  const [png] = renderTasksOf(params);
  const [exr] = renderTasksOf({ ...params, format: 'exr' });
  assert.equal('format' in png!, false);
  assert.equal(
    new TextDecoder().decode(encodeRenderTask(png!)),
    '{"frame":3,"height":47,"region":[0,0,21,23],"samples":16,"seed":0,"v":1,"width":65}',
  );
  assert.equal(exr!.format, 'exr');
  assert.deepEqual(decodeRenderTask(encodeRenderTask(exr!)), exr);
  assert.notEqual(renderInputCids({ ...params, format: 'exr' })[0], renderInputCids(params)[0]);
  assert.throws(
    () => decodeRenderTask(new TextEncoder().encode(JSON.stringify({ ...png, format: 'tiff' }))),
    PlexusError,
  );
});
