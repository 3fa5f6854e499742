/**
 * `npm run bench -- render-audit [--json] [--frames N] [--scene-frames M] [--auditor-regions R] [--format exr] [--kind K] [--sun E]`:
 * can a cheat pass a region audit? In process, no network: the scene of test/renderCheats.test.ts
 * (64×48, 16 samples, a 12-frame animation) rendered honestly and with each cheat of the
 * adversary harness (provider/agent/renderCheats.ts), then compared as the coordinator compares
 * (compareRenders.ts `compareRenderOutputs`, with every full-frame check it makes) over
 *
 * - every audit region the draw can give (renderAuditRegion.ts: each raw corner position has the
 *   same probability), the cheater as the primary: the share of audits each cheat passes, per frame;
 * - R random regions per frame rendered by a cheating auditor (a border render with the cheat)
 *   against an honest primary's frame;
 * - honest pairs: R border renders of random regions per frame (1 thread) against the crop of the
 *   whole frame (2 threads): none may fail.
 *
 * `--format exr` renders half-float EXR and compares through the coordinator's tone map and its
 * highlight copy (the thresholds are the PNG ones), with two more cheats confined to values above
 * 1.0: `clipped-highlights` (the honest render clipped at 1.0, an 8-bit render passed off as HDR)
 * and `highlight-samples` (an eighth of the samples wherever the honest render exceeds 1.0);
 * `--kind highlights` runs these two only; `--sun 30` lights the scene so that most lit pixels
 * exceed 1.0 (the default scene's brightest value is ~1.04). `--scene-frames` sets the animation's length (the test uses 12: `other-frame`, frame + 3, then
 * renders past the end, where the animation holds still).
 *
 * `--batched K [--width W --height H --samples S]`: what batching audits would save — the regions
 * audits draw for K frames (one per frame) rendered (a) as K auditor tasks on a provider without a
 * warm Blender (one Blender process each), (b) as one batched auditor task (one process renders all
 * K), (c) as K auditor tasks on a provider with a warm Blender (one process kept, a render per
 * task); 1 thread each, as one provider slot. Wall time and the render processes' CPU time.
 */
