/**
 * `npm run bench -- render [--json] [--frames N] [--net-frames M] [--samples S] [--regions R] [--timeout T] [--width W] [--height H] [--cold]` (issue 20):
 *
 * 1. Separation of the region comparison (compareRenders.ts) over the regions audits draw
 *    (renderAuditRegion.ts, ~4% of the pixels, at least 16×12): honest region pairs (a border render
 *    of the region against the crop of the whole frame: what an audit compares; and the same task
 *    rendered with 1 and 2 threads, cropped) against each cheat (fewer samples, half resolution
 *    scaled up, black, another frame, another scene), SSIM and PSNR under the region thresholds;
 *    `worstHonestScore` is the least honest SSIM, `bestCheatScore` the greatest SSIM of any cheat.
 *    Also the share of audits that catch a cheat rendering only the centre half properly.
 *    `--net-frames 0`: this part only.
 * 2. Throughput: M frames through a coordinator with 2 provider processes of 1 core each (warm:
 *    after a first job), against the same frames rendered locally one after another by one warm
 *    Blender with 2 threads (the same total cores, started before the clock):
 *    `throughputRatio` = devnet frames/min ÷ local frames/min.
 *    `--throughput-only`: this part only, after a 2-frame warm-up job (frames of 20 s: `--width 320
 *    --height 240 --samples 384` or so, machine permitting).
 * 3. `verificationOverhead`: the CPU time of the extra executions verification asked for (region
 *    audits under the default adaptive policy) over the CPU time of the primary executions, for
 *    the providers' third job, when they have a clean record and are audited on a sample of the
 *    job's frames (verification/renderAuditRate.ts); `verificationOverheadNewcomers` is the same
 *    figure for their first job, every frame audited.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createCanvas, Image } from '@napi-rs/canvas';
import { submitRenderJob } from '../src/cli/renderJob.ts';
import { createClient } from '../src/client/createClient.ts';
import {
  imageScores,
  RENDER_REGION_MIN_PSNR_DB,
  RENDER_REGION_MIN_SSIM,
} from '../src/coordinator/verification/compareRenders.ts';
import { renderAuditRegion } from '../src/coordinator/verification/renderAuditRegion.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { type RenderTask, renderTasksOf } from '../src/protocol/render.ts';
import { cheatedPng, cheatedTask, EVERY_CHEAT } from '../src/provider/agent/renderCheats.ts';
import { probeBlender } from '../src/runtimes/blender/probeBlender.ts';
import { renderBlenderBatch } from '../src/runtimes/blender/renderBlender.ts';
import { BlenderPool } from '../src/runtimes/blender/warmBlender.ts';
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

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const frames = arg(args, 'frames', 12);
  const samples = arg(args, 'samples', 16);
  const regions = arg(args, 'regions', 5);
  const netFrames = arg(args, 'net-frames', 6);
  // The task timeout of the sampled job: until a job has verified executions its tasks are priced
  // at timeout × 4 billed cores (MAX_BILLED_CORES), and a task paying R_task is audited at least at
  // R_task / (50 R) (the value floor, ALWAYS_AUDIT_UNITS): a 600 s timeout audits every frame
  // whatever the sampling, 2 s at least 16 %.
  const timeoutSec = arg(args, 'timeout', 2);
  // `--cold`: providers start a Blender per task (no warm Blender: the figures before it).
  const cold = args.includes('--cold');
  const width = arg(args, 'width', 64);
  const height = arg(args, 'height', 48);
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
    if (args.includes('--throughput-only')) {
      const out = await throughputOnly({ args, blender, dir, scene, params, netFrames, cold, children });
      coordinator = out.coordinator;
      return out.result;
    }
    const tasks = renderTasksOf(params);
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

    // 1. Separation (reference renders batched: one Blender start per set), over the regions
    // audits really draw (renderAuditRegion with random seeds), under the region thresholds.
    const two = await batch(tasks, scene, 2);
    const one = await batch(tasks, scene, 1);
    const seeds = tasks.map((_, f) => Array.from({ length: regions }, (_, k) => `bench-${f}-${k}`));
    const regionOf = (f: number, k: number) => renderAuditRegion(seeds[f]![k]!, `0x${f}`, tasks[f]!);
    const borders = await batch(
      tasks.flatMap((t, f) => seeds[f]!.map((_, k) => ({ ...t, region: regionOf(f, k) }))),
      scene,
      1,
    );
    const passes = (x: { ssim: number; psnrDb: number }) =>
      x.ssim >= RENDER_REGION_MIN_SSIM && x.psnrDb >= RENDER_REGION_MIN_PSNR_DB;
    const honest: Array<{ ssim: number; psnrDb: number }> = [];
    for (const [f] of tasks.entries()) {
      for (let k = 0; k < regions; k++) {
        const r = regionOf(f, k);
        const size: RenderTask['region'] = [0, 0, r[2] - r[0], r[3] - r[1]];
        // The audit's way: a border render of the region alone (1 thread) against the crop of
        // the whole frame (2 threads); and two whole frames at other thread counts, cropped.
        honest.push(imageScores(crop(two[f]!, r), crop(borders[f * regions + k]!, size)));
        honest.push(imageScores(crop(two[f]!, r), crop(one[f]!, r)));
      }
    }
    const cheats: Record<string, Array<{ ssim: number; psnrDb: number }>> = {};
    const fewer: Buffer[] = [];
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
      if (kind === 'fewer-samples') fewer.push(...rendered);
      const scores: Array<{ ssim: number; psnrDb: number }> = [];
      cheats[kind] = scores;
      for (const [f, t] of tasks.entries()) {
        const png = kind === 'low-res' || kind === 'black' ? cheatedPng(t, rendered[f]) : rendered[f]!;
        for (let k = 0; k < regions; k++) {
          const r = regionOf(f, k);
          scores.push(imageScores(crop(two[f]!, r), crop(png, r)));
        }
      }
    }
    // The cheat that knows audits look at a small region: the centre half of the pixels rendered
    // properly, the rest with an eighth of the samples. Caught only when the region reaches out
    // of the centre: its detection rate per audit is what it risks.
    const centre = (f: number) => {
      const c = createCanvas(width, height);
      const ctx = c.getContext('2d');
      const img = new Image();
      img.src = fewer[f]!;
      ctx.drawImage(img, 0, 0);
      const good = new Image();
      good.src = two[f]!;
      const side = Math.SQRT1_2;
      const [w, h] = [Math.round(width * side), Math.round(height * side)];
      const [x, y] = [Math.round((width - w) / 2), Math.round((height - h) / 2)];
      ctx.drawImage(good, x, y, w, h, x, y, w, h);
      return c.toBuffer('image/png');
    };
    let centreCaught = 0;
    const centreAudits = tasks.length * regions;
    for (const [f] of tasks.entries()) {
      const png = centre(f);
      for (let k = 0; k < regions; k++) {
        const r = regionOf(f, k);
        if (!passes(imageScores(crop(two[f]!, r), crop(png, r)))) centreCaught++;
      }
    }
    const worstHonestScore = Math.min(...honest.map((h) => h.ssim));
    const worstHonestPsnrDb = Math.min(...honest.map((h) => h.psnrDb));
    const honestFailures = honest.filter((h) => !passes(h)).length;
    const bestCheat = Object.fromEntries(
      Object.entries(cheats).map(([k, v]) => [k, Math.max(...v.map((x) => x.ssim))]),
    );
    const caughtByKind = Object.fromEntries(
      Object.entries(cheats).map(([k, v]) => [k, v.filter((x) => !passes(x)).length / v.length]),
    );
    const bestCheatScore = Math.max(...Object.values(bestCheat));
    const centreOnlyDetection = centreCaught / centreAudits;
    console.log(
      `separation: ${honest.length} honest region pairs, worst SSIM ${worstHonestScore.toFixed(4)}, worst PSNR ${worstHonestPsnrDb.toFixed(1)} dB, ${honestFailures} fail; region thresholds SSIM ${RENDER_REGION_MIN_SSIM}, PSNR ${RENDER_REGION_MIN_PSNR_DB} dB`,
    );
    for (const [k, v] of Object.entries(bestCheat))
      console.log(
        `  cheat ${k}: best SSIM ${v.toFixed(4)}, best PSNR ${Math.max(...cheats[k]!.map((x) => x.psnrDb)).toFixed(1)} dB, caught by ${(caughtByKind[k]! * 100).toFixed(0)}% of ${cheats[k]!.length} region audits`,
      );
    console.log(
      `  cheat centre-only (centre half of the pixels proper, rest 1/8 samples): caught by ${(centreOnlyDetection * 100).toFixed(0)}% of ${centreAudits} region audits`,
    );

    if (netFrames === 0)
      return {
        worstHonestScore,
        bestCheatScore,
        honestPairs: honest.length,
        worstHonestPsnrDb,
        honestFailures,
        bestCheatScoreByKind: bestCheat,
        caughtByKind,
        centreOnlyDetection,
        regionThresholds: { minSsim: RENDER_REGION_MIN_SSIM, minPsnrDb: RENDER_REGION_MIN_PSNR_DB },
      };
    // 2. Baseline: the network's frames locally, one after another, in its strongest form: one
    // warm Blender (started, scene loaded and a frame rendered before the clock starts) with 2
    // threads, the total cores of the two providers.
    const netTasks = renderTasksOf({ ...params, frameEnd: netFrames });
    const pool = new BlenderPool({ scratchDir: join(dir, 'local-warm'), maxProcesses: 1 });
    let localSec: number;
    try {
      const req = { blender, blendPath: scene, threads: 2, timeoutMs: 600_000 };
      await pool.render({ ...req, task: { ...netTasks[0]!, seed: 99 } });
      const t0 = performance.now();
      for (const t of netTasks) await pool.render({ ...req, task: t });
      localSec = (performance.now() - t0) / 1000;
    } finally {
      await pool.close();
    }
    const localFpm = (netFrames / localSec) * 60;
    console.log(
      `local: ${netFrames} frames in ${localSec.toFixed(1)} s (${localFpm.toFixed(1)} frames/min, one warm Blender, 2 threads)`,
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
          ...(cold ? ['--no-warm-blender'] : []),
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
    const db = coordinator.store.db;
    // The CPU time of the extra executions verification asked for over that of the primaries.
    const overheadOf = async (jobId: string) => {
      const execs = await db
        .selectFrom('task_executions')
        .innerJoin('tasks', 'tasks.id', 'task_executions.task_id')
        .select(['task_executions.task_id', 'task_executions.assignment_id', 'task_executions.result'])
        .where('tasks.job_id', '=', jobId)
        .orderBy('task_executions.created_at')
        .execute();
      const regionIds = new Set(
        (
          await db
            .selectFrom('render_audit_regions')
            .innerJoin('tasks', 'tasks.id', 'render_audit_regions.task_id')
            .select('render_audit_regions.assignment_id')
            .where('tasks.job_id', '=', jobId)
            .execute()
        ).map((r) => r.assignment_id),
      );
      const rates = (
        await db
          .selectFrom('audit_draws')
          .innerJoin('tasks', 'tasks.id', 'audit_draws.task_id')
          .select('audit_draws.rate')
          .where('tasks.job_id', '=', jobId)
          .execute()
      ).map((r) => JSON.parse(r.rate) as number);
      const cpuOf = (e: (typeof execs)[number]) =>
        (JSON.parse(e.result) as { usage: { cpuMs: number } }).usage.cpuMs;
      const seen = new Set<string>();
      let primaryMs = 0;
      let extraMs = 0;
      for (const e of execs) {
        if (seen.has(e.task_id)) extraMs += cpuOf(e);
        else primaryMs += cpuOf(e);
        seen.add(e.task_id);
      }
      const auditCpu = execs.filter((e) => regionIds.has(e.assignment_id)).map(cpuOf);
      const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
      return {
        overhead: extraMs / primaryMs,
        executions: execs.length,
        regionAudits: regionIds.size,
        meanRate: mean(rates),
        primaryCpuMsPerFrame: primaryMs / netFrames,
        regionAuditCpuMs: mean(auditCpu),
        // What one region audit costs against the frame it checks (CPU time, means).
        regionAuditCost: mean(auditCpu) / (primaryMs / netFrames),
      };
    };
    const audit = async (seed: number, label: string, taskTimeoutSec: number) => {
      const submitted = await submitRenderJob(client, {
        ...job,
        seed,
        taskTimeoutSec,
        verify: { policy: 'audit' },
      });
      const done = await client.waitForJob(submitted.jobId);
      if (done.status !== 'completed') throw new Error(`audited job ${done.status}`);
      const o = await overheadOf(submitted.jobId);
      console.log(
        `verification (${label}): ${o.regionAudits} region audits for ${netFrames} frames (mean audit rate ${o.meanRate.toFixed(3)}), a region audit ${o.regionAuditCpuMs.toFixed(0)} ms CPU = ${(o.regionAuditCost * 100).toFixed(1)}% of a frame; overhead ${(o.overhead * 100).toFixed(1)}% of render CPU time`,
      );
      return o;
    };

    // 3a. Newcomers: the providers' first job under the default adaptive audit (also their first
    // verified record, and it warms their Blenders for what follows).
    const newcomers = await audit(2, 'newcomers', 600);
    const reps = await db.selectFrom('providers').select(['address', 'reputation']).execute();
    console.log(
      `reputations after the first job: ${reps.map((r) => (r.reputation ?? 'none').replace(/"updatedAt":\d+,?/, '')).join(' ')}`,
    );

    // 2. Throughput, warm providers, no verification.
    const n0 = performance.now();
    const plain = await submitRenderJob(client, { ...job, verify: { policy: 'none' } });
    const done = await client.waitForJob(plain.jobId);
    if (done.status !== 'completed') throw new Error(`devnet job ${done.status}`);
    const netSec = (performance.now() - n0) / 1000;
    const perProvider = await db
      .selectFrom('assignments')
      .select(['provider', (eb) => eb.fn.countAll<number>().as('n')])
      .where('job_id', '=', plain.jobId)
      .groupBy('provider')
      .execute();
    console.log(`devnet frames per provider: ${perProvider.map((p) => p.n).join(' + ')}`);
    const netFpm = (netFrames / netSec) * 60;
    console.log(
      `devnet: ${netFrames} frames in ${netSec.toFixed(1)} s (${netFpm.toFixed(1)} frames/min, 2 providers × 1 core)`,
    );

    // 3b. The same frames again under the default policy: the providers now have a clean record,
    // so each is audited on a sample of the job's frames (verification/renderAuditRate.ts).
    const sampled = await audit(1, 'with a record', timeoutSec);
    const verificationOverhead = sampled.overhead;
    await mkdir(dir, { recursive: true });
    return {
      throughputRatio: netFpm / localFpm,
      verificationOverhead,
      worstHonestScore,
      bestCheatScore,
      honestPairs: honest.length,
      worstHonestPsnrDb,
      honestFailures,
      bestCheatScoreByKind: bestCheat,
      caughtByKind,
      centreOnlyDetection,
      regionThresholds: { minSsim: RENDER_REGION_MIN_SSIM, minPsnrDb: RENDER_REGION_MIN_PSNR_DB },
      frames,
      netFrames,
      taskTimeoutSec: timeoutSec,
      resolution: `${width}x${height}`,
      samples,
      localFramesPerMin: localFpm,
      localBaseline: 'one warm Blender, 2 threads, frames one after another',
      devnetFramesPerMin: netFpm,
      auditedExecutions: sampled.executions,
      regionAudits: sampled.regionAudits,
      meanAuditRate: sampled.meanRate,
      regionAuditCost: sampled.regionAuditCost,
      verificationOverheadNewcomers: newcomers.overhead,
      newcomers,
      devnetFramesPerProvider: perProvider.map((p) => Number(p.n)),
      warmBlender: !cold,
      primaryCpuMsPerFrame: sampled.primaryCpuMsPerFrame,
      regionAuditCpuMs: sampled.regionAuditCpuMs,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop(10_000)));
    await coordinator?.cleanup();
    await cleanup();
  }
}

/**
 * `--throughput-only`: the local baseline (one warm Blender, 2 threads) and the same frames through
 * a coordinator with 2 providers × 1 core, after a 2-frame warm-up job (their Blenders warm, as in
 * the full run); no separation part, no audited jobs.
 */
