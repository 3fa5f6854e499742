import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { pngSize, renderOutputTensors, renderRegionOutputTensors } from '../../protocol/render.ts';
import { encodeExr, toneMapExr, toneMapExrHighlights } from '../../protocol/renderExr.ts';
import { compareRenderOutputs, imageScores } from './compareRenders.ts';

/** A test picture: gradient and shapes, with `noise` random per-pixel jitter (like sampling noise). */
function picture(w: number, h: number, opts: { noise?: number; shift?: number; fill?: string } = {}) {
  const c = createCanvas(w, h);
  const ctx = c.getContext('2d');
  const g = ctx.createLinearGradient(0, 0, w, h);
  g.addColorStop(0, '#203040');
  g.addColorStop(1, '#c0a080');
  ctx.fillStyle = opts.fill ?? g;
  ctx.fillRect(0, 0, w, h);
  if (!opts.fill) {
    ctx.fillStyle = '#e04020';
    ctx.beginPath();
    ctx.arc(w / 3 + (opts.shift ?? 0), h / 2, h / 4, 0, Math.PI * 2);
    ctx.fill();
  }
  const img = ctx.getImageData(0, 0, w, h);
  let s = 1;
  for (let i = 0; i < img.data.length; i++) {
    if (i % 4 === 3 || !opts.noise) continue;
    s = (s * 16807) % 2147483647;
    img.data[i] = Math.max(0, Math.min(255, img.data[i]! + ((s / 2147483647) * 2 - 1) * opts.noise));
  }
  ctx.putImageData(img, 0, 0);
  return renderOutputTensors(c.toBuffer('image/png'));
}

test('the same picture passes; noise, a moved object, black and another size fail', () => {
  const a = picture(64, 48);
  assert.equal(compareRenderOutputs(a, picture(64, 48)).ok, true);
  const noisy = compareRenderOutputs(a, picture(64, 48, { noise: 60 }));
  assert.equal(noisy.ok, false, JSON.stringify(noisy));
  assert.equal(compareRenderOutputs(a, picture(64, 48, { shift: 10 })).ok, false);
  const black = compareRenderOutputs(a, picture(64, 48, { fill: '#000' }));
  assert.equal(black.ok, false);
  assert.match(black.reasons.join(' '), /ssim/);
  assert.match(compareRenderOutputs(a, picture(32, 24)).reasons[0]!, /size/);
  assert.match(
    compareRenderOutputs(a, renderOutputTensors(new Uint8Array([1, 2]))).reasons[0]!,
    /not a render output/,
  );
});

test('an image whose header claims another size is refused from its header, never decoded', () => {
  const a = picture(64, 48);
  const png = Buffer.from(a.png!.data as Uint8Array);
  assert.deepEqual(pngSize(png), { width: 64, height: 48 });
  // The IHDR of a 16384×16384 image (decoding one costs ~3 GB); the rest of the file is unchanged.
  png.writeUInt32BE(16_384, 16);
  png.writeUInt32BE(16_384, 20);
  const huge = compareRenderOutputs(a, renderOutputTensors(png));
  assert.deepEqual(huge.reasons, ['size 64×48 ≠ 16384×16384']);
  assert.equal(pngSize(Buffer.from('not a png at all, not at all')), undefined);
  assert.deepEqual(compareRenderOutputs(a, renderOutputTensors(Buffer.from('GIF89a'))).reasons, [
    'not a render output: not a PNG',
  ]);
});

/** A float image with a gradient and some values above 1 (`scale` brightens or darkens it). */
function image(width: number, height: number, scale = 1) {
  const rgba = new Float32Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      rgba.set([(scale * x) / width, (scale * y) / height, ((x * y) % 7) / 3, 1], (y * width + x) * 4);
  return { width, height, rgba };
}

test('EXR outputs compare through the tone map: the same image agrees, a region crops, a dark one fails', () => {
  const a = image(64, 48);
  const whole = renderOutputTensors(encodeExr(a), 'exr');
  assert.equal(compareRenderOutputs(whole, renderOutputTensors(encodeExr(a), 'exr')).ok, true);
  const crop: [number, number, number, number] = [8, 4, 24, 16];
  const part = new Float32Array(16 * 12 * 4);
  for (let y = 0; y < 12; y++)
    part.set(a.rgba.subarray(((4 + y) * 64 + 8) * 4, ((4 + y) * 64 + 24) * 4), y * 64);
  const region = renderRegionOutputTensors(encodeExr({ width: 16, height: 12, rgba: part }), crop, 'exr');
  assert.equal(compareRenderOutputs(whole, region).ok, true);
  const dark = compareRenderOutputs(whole, renderOutputTensors(encodeExr(image(64, 48, 0.25)), 'exr'));
  assert.equal(dark.ok, false);
  // Another format, or a size lie, is refused without decoding.
  assert.match(compareRenderOutputs(whole, renderOutputTensors(new Uint8Array(8))).reasons[0]!, /format/);
  assert.match(
    compareRenderOutputs(whole, renderOutputTensors(encodeExr(image(32, 48)), 'exr')).reasons[0]!,
    /size/,
  );
});

test('EXR highlights count: a cheat confined to values above 1.0 fails, in a region too', () => {
  // A scene with a bright highlight: linear values 2–12 over a third of the frame.
  const honest = image(64, 48);
  for (let y = 10; y < 34; y++)
    for (let x = 20; x < 44; x++) honest.rgba.set([2 + (x % 5) * 2, 3 + (y % 4) * 2, 4, 1], (y * 64 + x) * 4);
  const clip = (img: ReturnType<typeof image>, f: (v: number, i: number) => number) => ({
    ...img,
    rgba: img.rgba.map((v, i) => (i % 4 === 3 ? v : f(v, i))),
  });
  const whole = renderOutputTensors(encodeExr(honest), 'exr');
  // Clipped at 1.0 (an 8-bit render passed off as HDR), or highlights at half their value: the
  // standard tone map shows the same pixels, the highlight copy does not.
  for (const cheat of [clip(honest, (v) => Math.min(v, 1)), clip(honest, (v) => (v > 1 ? v / 2 + 0.5 : v))]) {
    const standard = imageScores(toneMapExr(honest), toneMapExr(cheat));
    assert.equal(standard.psnrDb, Number.POSITIVE_INFINITY, 'the standard map cannot see it');
    const c = compareRenderOutputs(whole, renderOutputTensors(encodeExr(cheat), 'exr'));
    assert.equal(c.ok, false);
    assert.match(c.reasons.join(' '), /highlights/);
    // A region audit over the highlight, against the cheat's whole frame.
    const crop: [number, number, number, number] = [24, 14, 40, 26];
    const part = new Float32Array(16 * 12 * 4);
    for (let y = 0; y < 12; y++)
      part.set(honest.rgba.subarray(((14 + y) * 64 + 24) * 4, ((14 + y) * 64 + 40) * 4), y * 64);
    const region = renderRegionOutputTensors(encodeExr({ width: 16, height: 12, rgba: part }), crop, 'exr');
    assert.equal(compareRenderOutputs(whole, region).ok, true, 'honest region');
    assert.equal(compareRenderOutputs(renderOutputTensors(encodeExr(cheat), 'exr'), region).ok, false);
  }
  // The highlight copy: darkened 4 stops and soft-clipped, nothing saturates.
  const px = toneMapExrHighlights({ width: 1, height: 1, rgba: Float32Array.from([1, 16, 1e6, 0.5]) });
  assert.deepEqual(Array.from(px.data), [69, 188, 255, 128]);
});
