/**
 * Frame thumbnails of a `blender.render` job on its page (docs/render.md). The explorer reads
 * blobs without a signature, so it shows frames only for a public job (docs/security.md, "Who can
 * read what": a public job's outputs are readable by anyone); a private job's frames stay with its
 * client, who downloads them with `plexus job results`. Each frame is drawn from its tiles'
 * outputs (a safetensors file whose uint8 tensor `png` is the tile's image) at their regions; an
 * EXR job's tiles (tensor `exr`) are tone-mapped as the coordinator compares them (exrThumbnail.ts).
 */
import { blobUrlOf, type JobWithTasks } from '../api.ts';
import { card, empty, h } from '../dom.ts';
import { exrThumbnail, imageOfSafetensors } from '../exrThumbnail.ts';

/** Frames shown at most (the first ones). */
const MAX_FRAMES = 48;

type RenderSection = {
  frameStart: number;
  frameEnd: number;
  width: number;
  height: number;
  tiles: { x: number; y: number };
};

/** Draws frame `f`'s tiles into `canvas` (tile edges at ⌊i·size/n⌋, as protocol/render.ts cuts them). */
async function drawFrame(canvas: HTMLCanvasElement, r: RenderSection, urls: Array<string | undefined>) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  let i = 0;
  for (let ty = 0; ty < r.tiles.y; ty++)
    for (let tx = 0; tx < r.tiles.x; tx++) {
      const url = urls[i++];
      if (!url) continue;
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      const image = imageOfSafetensors(bytes);
      const [x0, y0] = [Math.floor((tx * r.width) / r.tiles.x), Math.floor((ty * r.height) / r.tiles.y)];
      if ('exr' in image) {
        const x1 = Math.floor(((tx + 1) * r.width) / r.tiles.x);
        const y1 = Math.floor(((ty + 1) * r.height) / r.tiles.y);
        const px = exrThumbnail(image.exr, x1 - x0, y1 - y0);
        ctx.putImageData(new ImageData(px.data, px.width, px.height), x0, y0);
        continue;
      }
      const img = await createImageBitmap(new Blob([image.png.slice()], { type: 'image/png' }));
      ctx.drawImage(img, x0, y0);
    }
}

/**
 * The "Frames" card of a render job (undefined for other kinds).
 *
 * @example const frames = renderFrames(job); if (frames) page.append(frames);
 */
export function renderFrames(job: JobWithTasks): HTMLElement | undefined {
  const spec = job.spec as { kind: string; public?: boolean; render?: RenderSection };
  if (spec.kind !== 'blender.render') return undefined;
  // A private job read by anyone but its client carries no render section (its spec is private).
  if (spec.public !== true || !spec.render)
    return card(
      'Frames',
      empty(
        'Frames are private',
        'Only the job’s client can see them: plexus job results JOB --out frames/ (a public job shows its frames here).',
      ),
    );
  const r = spec.render;
  const perFrame = r.tiles.x * r.tiles.y;
  const outputOf = new Map(job.tasks.map((t) => [t.index, t.output]));
  const frames = Math.min(r.frameEnd - r.frameStart + 1, MAX_FRAMES);
  const scale = Math.min(1, 160 / r.width);
  const thumbs: HTMLElement[] = [];
  for (let f = 0; f < frames; f++) {
    const urls = Array.from({ length: perFrame }, (_, k) => {
      const cid = outputOf.get(f * perFrame + k);
      return cid ? blobUrlOf(spec, cid) : undefined;
    });
    const canvas = h('canvas', {
      width: String(r.width),
      height: String(r.height),
      style: `width:${Math.round(r.width * scale)}px;height:${Math.round(r.height * scale)}px`,
      'data-frame': String(r.frameStart + f),
    }) as HTMLCanvasElement;
    if (urls.some(Boolean))
      void drawFrame(canvas, r, urls).then(
        () => canvas.setAttribute('data-drawn', '1'),
        () => canvas.setAttribute('data-error', '1'),
      );
    thumbs.push(h('figure', { class: 'frame' }, canvas, h('figcaption', {}, `frame ${r.frameStart + f}`)));
  }
  return card(
    `Frames (${frames}${frames < r.frameEnd - r.frameStart + 1 ? ` of ${r.frameEnd - r.frameStart + 1}` : ''})`,
    h('div', { class: 'frames', 'data-testid': 'render-frames' }, thumbs),
  );
}
