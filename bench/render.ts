/**
 * `npm run bench -- render [--json] [--frames N] [--net-frames M] [--samples S] [--regions R]` (issue 20):
 *
 * 1. Separation of the render comparison (compareRenders.ts): honest region pairs (the same task
 *    rendered with 1 and 2 threads, and a border render of the region against the crop of the
 *    whole frame: what an audit compares) against each cheat (fewer samples, half resolution
 *    scaled up, black, another frame, another scene), scored with SSIM over random regions of
 *    ~6% of the pixels. `worstHonestScore` is the least honest SSIM, `bestCheatScore` the
 *    greatest SSIM of any cheat; the threshold (RENDER_MIN_SSIM) must lie between them.
 * 2. Throughput: M frames through a coordinator with 2 provider processes of 1 core each, against
 *    the same frames rendered locally one after another with 2 threads (the same total cores):
 *    `throughputRatio` = devnet frames/min ÷ local frames/min.
 * 3. `verificationOverhead`: the CPU time of the extra executions verification asked for (audits
 *    under the default adaptive policy) over the CPU time of the primary executions, same frames.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createCanvas, Image } from '@napi-rs/canvas';
import { submitRenderJob } from '../src/cli/renderJob.ts';
import { createClient } from '../src/client/createClient.ts';
import { imageScores, RENDER_MIN_SSIM } from '../src/coordinator/verification/compareRenders.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { type RenderTask, renderTasksOf } from '../src/protocol/render.ts';
import { cheatedPng, cheatedTask, EVERY_CHEAT } from '../src/provider/agent/renderCheats.ts';
import { probeBlender } from '../src/runtimes/blender/probeBlender.ts';
import { renderBlender, renderBlenderBatch } from '../src/runtimes/blender/renderBlender.ts';
import { randomAccount, tempDir, testCoordinator } from '../test/helpers/fixtures.ts';
import { makeScene } from '../test/helpers/renderFixtures.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

type Pixels = { data: Uint8ClampedArray; width: number; height: number };
function crop(png: Buffer, r: RenderTask['region']): Pixels {
  const img = new Image();
  img.src = png;
  const [x0, y0, x1, y1] = r;
  const c = createCanvas(x1 - x0, y1 - y0);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, -x0, -y0);
  return { data: ctx.getImageData(0, 0, x1 - x0, y1 - y0).data, width: x1 - x0, height: y1 - y0 };
}

/** A deterministic pseudo-random region of about 1/16 of the frame (so ~6% of its pixels). */
function regionOf(i: number, w: number, h: number): RenderTask['region'] {
  const rw = Math.max(12, Math.round(w / 4));
  const rh = Math.max(12, Math.round(h / 4));
  const x = (i * 7919) % (w - rw + 1);
  const y = (i * 104_729) % (h - rh + 1);
  return [x, y, x + rw, y + rh];
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const frames = arg(args, 'frames', 12);
  const samples = arg(args, 'samples', 16);
  const regions = arg(args, 'regions', 5);
  const netFrames = arg(args, 'net-frames', 6);
  const width = 64;
  const height = 48;
  const blender = await probeBlender();
  if (!blender) throw new Error('Blender is not installed (apt-get install blender)');
  const { dir, cleanup } = await tempDir('plexus-bench-render-');
  const children: NodeChild[] = [];
  let coordinator: Awaited<ReturnType<typeof testCoordinator>> | undefined;
  try {
    const scene = join(dir, 'scene.blend');
    const other = join(dir, 'other.blend');
    await Promise.all([
      makeScene(scene, { frames: frames + 3 }),
      makeScene(other, { frames: frames + 3, variant: 1 }),
    ]);
    const params = {
      frameStart: 1,
      frameEnd: frames,
      width,
      height,
      samples,
      seed: 0,
      tiles: { x: 1, y: 1 },
      format: 'png' as const,
    };
    const tasks = renderTasksOf(params);
    const render = async (task: RenderTask, blendPath: string, threads: number) => {
      const t0 = performance.now();
      const r = await renderBlender({
        blender,
        blendPath,
        task,
        threads,
        timeoutMs: 600_000,
        scratchDir: join(dir, `s-${Math.random()}`),
      });
      return { ...r, sec: (performance.now() - t0) / 1000 };
    };

    const batch = async (ts: RenderTask[], blendPath: string, threads: number) =>
      (
        await renderBlenderBatch({
          blender,
          blendPath,
          tasks: ts,
          threads,
          timeoutMs: 1_800_000,
          scratchDir: join(dir, `b-${Math.random()}`),
        })
      ).map((o) => o.png);

    // 1. Separation (reference renders batched: one Blender start per set).
    const two = await batch(tasks, scene, 2);
    const one = await batch(tasks, scene, 1);
    const borders = await batch(
      tasks.map((t, f) => ({ ...t, region: regionOf(f * regions, width, height) })),
      scene,
      2,
    );
    const honest: number[] = [];
    for (const [f] of tasks.entries()) {
      for (let k = 0; k < regions; k++) {
        const r = regionOf(f * regions + k, width, height);
        honest.push(imageScores(crop(two[f]!, r), crop(one[f]!, r)).ssim);
      }
      // The audit's way: a border render of the region alone against the crop of the whole frame.
      const r = regionOf(f * regions, width, height);
      honest.push(imageScores(crop(two[f]!, r), crop(borders[f]!, [0, 0, r[2] - r[0], r[3] - r[1]])).ssim);
    }
    const cheats: Record<string, number[]> = {};
    for (const kind of EVERY_CHEAT) {
      const cheat = kind === 'other-scene' ? { kind, path: other } : { kind };
      const plans = tasks.map((t) => cheatedTask(cheat, t, scene));
      const rendered = plans[0]
        ? await batch(
            plans.map((p) => p!.task),
            plans[0].blendPath,
            2,
          )
        : [];
      const scores: number[] = [];
      cheats[kind] = scores;
      for (const [f, t] of tasks.entries()) {
        const png = kind === 'low-res' || kind === 'black' ? cheatedPng(t, rendered[f]) : rendered[f]!;
        for (let k = 0; k < regions; k++) {
          const r = regionOf(f * regions + k, width, height);
          scores.push(imageScores(crop(two[f]!, r), crop(png, r)).ssim);
        }
      }
    }
    const worstHonestScore = Math.min(...honest);
    const bestCheat = Object.fromEntries(Object.entries(cheats).map(([k, v]) => [k, Math.max(...v)]));
    const bestCheatScore = Math.max(...Object.values(bestCheat));
    console.log(
      `separation: ${honest.length} honest region pairs, worst SSIM ${worstHonestScore.toFixed(4)}; threshold ${RENDER_MIN_SSIM}`,
    );
    for (const [k, v] of Object.entries(bestCheat))
      console.log(`  cheat ${k}: best SSIM ${v.toFixed(4)} over ${cheats[k]!.length} regions`);

    // 2. Baseline: the network's frames locally, one Blender process after another, 2 threads.
    const netTasks = renderTasksOf({ ...params, frameEnd: netFrames });
    const t0 = performance.now();
    for (const t of netTasks) await render(t, scene, 2);
    const localSec = (performance.now() - t0) / 1000;
    const localFpm = (netFrames / localSec) * 60;
    console.log(
      `local: ${netFrames} frames in ${localSec.toFixed(1)} s (${localFpm.toFixed(1)} frames/min, 2 threads)`,
    );

    // 2. Through the network: 2 providers with 1 core each.
    coordinator = await testCoordinator();
    const env = { PLEXUS_KEYSTORE_PASSWORD: 'bench', PLEXUS_LOG_LEVEL: 'warn' };
    for (const name of ['p1', 'p2']) {
      const child = spawnPlexus(
        name,
        [
          'provider',
          'start',
          '--coordinator',
          coordinator.url,
          '--data-dir',
          join(dir, name),
          '--cores',
          '1',
        ],
        { env, print: () => {} },
      );
      children.push(child);
      await child.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
    }
    const client = createClient({ url: coordinator.url, account: randomAccount() });
    while ((await client.health()).providersOnline < 2) await new Promise((r) => setTimeout(r, 200));
    const job = {
      blend: scene,
      frames: `1-${netFrames}`,
      resolution: `${width}x${height}`,
      samples,
      seed: 0,
      deadlineSec: 3600,
      taskTimeoutSec: 600,
    };
    const n0 = performance.now();
    const plain = await submitRenderJob(client, { ...job, verify: { policy: 'none' } });
    const done = await client.waitForJob(plain.jobId);
    if (done.status !== 'completed') throw new Error(`devnet job ${done.status}`);
    const netSec = (performance.now() - n0) / 1000;
    const netFpm = (netFrames / netSec) * 60;
    console.log(
      `devnet: ${netFrames} frames in ${netSec.toFixed(1)} s (${netFpm.toFixed(1)} frames/min, 2 providers × 1 core)`,
    );

    // 3. The same frames under the default (adaptive audit) policy: CPU time of the extra executions.
    const audited = await submitRenderJob(client, { ...job, seed: 1, verify: { policy: 'audit' } });
    const doneAudited = await client.waitForJob(audited.jobId);
    if (doneAudited.status !== 'completed') throw new Error(`audited job ${doneAudited.status}`);
    const execs = await coordinator.store.db
      .selectFrom('task_executions')
      .innerJoin('tasks', 'tasks.id', 'task_executions.task_id')
      .select(['task_executions.task_id', 'task_executions.result', 'task_executions.created_at'])
      .where('tasks.job_id', '=', audited.jobId)
      .orderBy('task_executions.created_at')
      .execute();
    const seen = new Set<string>();
    let primaryMs = 0;
    let extraMs = 0;
    for (const e of execs) {
      const cpu = (JSON.parse(e.result) as { usage: { cpuMs: number } }).usage.cpuMs;
      if (seen.has(e.task_id)) extraMs += cpu;
      else primaryMs += cpu;
      seen.add(e.task_id);
    }
    const verificationOverhead = extraMs / primaryMs;
    console.log(
      `verification: ${execs.length} executions for ${netFrames} frames; overhead ${(verificationOverhead * 100).toFixed(1)}% of render CPU time`,
    );
    await mkdir(dir, { recursive: true });
    return {
      throughputRatio: netFpm / localFpm,
      verificationOverhead,
      worstHonestScore,
      bestCheatScore,
      honestPairs: honest.length,
      bestCheatScoreByKind: bestCheat,
      threshold: RENDER_MIN_SSIM,
      frames,
      netFrames,
      resolution: `${width}x${height}`,
      samples,
      localFramesPerMin: localFpm,
      devnetFramesPerMin: netFpm,
      auditedExecutions: execs.length,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop(10_000)));
    await coordinator?.cleanup();
    await cleanup();
  }
}