import { join } from 'node:path';
import {
  compareRenderOutputs,
  compareRenderPixels,
  cropPixels,
  decodeRenderImage,
} from '../src/coordinator/verification/compareRenders.ts';
import {
  grownAuditRegion,
  RENDER_AUDIT_FRACTION,
} from '../src/coordinator/verification/renderAuditRegion.ts';
import {
  auditRegionOf,
  type RenderTask,
  renderOutputTensors,
  renderRegionOutputTensors,
  renderTasksOf,
} from '../src/protocol/render.ts';
import { decodeExr, encodeExr } from '../src/protocol/renderExr.ts';
import { cheatedImage, cheatedTask, EVERY_CHEAT } from '../src/provider/agent/renderCheats.ts';
import { probeBlender } from '../src/runtimes/blender/probeBlender.ts';
import { renderBlenderBatch } from '../src/runtimes/blender/renderBlender.ts';
import { BlenderPool } from '../src/runtimes/blender/warmBlender.ts';
import { tempDir } from '../test/helpers/fixtures.ts';
import { makeScene } from '../test/helpers/renderFixtures.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** Every region the audit draw can give for `task`, with its probability. */
function allRegions(task: RenderTask): Array<{ region: RenderTask['region']; p: number }> {
  const [x0, y0, x1, y1] = task.region;
  const first = auditRegionOf(task, RENDER_AUDIT_FRACTION, 0, 0);
  const w = first[2] - first[0];
  const h = first[3] - first[1];
  const nx = x1 - x0 + w - 1;
  const ny = y1 - y0 + h - 1;
  const out = new Map<string, { region: RenderTask['region']; p: number }>();
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const region = auditRegionOf(task, RENDER_AUDIT_FRACTION, (i + 0.5) / nx, (j + 0.5) / ny);
      const key = region.join(',');
      const e = out.get(key) ?? { region, p: 0 };
      e.p += 1 / (nx * ny);
      out.set(key, e);
    }
  }
  return [...out.values()];
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const frames = arg(args, 'frames', 12);
  const sceneFrames = arg(args, 'scene-frames', 12);
  const auditorRegions = arg(args, 'auditor-regions', 6);
  // `--sun E`: the scene's sun at strength E (3 by default; 30 puts lit surfaces far above 1.0).
  const sun = args.includes('--sun') ? arg(args, 'sun', 3) : undefined;
  const format = args.includes('--format') && args[args.indexOf('--format') + 1] === 'exr' ? 'exr' : 'png';
  const decodePng = (image: Uint8Array) => decodeRenderImage(image, format);
  const blender = await probeBlender();
  if (!blender) throw new Error('Blender is not installed (apt-get install blender)');
  const { dir, cleanup } = await tempDir('plexus-bench-render-audit-');
  try {
    const scene = join(dir, 'scene.blend');
    const other = join(dir, 'other.blend');
    await Promise.all([
      makeScene(scene, { frames: sceneFrames, ...(sun !== undefined ? { sunEnergy: sun } : {}) }),
      makeScene(other, { frames: sceneFrames, variant: 1, ...(sun !== undefined ? { sunEnergy: sun } : {}) }),
    ]);
    if (args.includes('--batched'))
      return await batchedAudits({ args, blender, dir, scene, sceneFrames, format });
    const tasks = renderTasksOf({
      frameStart: 1,
      frameEnd: frames,
      width: 64,
      height: 48,
      samples: 16,
      seed: 0,
      tiles: { x: 1, y: 1 },
      format,
    });
    let n = 0;
    const batch = async (ts: RenderTask[], blendPath: string, threads: number) =>
      ts.length === 0
        ? []
        : (
            await renderBlenderBatch({
              blender,
              blendPath,
              tasks: ts,
              threads,
              timeoutMs: 1_800_000,
              scratchDir: join(dir, `b-${n++}`),
            })
          ).map((o) => o.png);
    const honest = await batch(tasks, scene, 2);
    const honestPx = honest.map((png) => decodePng(png));
    const grow = !args.includes('--no-grow');
    // What growing costs honest renders: the mean share of the task an audit renders.
    let areaShare = 0;
    for (const [f, t] of tasks.entries()) {
      for (const { region: drawn, p } of allRegions(t)) {
        const [x0, y0, x1, y1] = grow ? grownAuditRegion(t, drawn, honestPx[f]!) : drawn;
        areaShare += (p * ((x1 - x0) * (y1 - y0))) / (t.width * t.height) / tasks.length;
      }
    }
    console.log(`an audit renders ${(areaShare * 100).toFixed(1)}% of an honest frame on average`);
    const whole = (png: Uint8Array) => renderOutputTensors(png, format);
    const regionOut = (png: Uint8Array, r: RenderTask['region']) => renderRegionOutputTensors(png, r, format);

    // Honest pairs: border renders of random regions against the crop of the whole frame.
    const rnd = (f: number, k: number, salt: string) => {
      const h = (s: string) => {
        let x = 2166136261;
        for (const c of s) x = Math.imul(x ^ c.charCodeAt(0), 16777619) >>> 0;
        return x / 2 ** 32;
      };
      return auditRegionOf(tasks[f]!, RENDER_AUDIT_FRACTION, h(`${salt}x${f}:${k}`), h(`${salt}y${f}:${k}`));
    };
    const honestRegionTasks = tasks.flatMap((t, f) =>
      Array.from({ length: auditorRegions }, (_, k) => ({
        ...t,
        region: grow ? grownAuditRegion(t, rnd(f, k, 'h'), honestPx[f]!) : rnd(f, k, 'h'),
      })),
    );
    const honestRegions = await batch(honestRegionTasks, scene, 1);
    let honestFail = 0;
    let worstHonestPsnr = Number.POSITIVE_INFINITY;
    for (const [i, t] of honestRegionTasks.entries()) {
      const f = Math.floor(i / auditorRegions);
      const c = compareRenderOutputs(whole(honest[f]!), regionOut(honestRegions[i]!, t.region));
      if (!c.ok) honestFail++;
      worstHonestPsnr = Math.min(worstHonestPsnr, c.psnrDb ?? Number.NEGATIVE_INFINITY);
    }
    console.log(
      `honest: ${honestRegionTasks.length} region pairs, ${honestFail} fail, worst PSNR ${worstHonestPsnr.toFixed(1)} dB`,
    );

    const result: Record<string, unknown> = {
      honestPairs: honestRegionTasks.length,
      honestFail,
      worstHonestPsnr,
      format,
      auditAreaShare: areaShare,
      grow,
    };
    const only = args.includes('--kind') ? args[args.indexOf('--kind') + 1] : undefined;
    for (const kind of EVERY_CHEAT.filter((k) => !only || k === only)) {
      const cheat = kind === 'other-scene' ? { kind, path: other } : { kind };
      // The cheater as primary: its whole frame, every region the draw can give.
      const plans = tasks.map((t) => cheatedTask(cheat, t, scene));
      const rendered = plans[0]
        ? await batch(
            plans.map((p) => p!.task),
            plans[0].blendPath,
            2,
          )
        : [];
      const perFrame: number[] = [];
      let bestPsnr = Number.NEGATIVE_INFINITY;
      for (const [f, t] of tasks.entries()) {
        const png = kind === 'low-res' || kind === 'black' ? cheatedImage(t, rendered[f]) : rendered[f]!;
        const cheatPx = decodePng(png);
        let pass = 0;
        for (const { region: drawn, p } of allRegions(t)) {
          // The coordinator grows a mostly flat region of the primary's image (renderAuditRegion.ts).
          const region = grow ? grownAuditRegion(t, drawn, cheatPx) : drawn;
          const c = compareRenderPixels(cheatPx, cropPixels(honestPx[f]!, region), region);
          if (c.ok) pass += p;
          bestPsnr = Math.max(bestPsnr, c.psnrDb ?? Number.NEGATIVE_INFINITY);
          if (c.ok && args.includes('--verbose'))
            console.log(
              `  frame ${t.frame} region ${region.join(',')} passes: ssim ${c.ssim?.toFixed(4)} psnr ${c.psnrDb?.toFixed(1)} dB`,
            );
        }
        perFrame.push(pass);
      }
      // The cheater as auditor: border renders of random regions with the cheat.
      const regionTasks = tasks.flatMap((t, f) =>
        Array.from({ length: auditorRegions }, (_, k) => ({ ...t, region: rnd(f, k, 'a') })),
      );
      const rplans = regionTasks.map((t) => cheatedTask(cheat, t, scene));
      const rrendered = rplans[0]
        ? await batch(
            rplans.map((p) => p!.task),
            rplans[0].blendPath,
            1,
          )
        : [];
      let auditorPass = 0;
      for (const [i, t] of regionTasks.entries()) {
        const png = kind === 'low-res' || kind === 'black' ? cheatedImage(t, rrendered[i]) : rrendered[i]!;
        const f = Math.floor(i / auditorRegions);
        if (compareRenderOutputs(whole(honest[f]!), regionOut(png, t.region)).ok) auditorPass++;
      }
      console.log(
        `cheat ${kind}: as primary passes ${perFrame.map((p) => `${(p * 100).toFixed(1)}%`).join(' ')} of the audits of frames 1..${frames} (best region PSNR ${bestPsnr.toFixed(1)} dB); as auditor passes ${auditorPass}/${regionTasks.length}`,
      );
      result[kind] = {
        primaryPassByFrame: perFrame,
        bestRegionPsnrDb: bestPsnr,
        auditorPass,
        auditorRegions: regionTasks.length,
      };
    }
    if (
      format === 'exr' &&
      (!only || only === 'highlights' || only.startsWith('highlight') || only.startsWith('clipped'))
    ) {
      // Cheats confined to highlights: the standard tone map clips them away.
      const few = (ts: RenderTask[], threads: number) =>
        batch(
          ts.map((t) => ({ ...t, samples: Math.max(1, Math.floor(t.samples / 8)) })),
          scene,
          threads,
        );
      const fewFrames = await few(tasks, 2);
      const regionTasks = tasks.flatMap((t, f) =>
        Array.from({ length: auditorRegions }, (_, k) => ({ ...t, region: rnd(f, k, 'a') })),
      );
      const honestAuditRegions = await batch(regionTasks, scene, 1);
      const fewRegions = await few(regionTasks, 1);
      const highlightShare = (exr: Uint8Array) => {
        const { rgba } = decodeExr(exr);
        let n = 0;
        for (let i = 0; i < rgba.length; i += 4) if (Math.max(rgba[i]!, rgba[i + 1]!, rgba[i + 2]!) > 1) n++;
        return n / (rgba.length / 4);
      };
      const shares = honest.map(highlightShare);
      console.log(
        `pixels above 1.0 in the honest frames: ${shares.map((x) => `${(x * 100).toFixed(1)}%`).join(' ')}`,
      );
      result.highlightPixelShare = shares;
      const cheats: Record<string, (h: Uint8Array, few: Uint8Array) => Uint8Array> = {
        'clipped-highlights': (h) => {
          const img = decodeExr(h);
          return encodeExr({ ...img, rgba: img.rgba.map((v, i) => (i % 4 === 3 ? v : Math.min(v, 1))) });
        },
        'highlight-samples': (h, f) => {
          const a = decodeExr(h);
          const b = decodeExr(f);
          const rgba = a.rgba.slice();
          for (let i = 0; i < rgba.length; i += 4)
            if (Math.max(a.rgba[i]!, a.rgba[i + 1]!, a.rgba[i + 2]!) > 1)
              rgba.set(b.rgba.subarray(i, i + 4), i);
          return encodeExr({ ...a, rgba });
        },
      };
      for (const [kind, make] of Object.entries(cheats)) {
        if (only && only !== 'highlights' && only !== kind) continue;
        const perFrame: number[] = [];
        let bestPsnr = Number.NEGATIVE_INFINITY;
        let standardPass = 0;
        for (const [f, t] of tasks.entries()) {
          const cheatPx = decodePng(make(honest[f]!, fewFrames[f]!));
          let pass = 0;
          for (const { region: drawn, p } of allRegions(t)) {
            const region = grow ? grownAuditRegion(t, drawn, cheatPx) : drawn;
            const c = compareRenderPixels(cheatPx, cropPixels(honestPx[f]!, region), region);
            if (c.ok) pass += p;
            // What the standard tone map alone would have said (before the highlight copy).
            const { highlights: _a, ...cheatStd } = cheatPx;
            const { highlights: _b, ...honestStd } = cropPixels(honestPx[f]!, region);
            const plain = compareRenderPixels(cheatStd, honestStd, region);
            if (plain.ok) standardPass += p / tasks.length;
            bestPsnr = Math.max(bestPsnr, c.psnrDb ?? Number.NEGATIVE_INFINITY);
          }
          perFrame.push(pass);
        }
        let auditorPass = 0;
        for (const [i, t] of regionTasks.entries()) {
          const f = Math.floor(i / auditorRegions);
          const png = make(honestAuditRegions[i]!, fewRegions[i]!);
          if (compareRenderOutputs(whole(honest[f]!), regionOut(png, t.region)).ok) auditorPass++;
        }
        console.log(
          `cheat ${kind}: as primary passes ${perFrame.map((p) => `${(p * 100).toFixed(1)}%`).join(' ')} of the audits of frames 1..${frames} (best region PSNR ${bestPsnr.toFixed(1)} dB; the standard tone map alone passes ${(standardPass * 100).toFixed(1)}% of all draws); as auditor passes ${auditorPass}/${regionTasks.length}`,
        );
        result[kind] = {
          primaryPassByFrame: perFrame,
          bestRegionPsnrDb: bestPsnr,
          auditorPass,
          auditorRegions: regionTasks.length,
          standardMapPassShare: standardPass,
        };
      }
    }
    return result;
  } finally {
    await cleanup();
  }
}

