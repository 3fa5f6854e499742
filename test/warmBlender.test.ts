/**
 * Warm Blenders (src/runtimes/blender/warmBlender.ts) with real Blender: one process serves
 * several tasks of a scene with the same pixels as a one-shot render, billing the start to the
 * first task only; a time limit kills the process and the next task starts a fresh one.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compareRenderOutputs, decodePng } from '../src/coordinator/verification/compareRenders.ts';
import { type RenderTask, renderOutputTensors } from '../src/protocol/render.ts';
import type { BlenderInfo } from '../src/runtimes/blender/probeBlender.ts';
import { renderBlender } from '../src/runtimes/blender/renderBlender.ts';
import { BlenderPool } from '../src/runtimes/blender/warmBlender.ts';
import { tempDir } from './helpers/fixtures.ts';
import { blenderOrSkip, makeScene } from './helpers/renderFixtures.ts';

let blender: BlenderInfo | undefined;
let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-warm-blender-'));
  blender = await blenderOrSkip();
  if (blender) await makeScene(join(dir, 'scene.blend'), { frames: 6 });
});
after(() => cleanup());

const task = (frame: number, region: RenderTask['region'] = [0, 0, 64, 48]): RenderTask => ({
  v: 1,
  frame,
  width: 64,
  height: 48,
  samples: 16,
  seed: 0,
  region,
});

test('a warm Blender renders several tasks in one process, the same pixels as a one-shot render', {
  timeout: 600_000,
}, async (t) => {
  if (!blender) return t.skip('Blender is not installed');
  const pool = new BlenderPool({ scratchDir: join(dir, 'pool'), maxProcesses: 1 });
  try {
    const req = { blender, blendPath: join(dir, 'scene.blend'), threads: 1, timeoutMs: 300_000 };
    const first = await pool.render({ ...req, task: task(2) });
    const second = await pool.render({ ...req, task: task(4) });
    const region = await pool.render({ ...req, task: task(4, [8, 12, 24, 24]) });
    assert.equal(pool.size, 1, 'one process served all three');
    const oneShot = await renderBlender({ ...req, task: task(4), scratchDir: join(dir, 'one') });
    // Frame 4 from the warm process equals the one-shot render exactly (same seed, same sampler).
    assert.deepEqual(decodePng(second.png).data, decodePng(oneShot.png).data);
    assert.notDeepEqual(decodePng(first.png).data, decodePng(second.png).data, 'frames differ');
    assert.equal(decodePng(region.png).width, 16);
    const cmp = compareRenderOutputs(renderOutputTensors(oneShot.png), {
      ...renderOutputTensors(region.png),
      region: { dtype: 'int32', shape: [4], data: Int32Array.from([8, 12, 24, 24]) },
    });
    assert.ok(cmp.ok, cmp.reasons.join('; '));
    // The start is billed to the first task; later ones pay their own rendering only.
    assert.ok(
      first.usage.cpuMs > 0 && second.usage.cpuMs > 0,
      'first.usage.cpuMs > 0 && second.usage.cpuMs > 0',
    );
    assert.ok(
      second.usage.cpuMs < first.usage.cpuMs,
      `second ${second.usage.cpuMs} ms vs first ${first.usage.cpuMs} ms of CPU`,
    );
    assert.ok(
      region.usage.cpuMs < oneShot.usage.cpuMs,
      `region ${region.usage.cpuMs} ms vs one-shot ${oneShot.usage.cpuMs} ms`,
    );
  } finally {
    await pool.close();
  }
  assert.equal(pool.size, 0);
});

test('a time limit kills the warm Blender; the next task starts a fresh one', {
  timeout: 600_000,
}, async (t) => {
  if (!blender) return t.skip('Blender is not installed');
  const pool = new BlenderPool({ scratchDir: join(dir, 'pool2'), maxProcesses: 1 });
  try {
    const req = { blender, blendPath: join(dir, 'scene.blend'), threads: 1 };
    await assert.rejects(
      pool.render({
        ...req,
        task: { ...task(1), samples: 4096, width: 640, height: 480, region: [0, 0, 640, 480] },
        timeoutMs: 1,
      }),
      (err: Error & { code?: string }) => err.code === 'PLX_LEASE_EXPIRED',
    );
    const ac = new AbortController();
    const cancelled = pool.render({
      ...req,
      task: { ...task(1), samples: 4096 },
      timeoutMs: 300_000,
      signal: ac.signal,
    });
    ac.abort();
    await assert.rejects(cancelled, (err: Error) => err.name === 'AbortError');
    const ok = await pool.render({ ...req, task: task(1), timeoutMs: 300_000 });
    assert.equal(decodePng(ok.png).width, 64);
  } finally {
    await pool.close();
  }
});
