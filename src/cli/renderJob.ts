/**
 * `plexus job submit --kind blender.render`: uploads the `.blend` and one task descriptor per
 * frame (or tile), submits the signed job; and `plexus job results` of a render job: the frames
 * as numbered PNGs or EXRs (tiles stitched), and an MP4 with ffmpeg when asked and installed.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlexusError } from '../errors/PlexusError.ts';
import {
  encodeRenderTask,
  imageOfRenderOutput,
  pngOfRenderOutput,
  type RenderParams,
  renderImageSize,
  renderTasksOf,
} from '../protocol/render.ts';
import { decodeExr, encodeExr } from '../protocol/renderExr.ts';
import { decodeSafetensors } from '../protocol/safetensors.ts';
import type { BlenderRenderSpec, JobVerification } from '../protocol/schemas.ts';

/** `1-48` or `7` → [first, last]; PLX_VALIDATION otherwise. */
export function parseFrames(value: string): [number, number] {
  const m = /^(\d{1,7})(?:-(\d{1,7}))?$/.exec(value);
  const a = Number(m?.[1]);
  const b = m?.[2] === undefined ? a : Number(m[2]);
  if (!m || b < a)
    throw new PlexusError('PLX_VALIDATION', `--frames ${value}: expected FIRST-LAST, e.g. 1-48`);
  return [a, b];
}

/** `2x2` → { x: 2, y: 2 }; PLX_VALIDATION otherwise. */
export function parseGrid(value: string, what: string): { x: number; y: number } {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(value);
  if (!m) throw new PlexusError('PLX_VALIDATION', `${what} ${value}: expected WxH, e.g. 2x2`);
  return { x: Number(m[1]), y: Number(m[2]) };
}

/** `png` or `exr`; PLX_VALIDATION otherwise. */
export function parseFormat(value: string): 'png' | 'exr' {
  if (value === 'png' || value === 'exr') return value;
  throw new PlexusError('PLX_VALIDATION', `--format ${value}: expected png or exr`);
}

export type RenderSubmitOptions = {
  blend: string;
  frames: string;
  tiles?: string;
  resolution: string;
  samples: number;
  seed: number;
  blenderMajor?: number;
  /** `png` (default) or `exr` (half-float OpenEXR, docs/render.md "EXR"). */
  format?: string;
  deadlineSec: number;
  taskTimeoutSec: number;
  label?: string;
  verify?: JobVerification;
  maxPrice?: bigint;
  /** Public data: anyone may read the job's frames (the explorer shows them). */
  public?: boolean;
};

type Client = ReturnType<typeof import('../client/createClient.ts').createClient>;

/**
 * Uploads the `.blend` and the task descriptors and submits the job.
 *
 * @example const { jobId, tasks } = await submitRenderJob(client, { blend: 'scene.blend', frames: '1-12', resolution: '64x48', samples: 16, seed: 0, deadlineSec: 3600, taskTimeoutSec: 120 });
 */
export async function submitRenderJob(client: Client, o: RenderSubmitOptions) {
  const [frameStart, frameEnd] = parseFrames(o.frames);
  const res = parseGrid(o.resolution, '--resolution');
  const render: RenderParams = {
    frameStart,
    frameEnd,
    width: res.x,
    height: res.y,
    samples: o.samples,
    seed: o.seed,
    tiles: o.tiles ? parseGrid(o.tiles, '--tiles') : { x: 1, y: 1 },
    format: parseFormat(o.format ?? 'png'),
    ...(o.blenderMajor === undefined ? {} : { blenderMajor: o.blenderMajor }),
  };
  const blend = await client.uploadFile(o.blend);
  const inputs: string[] = [];
  for (const t of renderTasksOf(render)) inputs.push((await client.uploadBlob(encodeRenderTask(t))).cid);
  const spec: BlenderRenderSpec = {
    kind: 'blender.render',
    model: blend.cid,
    inputs,
    render,
    resources: { minMemoryMiB: 0, gpu: false },
    deadline: Math.floor(Date.now() / 1000) + o.deadlineSec,
    maxAttempts: 3,
    taskTimeoutSec: o.taskTimeoutSec,
    ...(o.label ? { label: o.label } : {}),
    ...(o.verify ? { verification: o.verify } : {}),
    ...(o.public ? { public: true } : {}),
  };
  return client.submitJob(spec, o.maxPrice !== undefined ? { maxPricePerUnit: o.maxPrice } : {});
}

/**
 * Writes a finished render job's frames into `out` as `frame-0001.png` … (`.exr` for an EXR
 * job), each stitched from its tiles; returns the files. The job's outputs are in task order
 * (renderTasksOf).
 */