/** `--batched K`: K frames' audit regions rendered as K tasks (cold, warm) or as one batch. */
async function batchedAudits(o: {
  args: string[];
  blender: NonNullable<Awaited<ReturnType<typeof probeBlender>>>;
  dir: string;
  scene: string;
  sceneFrames: number;
  format: 'png' | 'exr';
}): Promise<Record<string, unknown>> {
  const k = arg(o.args, 'batched', 4);
  const width = arg(o.args, 'width', 64);
  const height = arg(o.args, 'height', 48);
  const samples = arg(o.args, 'samples', 16);
  const tasks = renderTasksOf({
    frameStart: 1,
    frameEnd: k,
    width,
    height,
    samples,
    seed: 0,
    tiles: { x: 1, y: 1 },
    format: o.format,
  });
  // The drawn region of each frame (at a fixed point of the draw: the same regions every way).
  const regions = tasks.map((t, i) => ({
    ...t,
    region: auditRegionOf(t, RENDER_AUDIT_FRACTION, (i + 0.5) / k, 0.5),
  }));
  let n = 0;
  const timed = async (f: () => Promise<Array<{ usage: { cpuMs: number } }>>) => {
    const t0 = performance.now();
    const outs = await f();
    return {
      wallSec: (performance.now() - t0) / 1000,
      cpuSec: outs.reduce((a, x) => a + x.usage.cpuMs, 0) / 1000,
    };
  };
  const cold = (ts: RenderTask[]) =>
    renderBlenderBatch({
      blender: o.blender,
      blendPath: o.scene,
      tasks: ts,
      threads: 1,
      timeoutMs: 1_800_000,
      scratchDir: join(o.dir, `batched-${n++}`),
    });
  // (a) K auditor tasks, one Blender each.
  let separate = { wallSec: 0, cpuSec: 0 };
  for (const r of regions) {
    const x = await timed(() => cold([r]));
    separate = { wallSec: separate.wallSec + x.wallSec, cpuSec: separate.cpuSec + x.cpuSec };
  }
  // (b) One batched auditor task.
  const batched = await timed(() => cold(regions));
  // (c) K auditor tasks on a warm Blender (started, and a frame of the scene rendered, beforehand).
  const pool = new BlenderPool({ scratchDir: join(o.dir, 'batched-warm'), maxProcesses: 1 });
  let warm = { wallSec: 0, cpuSec: 0 };
  try {
    const req = { blender: o.blender, blendPath: o.scene, threads: 1, timeoutMs: 1_800_000 };
    await pool.render({ ...req, task: { ...regions[0]!, seed: 99 } });
    for (const r of regions) {
      const x = await timed(async () => [await pool.render({ ...req, task: r })]);
      warm = { wallSec: warm.wallSec + x.wallSec, cpuSec: warm.cpuSec + x.cpuSec };
    }
  } finally {
    await pool.close();
  }
  const share =
    regions.reduce((a, r) => a + (r.region[2] - r.region[0]) * (r.region[3] - r.region[1]), 0) /
    (k * width * height);
  console.log(
    `${k} audit regions (${(share * 100).toFixed(1)} % of ${width}×${height} each, ${samples} samples): as ${k} cold tasks ${separate.wallSec.toFixed(1)} s wall / ${separate.cpuSec.toFixed(1)} s CPU; one batch ${batched.wallSec.toFixed(1)} s / ${batched.cpuSec.toFixed(1)} s; ${k} warm tasks ${warm.wallSec.toFixed(1)} s / ${warm.cpuSec.toFixed(1)} s`,
  );
  return {
    batchedRegions: k,
    resolution: `${width}x${height}`,
    samples,
    regionShare: share,
    separateColdTasks: separate,
    oneBatchedTask: batched,
    separateWarmTasks: warm,
    batchedVsSeparateColdWall: batched.wallSec / separate.wallSec,
    batchedVsSeparateWarmWall: batched.wallSec / warm.wallSec,
  };
}
