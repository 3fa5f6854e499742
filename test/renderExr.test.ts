/**
 * EXR output of `blender.render` jobs (docs/render.md, "EXR"), with a real coordinator, real
 * provider processes and real Blender: a 2-frame `format: 'exr'` job renders, verifies (region
 * audits on the tone-mapped EXR) and downloads as `frame-NNNN.exr` files that parse-exr decodes
 * to the frame's size with finite float pixels, matching a local EXR render; a provider that
 * cheats on EXR frames in every way in turn (renderCheats.test.ts's harness) is caught and
 * faulted each time it is compared, honest ones never are.
 * Tiny frames (64×48, 16 samples) for CI's 2-core machines.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import parseExr from 'parse-exr';
import { submitRenderJob, writeRenderFrames } from '../src/cli/renderJob.ts';
import {
  imageScores,
  RENDER_MIN_PSNR_DB,
  RENDER_MIN_SSIM,
} from '../src/coordinator/verification/compareRenders.ts';
import { type RenderParams, renderTasksOf } from '../src/protocol/render.ts';
import { decodeExr, exrHeader, toneMapExr } from '../src/protocol/renderExr.ts';
import { makeScene, renderLocally } from './helpers/renderFixtures.ts';
import { type RenderNet, renderNetwork } from './helpers/renderNetwork.ts';

const net = renderNetwork();
let c: RenderNet['c'];
let client: RenderNet['client'];
let honest: string[] = [];

before(async () => {
  await net.open('plexus-render-exr-', (d) =>
    Promise.all([
      makeScene(join(d, 'scene.blend'), { frames: 8 }),
      makeScene(join(d, 'other.blend'), { frames: 8, variant: 1 }),
    ]),
  );
  ({ c, client } = net);
});
after(() => net.close());

const renderOf = (frameStart: number, frameEnd: number): RenderParams => ({
  frameStart,
  frameEnd,
  width: 64,
  height: 48,
  samples: 16,
  seed: 0,
  tiles: { x: 1, y: 1 },
  format: 'exr',
});

async function submitExr(frames: string, tiles?: string) {
  return submitRenderJob(client, {
    blend: net.scene(),
    frames,
    ...(tiles ? { tiles } : {}),
    resolution: '64x48',
    samples: 16,
    seed: 0,
    format: 'exr',
    deadlineSec: 900,
    taskTimeoutSec: 120,
  });
}

/** Downloads a job's EXR frames and checks each against a local EXR render of its frame. */
async function framesMatchLocal(jobId: string, render: RenderParams): Promise<string[]> {
  const out = join(net.dir, `frames-${jobId.slice(2, 10)}`);
  await mkdir(out, { recursive: true });
  const outputs = (await client.jobResults(jobId)).outputs as Array<{ index: number; output: string }>;
  const files = await writeRenderFrames(client, render, outputs, out);
  const tasks = renderTasksOf({ ...render, tiles: { x: 1, y: 1 } });
  const local = await renderLocally(net.blender!, net.scene(), tasks, join(net.dir, 'scratch'));
  assert.equal(files.length, tasks.length);
  for (let i = 0; i < files.length; i++) {
    const s = imageScores(toneMapExr(decodeExr(await readFile(files[i]!))), toneMapExr(decodeExr(local[i]!)));
    assert.ok(
      s.ssim >= RENDER_MIN_SSIM && s.psnrDb >= RENDER_MIN_PSNR_DB,
      `frame ${tasks[i]!.frame}: ${JSON.stringify(s)}`,
    );
  }
  return files;
}

