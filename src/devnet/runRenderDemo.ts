/**
 * `plexus devnet --demo render` (issue 20): generates the procedural scene (the Blender Python
 * script src/runtimes/blender/makeScene.py: nothing is downloaded), submits a short animation as
 * one `blender.render` job under the default verification (adaptive region audits), prints
 * progress per frame, checks every frame against a local render of the same task, and saves the
 * frames (and an MP4 when ffmpeg is installed).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { framesToVideo, submitRenderJob, writeRenderFrames } from '../cli/renderJob.ts';
import type { PlexusClient } from '../client/createClient.ts';
import {
  decodePng,
  imageScores,
  RENDER_MIN_PSNR_DB,
  RENDER_MIN_SSIM,
} from '../coordinator/verification/compareRenders.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { type RenderParams, renderTasksOf } from '../protocol/render.ts';
import { type BlenderInfo, probeBlender } from '../runtimes/blender/probeBlender.ts';
import { renderBlenderBatch } from '../runtimes/blender/renderBlender.ts';

const MAKE_SCENE = fileURLToPath(new URL('../runtimes/blender/makeScene.py', import.meta.url));

/**
 * What the render demo did.
 *
 * @example if (!(await runRenderDemo(client, { outDir })).ok) process.exitCode = 1;
 */
export type RenderDemoSummary = {
  jobId: string;
  status: string;
  frames: number;
  /** Frames within the thresholds of the local render. */
  matched: number;
  worstSsim: number;
  wallSeconds: number;
  /** Saved frame files, and the video when ffmpeg made one. */
  files: string[];
  video: string | undefined;
  ok: boolean;
};

/** Writes the demo scene (the repo's procedural scene) to `out` with Blender. */
export function makeDemoScene(blender: BlenderInfo, out: string, frames: number): Promise<void> {
  const args = ['-b', '--factory-startup', '--disable-autoexec', '-noaudio', '--python', MAKE_SCENE, '--'];
  return new Promise((resolve, reject) =>
    execFile(blender.path, [...args, out, '--frames', String(frames)], { timeout: 300_000 }, (err) =>
      err
        ? reject(new PlexusError('PLX_TASK_RUNTIME_ERROR', `makeScene.py failed: ${err.message}`))
        : resolve(),
    ),
  );
}

/**
 * Runs the render demo against a network (the devnet's coordinator, or any).
 *
 * @example const s = await runRenderDemo(client, { outDir: '.plexus/devnet/render-demo', frames: 8, print: console.log });
 */
export async function runRenderDemo(
  client: PlexusClient,
  opts: {
    outDir: string;
    frames?: number;
    width?: number;
    height?: number;
    samples?: number;
    print?: (line: string) => void;
    blender?: BlenderInfo;
  },
): Promise<RenderDemoSummary> {
  const print = opts.print ?? (() => {});
  const blender = opts.blender ?? (await probeBlender());
  if (!blender)
    throw new PlexusError('PLX_NOT_FOUND', 'the render demo needs Blender (apt-get install blender)');
  const frames = opts.frames ?? 8;
  const render: RenderParams = {
    frameStart: 1,
    frameEnd: frames,
    width: opts.width ?? 160,
    height: opts.height ?? 120,
    samples: opts.samples ?? 16,
    seed: 0,
    tiles: { x: 1, y: 1 },
    format: 'png',
  };
  const started = Date.now();
  await mkdir(opts.outDir, { recursive: true });
  const blend = join(opts.outDir, 'scene.blend');
  await makeDemoScene(blender, blend, frames);
  print(`generated the procedural scene (src/runtimes/blender/makeScene.py) → ${blend}`);
  const { jobId } = await submitRenderJob(client, {
    blend,
    frames: `1-${frames}`,
    resolution: `${render.width}x${render.height}`,
    samples: render.samples,
    seed: render.seed,
    deadlineSec: 3600,
    taskTimeoutSec: 600,
    label: 'devnet demo: procedural animation',
  });
  print(
    `submitted render job ${jobId} (${frames} frames, ${render.width}×${render.height}, ${render.samples} samples)`,
  );
  const final = await client.waitForJob(jobId, (e) => {
    if (e.type === 'task.completed')
      print(
        `  frame ${e.data.done}/${e.data.total} done on ${String(e.data.provider).slice(0, 10)}… (${(e.data.usage as { wallMs: number }).wallMs} ms)`,
      );
    else if (e.type === 'task.retry') print(`  frame re-rendered: ${e.data.code} ${e.data.message}`);
    else if (e.type === 'task.reopened')
      print(
        `  frame re-rendered: its provider ${String(e.data.provider).slice(0, 10)}… was caught cheating ${e.data.caughtOn ? 'on another frame' : 'elsewhere'}`,
      );
    else if (e.type === 'job.failed') print(`  job failed: ${e.data.code} ${e.data.message}`);
  });
  const summary: RenderDemoSummary = {
    jobId,
    status: final.status,
    frames,
    matched: 0,
    worstSsim: 1,
    wallSeconds: 0,
    files: [],
    video: undefined,
    ok: false,
  };
  if (final.status !== 'completed') return summary;
  const framesDir = join(opts.outDir, 'frames');
  await mkdir(framesDir, { recursive: true });
  const outputs = (await client.jobResults(jobId)).outputs as Array<{ index: number; output: string }>;
  summary.files = await writeRenderFrames(client, render, outputs, framesDir);
  print(`checking ${frames} frames against a local render…`);
  const local = await renderBlenderBatch({
    blender,
    blendPath: blend,
    tasks: renderTasksOf(render),
    threads: 2,
    timeoutMs: 1_800_000,
    scratchDir: join(opts.outDir, 'local-render'),
  });
  for (const [i, file] of summary.files.entries()) {
    const s = imageScores(decodePng(await readFile(file)), decodePng(local[i]!.png));
    const ok = s.ssim >= RENDER_MIN_SSIM && s.psnrDb >= RENDER_MIN_PSNR_DB;
    if (ok) summary.matched++;
    summary.worstSsim = Math.min(summary.worstSsim, s.ssim);
    print(
      `  frame ${i + 1}: SSIM ${s.ssim.toFixed(4)}, PSNR ${s.psnrDb.toFixed(1)} dB ${ok ? 'ok' : 'MISMATCH'}`,
    );
  }
  try {
    const video = join(opts.outDir, 'render.mp4');
    await framesToVideo(framesDir, 1, video, 12);
    summary.video = video;
  } catch (err) {
    print(`  no video: ${err instanceof Error ? err.message : String(err)}`);
  }
  summary.wallSeconds = (Date.now() - started) / 1000;
  summary.ok = summary.matched === frames;
  return summary;
}