export async function writeRenderFrames(
  client: Client,
  render: RenderParams,
  outputs: Array<{ index: number; output: string }>,
  out: string,
): Promise<string[]> {
  if (render.format === 'exr') return writeExrFrames(client, render, outputs, out);
  const { createCanvas, Image } = await import('@napi-rs/canvas');
  const tasks = renderTasksOf(render);
  const byIndex = new Map(outputs.map((o) => [o.index, o.output]));
  const perFrame = render.tiles.x * render.tiles.y;
  const files: string[] = [];
  for (let f = 0; f * perFrame < tasks.length; f++) {
    const canvas = createCanvas(render.width, render.height);
    const ctx = canvas.getContext('2d');
    for (let i = f * perFrame; i < (f + 1) * perFrame; i++) {
      const cid = byIndex.get(i);
      if (!cid) throw new PlexusError('PLX_NOT_FOUND', `task ${i} of the job has no output`);
      const img = new Image();
      img.src = Buffer.from(pngOfRenderOutput(decodeSafetensors(await client.downloadBlob(cid))));
      const [x0, y0] = tasks[i]!.region;
      ctx.drawImage(img, x0, y0);
    }
    const file = join(out, `frame-${String(tasks[f * perFrame]!.frame).padStart(4, '0')}.png`);
    await writeFile(file, canvas.toBuffer('image/png'));
    files.push(file);
  }
  return files;
}

/**
 * writeRenderFrames of an EXR job: a frame of one tile is the provider's EXR as it came (its
 * header checked to be the frame's size first); a tiled frame is decoded tile by tile and written
 * as one uncompressed float EXR (renderExr.ts `encodeExr`, exact for the tiles' half values).
 */
async function writeExrFrames(
  client: Client,
  render: RenderParams,
  outputs: Array<{ index: number; output: string }>,
  out: string,
): Promise<string[]> {
  const tasks = renderTasksOf(render);
  const byIndex = new Map(outputs.map((o) => [o.index, o.output]));
  const perFrame = render.tiles.x * render.tiles.y;
  const files: string[] = [];
  for (let f = 0; f * perFrame < tasks.length; f++) {
    const rgba = new Float32Array(render.width * render.height * 4);
    let whole: Uint8Array | undefined;
    for (let i = f * perFrame; i < (f + 1) * perFrame; i++) {
      const cid = byIndex.get(i);
      if (!cid) throw new PlexusError('PLX_NOT_FOUND', `task ${i} of the job has no output`);
      const { image, format } = imageOfRenderOutput(decodeSafetensors(await client.downloadBlob(cid)));
      const [x0, y0, x1, y1] = tasks[i]!.region;
      const size = renderImageSize(image, format);
      if (format !== 'exr' || size?.width !== x1 - x0 || size.height !== y1 - y0)
        throw new PlexusError('PLX_VALIDATION', `task ${i}'s output is not a ${x1 - x0}×${y1 - y0} EXR`);
      if (perFrame === 1) {
        whole = image;
        break;
      }
      const tile = decodeExr(image);
      for (let y = 0; y < tile.height; y++)
        rgba.set(
          tile.rgba.subarray(y * tile.width * 4, (y + 1) * tile.width * 4),
          ((y0 + y) * render.width + x0) * 4,
        );
    }
    const file = join(out, `frame-${String(tasks[f * perFrame]!.frame).padStart(4, '0')}.exr`);
    await writeFile(file, whole ?? encodeExr({ width: render.width, height: render.height, rgba }));
    files.push(file);
  }
  return files;
}

/**
 * Encodes numbered frames into an H.264 MP4 with ffmpeg (PLX_NOT_FOUND when ffmpeg is missing).
 * EXR frames (scene-linear) are converted by ffmpeg's EXR decoder to sRGB (`-apply_trc
 * iec61966_2_1`, clamped: the tone map verification uses), then encoded like PNG frames.
 *
 * @example await framesToVideo('out', 1, 'out/render.mp4', 24);
 */
export async function framesToVideo(
  dir: string,
  firstFrame: number,
  video: string,
  fps = 24,
  format: 'png' | 'exr' = 'png',
): Promise<void> {
  const args = ['-y', '-loglevel', 'error', '-framerate', String(fps), '-start_number', String(firstFrame)];
  if (format === 'exr') args.push('-apply_trc', 'iec61966_2_1');
  args.push('-i', join(dir, `frame-%04d.${format}`), '-c:v', 'libx264', '-pix_fmt', 'yuv420p');
  // Even dimensions, which yuv420p needs.
  args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', video);
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    p.on('error', () =>
      reject(new PlexusError('PLX_NOT_FOUND', 'ffmpeg is not installed (apt-get install ffmpeg)')),
    );
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new PlexusError('PLX_TASK_RUNTIME_ERROR', `ffmpeg failed: ${err.slice(-300)}`)),
    );
  });
}