test('an EXR job of 2 frames renders, verifies and downloads as valid half-float EXR frames', {
  timeout: 900_000,
}, async (t) => {
  if (!net.blender) return t.skip('Blender is not installed');
  // Both honest providers trusted: no fault without ground truth (docs/verification.md), and a
  // trusted auditor disagreeing with a cheater is one trusted vote; the other breaks the tie.
  honest = await Promise.all([
    net.startProvider('honest-1', 'honest', true),
    net.startProvider('honest-2', 'honest', true),
  ]);
  await net.waitOnline(2);
  const { jobId, tasks } = await submitExr('3-4');
  assert.equal(tasks, 2);
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'completed', JSON.stringify(final.error));
  const files = await framesMatchLocal(jobId, renderOf(3, 4));
  assert.deepEqual(
    files.map((f) => f.slice(-14)),
    ['frame-0003.exr', 'frame-0004.exr'],
  );
  for (const file of files) {
    const bytes = await readFile(file);
    // What the provider wrote: half-float (8 bytes per RGBA pixel), ZIP.
    const h = exrHeader(bytes);
    assert.deepEqual(h && { ...h.size, pixelBytes: h.pixelBytes, compression: h.compression }, {
      width: 64,
      height: 48,
      pixelBytes: 8,
      compression: 'zip',
    });
    const exr = parseExr(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), 1015);
    assert.equal(exr.width, 64);
    assert.equal(exr.height, 48);
    assert.equal(exr.data.length, 64 * 48 * 4);
    const data = exr.data as Float32Array;
    assert.ok(
      data.every((v) => Number.isFinite(v)),
      'every pixel value is finite',
    );
    assert.ok(
      data.some((v, i) => i % 4 !== 3 && v > 0.05),
      'some colour values are > 0',
    );
    assert.ok(
      data.some((v, i) => i % 4 !== 3 && v !== Math.round(v * 255) / 255),
      'values are not 8-bit',
    );
  }
  // Every result was audited (newcomers), by a region of the EXR.
  const taskIds = (
    await c.store.db.selectFrom('tasks').select('id').where('job_id', '=', jobId).execute()
  ).map((r) => r.id);
  const regions = await c.store.db
    .selectFrom('render_audit_regions')
    .select('region')
    .where('task_id', 'in', taskIds)
    .execute();
  assert.ok(regions.length >= 1, 'no region audit ran');
  const faults = await c.store.db.selectFrom('verification_faults').select('provider').execute();
  assert.equal(faults.length, 0, 'honest EXR renders are never faulted');
});

test('a provider cheating on EXR frames is caught every time its render is compared (then suspended)', {
  timeout: 900_000,
}, async (t) => {
  if (!net.blender) return t.skip('Blender is not installed');
  // Its n-th render task: fewer samples, half resolution scaled up, black, another frame, another
  // scene (n mod 5), as EXRs (renderCheats.ts cheatedImage), whether it is primary or auditor. Once
  // caught it is suspended (no more work), so usually only its first cheats are tried; each cheat
  // kind on EXR is covered by `npm run bench -- render-audit --format exr`.
  const cheater = await net.startProvider('cheater', `render-each-cheat:${join(net.dir, 'other.blend')}`);
  await net.waitOnline(3);
  const { jobId } = await submitExr('1-6');
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'completed', JSON.stringify(final.error));
  await framesMatchLocal(jobId, renderOf(1, 6));
  const db = c.store.db;
  const taskIds = (await db.selectFrom('tasks').select('id').where('job_id', '=', jobId).execute()).map(
    (r) => r.id,
  );
  const faults = await db
    .selectFrom('verification_faults')
    .select(['provider', 'kind', 'evidence'])
    .where('job_id', '=', jobId)
    .execute();
  const execs = await db
    .selectFrom('task_executions')
    .select(['task_id', 'provider'])
    .where('task_id', 'in', taskIds)
    .execute();
  assert.equal(
    faults.filter((f) => honest.includes(f.provider)).length,
    0,
    'honest providers are never faulted',
  );
  const perTask = new Map<string, number>();
  for (const e of execs) perTask.set(e.task_id, (perTask.get(e.task_id) ?? 0) + 1);
  const cheats = execs.filter((e) => e.provider === cheater);
  const compared = cheats.filter((e) => (perTask.get(e.task_id) ?? 0) >= 2);
  const caught = faults.filter((f) => f.provider === cheater);
  assert.ok(cheats.length >= 1, 'the cheater rendered no task');
  assert.ok(caught.length >= 1, `${caught.length} of ${cheats.length} cheats caught`);
  assert.equal(caught.length, compared.length, JSON.stringify(faults.map((f) => f.kind)));
  for (const f of caught) {
    assert.equal(f.kind, 'outvoted');
    assert.match((JSON.parse(f.evidence) as { reasons: string[] }).reasons.join('; '), /ssim|psnr|size/);
  }
  // The next test accepts first results: the cheater leaves.
  await net.children.get(cheater)!.stop(10_000);
  net.children.delete(cheater);
});

test('a frame of 2×2 EXR tiles downloads stitched into one float EXR equal to the whole-frame render', {
  timeout: 900_000,
}, async (t) => {
  if (!net.blender) return t.skip('Blender is not installed');
  const { jobId, tasks } = await submitExr('5-5', '2x2');
  assert.equal(tasks, 4);
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'completed', JSON.stringify(final.error));
  const [file] = await framesMatchLocal(jobId, { ...renderOf(5, 5), tiles: { x: 2, y: 2 } });
  // Stitched frames are written as uncompressed float EXR (16 bytes per RGBA pixel).
  const h = exrHeader(await readFile(file!));
  assert.deepEqual(h && { ...h.size, pixelBytes: h.pixelBytes }, { width: 64, height: 48, pixelBytes: 16 });
});
