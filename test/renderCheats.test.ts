/**
 * Blender rendering on the network (issue 20), with real coordinator, real provider processes and
 * real Blender: a 12-frame job on 7 providers, two honest (trusted: no fault without ground
 * truth, docs/verification.md) and five cheaters, one per way to cheat (fewer samples, half
 * resolution scaled up, black frame, another frame, another scene; a cheater caught once is
 * suspended, so one cheater cannot show them all), verified by the default adaptive audits, each
 * of which re-renders a small region of the frame on another provider (docs/render.md, "Region audits");
 * a frame stitched from 4 tiles; a .blend whose auto-run script must never run; a provider killed
 * mid-frame. Tiny frames (64×48, 16 samples) keep it to a few minutes on a 2-core machine.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { submitRenderJob } from '../src/cli/renderJob.ts';
import type { BlenderInfo } from '../src/runtimes/blender/probeBlender.ts';
import { makeScene } from './helpers/renderFixtures.ts';
import { type RenderNet, renderNetwork } from './helpers/renderNetwork.ts';

const net = renderNetwork();
const { children, startProvider, waitOnline, assertFramesMatchLocal, scene } = net;
let blender: BlenderInfo | undefined;
let c: RenderNet['c'];
let dir: string;
let client: RenderNet['client'];

before(async () => {
  await net.open('plexus-render-', (d) =>
    Promise.all([
      makeScene(join(d, 'scene.blend'), { frames: 12 }),
      makeScene(join(d, 'other.blend'), { frames: 12, variant: 1 }),
    ]),
  );
  ({ blender, c, dir, client } = net);
});
after(() => net.close());

const CHEATS = ['fewer-samples', 'low-res', 'black', 'other-frame', 'other-scene'] as const;

test('12 frames on 7 providers, five cheating, one way each: region audits catch each cheat, frames match a local render', {
  timeout: 1_800_000,
}, async (t) => {
  if (!blender) return t.skip('Blender is not installed');
  const behaviour = (k: (typeof CHEATS)[number]) =>
    k === 'other-scene' ? `render-other-scene:${join(dir, 'other.blend')}` : `render-${k}`;
  const [h1, h2, ...cheaters] = await Promise.all([
    // Both honest providers trusted: a trusted auditor disagreeing with a cheater's render is one
    // trusted vote, and a verdict needs two (the other trusted provider breaks the tie).
    startProvider('honest-1', 'honest', true),
    startProvider('honest-2', 'honest', true),
    ...CHEATS.map((k) => startProvider(`cheat-${k}`, behaviour(k))),
  ]);
  await waitOnline(2 + CHEATS.length);
  const render = {
    frameStart: 1,
    frameEnd: 12,
    width: 64,
    height: 48,
    samples: 16,
    seed: 0,
    tiles: { x: 1, y: 1 },
    format: 'png' as const,
  };
  // The default policy: adaptive audits (newcomers: every result), each a region audit.
  const { jobId, tasks } = await submitRenderJob(client, {
    blend: scene(),
    frames: '1-12',
    resolution: '64x48',
    samples: 16,
    seed: 0,
    deadlineSec: 900,
    taskTimeoutSec: 120,
  });
  assert.equal(tasks, 12);
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'completed', JSON.stringify(final.error));
  await assertFramesMatchLocal(jobId, render);

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
    .select(['task_id', 'provider', 'assignment_id', 'result'])
    .where('task_id', 'in', taskIds)
    .execute();
  const regions = await db
    .selectFrom('render_audit_regions')
    .select(['assignment_id', 'region'])
    .where('task_id', 'in', taskIds)
    .execute();
  const byProvider = (a: string) => faults.filter((f) => f.provider === a);
  assert.equal(byProvider(h1!).length + byProvider(h2!).length, 0, 'honest providers are never faulted');
  const perTask = new Map<string, number>();
  for (const e of execs) perTask.set(e.task_id, (perTask.get(e.task_id) ?? 0) + 1);
  // Every cheater took work (newcomers: at least its first render), and every render it handed
  // in that was compared with another execution of its task was caught; a render no audit was
  // drawn for is checked by the frames matching a local render above.
  for (const [i, cheater] of cheaters.entries()) {
    const kind = CHEATS[i]!;
    const cheats = execs.filter((e) => e.provider === cheater);
    const compared = cheats.filter((e) => (perTask.get(e.task_id) ?? 0) >= 2);
    const caught = byProvider(cheater!);
    assert.ok(cheats.length >= 1, `${kind}: the cheater rendered nothing`);
    assert.ok(caught.length >= 1, `${kind}: not caught`);
    assert.equal(caught.length, compared.length, `${kind}: ${JSON.stringify(caught.map((f) => f.kind))}`);
    for (const f of caught) assert.equal(f.kind, 'outvoted');
    const reasons = caught.map((f) => (JSON.parse(f.evidence) as { reasons: string[] }).reasons.join('; '));
    assert.ok(
      reasons.every((r) => /ssim|psnr|size/.test(r)),
      `${kind}: ${reasons.join('\n')}`,
    );
  }
  // The audits were region audits: a few percent of the frame, rendered and billed as such,
  // except where the primary's image was mostly flat there (a black frame: the whole frame).
  assert.ok(regions.length >= 1, 'no region audit ran');
  const areas = regions.map((r) => {
    const [x0, y0, x1, y1] = JSON.parse(r.region) as number[];
    assert.ok(x0! >= 0 && y0! >= 0 && x1! <= 64 && y1! <= 48, r.region);
    return (x1! - x0!) * (y1! - y0!);
  });
  assert.ok(
    areas.some((a) => a <= 0.07 * 64 * 48),
    `region areas ${areas.join(' ')}`,
  );
  const audited = new Set(regions.map((r) => r.assignment_id));
  assert.ok(
    execs.some((e) => audited.has(e.assignment_id)),
    'a region audit delivered a result',
  );
  // The cheaters leave.
  for (const cheater of cheaters) {
    await children.get(cheater!)!.stop(10_000);
    children.delete(cheater!);
  }
});