async function throughputOnly(o: {
  args: string[];
  blender: NonNullable<Awaited<ReturnType<typeof probeBlender>>>;
  dir: string;
  scene: string;
  params: Parameters<typeof renderTasksOf>[0];
  netFrames: number;
  cold: boolean;
  children: NodeChild[];
}): Promise<{ coordinator: Awaited<ReturnType<typeof testCoordinator>>; result: Record<string, unknown> }> {
  const { blender, dir, scene, params, netFrames } = o;
  const netTasks = renderTasksOf({ ...params, frameEnd: netFrames });
  const pool = new BlenderPool({ scratchDir: join(dir, 'local-warm'), maxProcesses: 1 });
  const perFrameSec: number[] = [];
  try {
    const req = { blender, blendPath: scene, threads: 2, timeoutMs: 1_800_000 };
    await pool.render({ ...req, task: { ...netTasks[0]!, seed: 99 } });
    for (const t of netTasks) {
      const t0 = performance.now();
      await pool.render({ ...req, task: t });
      perFrameSec.push((performance.now() - t0) / 1000);
    }
  } finally {
    await pool.close();
  }
  const localSec = perFrameSec.reduce((a, b) => a + b, 0);
  const localFpm = (netFrames / localSec) * 60;
  console.log(
    `local: ${netFrames} frames in ${localSec.toFixed(1)} s (${perFrameSec.map((x) => x.toFixed(1)).join(' ')} s each; ${localFpm.toFixed(2)} frames/min, one warm Blender, 2 threads)`,
  );
  const coordinator = await testCoordinator();
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
        ...(o.cold ? ['--no-warm-blender'] : []),
      ],
      { env, print: () => {} },
    );
    o.children.push(child);
    await child.waitFor('PLEXUS_PROVIDER_STARTED', 600_000);
  }
  const client = createClient({ url: coordinator.url, account: randomAccount() });
  while ((await client.health()).providersOnline < 2) await new Promise((r) => setTimeout(r, 200));
  const job = {
    blend: scene,
    resolution: `${params.width}x${params.height}`,
    samples: params.samples,
    deadlineSec: 7200,
    taskTimeoutSec: 1800,
    verify: { policy: 'none' as const },
  };
  const warm = await submitRenderJob(client, { ...job, frames: '1-2', seed: 7 });
  if ((await client.waitForJob(warm.jobId)).status !== 'completed') throw new Error('warm-up job failed');
  const n0 = performance.now();
  const plain = await submitRenderJob(client, { ...job, frames: `1-${netFrames}`, seed: 0 });
  const done = await client.waitForJob(plain.jobId);
  if (done.status !== 'completed') throw new Error(`devnet job ${done.status}`);
  const netSec = (performance.now() - n0) / 1000;
  const perProvider = await coordinator.store.db
    .selectFrom('assignments')
    .select(['provider', (eb) => eb.fn.countAll<number>().as('n')])
    .where('job_id', '=', plain.jobId)
    .groupBy('provider')
    .execute();
  const netFpm = (netFrames / netSec) * 60;
  console.log(
    `devnet: ${netFrames} frames in ${netSec.toFixed(1)} s (${netFpm.toFixed(2)} frames/min, 2 providers × 1 core; ${perProvider.map((p) => p.n).join(' + ')} frames)`,
  );
  return {
    coordinator,
    result: {
      throughputRatio: netFpm / localFpm,
      netFrames,
      resolution: `${params.width}x${params.height}`,
      samples: params.samples,
      localSecPerFrame: localSec / netFrames,
      localSecByFrame: perFrameSec,
      localFramesPerMin: localFpm,
      devnetFramesPerMin: netFpm,
      devnetSec: netSec,
      devnetFramesPerProvider: perProvider.map((p) => Number(p.n)),
      localBaseline: 'one warm Blender, 2 threads, frames one after another',
      warmBlender: !o.cold,
    },
  };
}
