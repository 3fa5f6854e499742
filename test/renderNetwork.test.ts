/**
 * Blender rendering on the network (issue 20) with a real coordinator, real provider processes and
 * real Blender (the cheats are in renderCheats.test.ts): a frame stitched from 4 tiles; a .blend
 * whose auto-run script must never run; a provider killed mid-frame. Tiny frames (64×48, 16
 * samples) keep it to a minute or two on a 2-core machine.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { submitRenderJob } from '../src/cli/renderJob.ts';
import type { BlenderInfo } from '../src/runtimes/blender/probeBlender.ts';
import { makeScene, runBlender } from './helpers/renderFixtures.ts';
import { type RenderNet, renderNetwork } from './helpers/renderNetwork.ts';

const net = renderNetwork();
const { children, startProvider, waitOnline, assertFramesMatchLocal, scene } = net;
let blender: BlenderInfo | undefined;
let c: RenderNet['c'];
let dir: string;
let client: RenderNet['client'];

before(async () => {
  await net.open('plexus-render-', (d) => makeScene(join(d, 'scene.blend'), { frames: 12 }));
  ({ blender, c, dir, client } = net);
  if (!blender) return;
  await Promise.all([startProvider('honest-1'), startProvider('honest-2')]);
});
after(() => net.close());

test('a frame stitched from 4 tiles equals the whole-frame render within the threshold', {
  timeout: 600_000,
}, async (t) => {
  if (!blender) return t.skip('Blender is not installed');
  await waitOnline(2);
  const o = {
    blend: scene(),
    frames: '5-5',
    tiles: '2x2',
    resolution: '64x48',
    samples: 16,
    seed: 0,
    deadlineSec: 600,
    taskTimeoutSec: 120,
  };
  const { jobId, tasks } = await submitRenderJob(client, { ...o, verify: { policy: 'none' } });
  assert.equal(tasks, 4);
  assert.equal((await client.waitForJob(jobId)).status, 'completed');
  const render = {
    frameStart: 5,
    frameEnd: 5,
    width: 64,
    height: 48,
    samples: 16,
    seed: 0,
    tiles: { x: 2, y: 2 },
    format: 'png' as const,
  };
  const [s] = await assertFramesMatchLocal(jobId, render);
  assert.ok(s!.ssim > 0.99, `stitched vs whole: ${JSON.stringify(s)}`);
});

test('a script embedded in the .blend never runs on a provider', { timeout: 600_000 }, async (t) => {
  if (!blender) return t.skip('Blender is not installed');
  const marker = join(dir, 'autorun-marker');
  const blend = join(dir, 'autorun.blend');
  await makeScene(blend, { frames: 2, marker });
  // The control: opened with auto-run on, the script does run and writes the marker.
  await runBlender([
    '-b',
    '--factory-startup',
    '--enable-autoexec',
    '-noaudio',
    blend,
    '--python-expr',
    'pass',
  ]);
  assert.ok(existsSync(marker), 'control: with auto-run on, the embedded script writes its marker');
  const { rm } = await import('node:fs/promises');
  await rm(marker);
  const { jobId } = await submitRenderJob(client, {
    blend,
    frames: '1-1',
    resolution: '32x24',
    samples: 4,
    seed: 0,
    deadlineSec: 600,
    taskTimeoutSec: 120,
    verify: { policy: 'none' },
  });
  assert.equal((await client.waitForJob(jobId)).status, 'completed');
  assert.equal(existsSync(marker), false, 'the provider rendered the file without running its script');
});

test('a provider killed mid-frame: the frame is re-rendered elsewhere', { timeout: 600_000 }, async (t) => {
  if (!blender) return t.skip('Blender is not installed');
  await waitOnline(2);
  // Many samples, so the render is still running when its provider dies.
  const { jobId } = await submitRenderJob(client, {
    blend: scene(),
    frames: '7-7',
    resolution: '64x48',
    samples: 1024,
    seed: 0,
    deadlineSec: 600,
    taskTimeoutSec: 300,
    verify: { policy: 'none' },
  });
  const { execFileSync } = await import('node:child_process');
  const deadline = Date.now() + 120_000;
  let victim: string | undefined;
  while (!victim) {
    if (Date.now() > deadline) throw new Error('no provider started rendering the frame');
    const a = await c.store.db
      .selectFrom('assignments')
      .select('provider')
      .where('job_id', '=', jobId)
      .executeTakeFirst();
    const child = a ? children.get(a.provider) : undefined;
    // Blender runs as a child of the agent (via prlimit/unshare, which exec it).
    const rendering =
      child?.proc.pid !== undefined &&
      (() => {
        try {
          return (
            execFileSync('pgrep', ['-P', String(child.proc.pid), '-f', 'blender'])
              .toString()
              .trim() !== ''
          );
        } catch {
          return false;
        }
      })();
    if (a && rendering) victim = a.provider;
    else await new Promise((r) => setTimeout(r, 100));
  }
  children.get(victim)!.proc.kill('SIGKILL');
  children.delete(victim);
  const final = await client.waitForJob(jobId);
  assert.equal(final.status, 'completed');
  const execs = await c.store.db
    .selectFrom('task_executions')
    .innerJoin('tasks', 'tasks.id', 'task_executions.task_id')
    .select('task_executions.provider')
    .where('tasks.job_id', '=', jobId)
    .execute();
  assert.equal(execs.length, 1);
  assert.notEqual(execs[0]!.provider, victim, 'the frame was rendered by another provider');
});
