/**
 * The explorer's frame thumbnails in Chromium (docs/render.md, "Explorer"): a public
 * `blender.render` job rendered by a real provider with real Blender shows one thumbnail per
 * frame on its page, each canvas holding the pixels of that frame's output; a public EXR job's
 * thumbnails hold its outputs tone-mapped as the coordinator compares them; a private job's page
 * says its frames are private and loads none of them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { submitRenderJob } from '../src/cli/renderJob.ts';
import { decodePng, imageScores } from '../src/coordinator/verification/compareRenders.ts';
import { pngOfRenderOutput, renderImageParts } from '../src/protocol/render.ts';
import { decodeExr, toneMapExr } from '../src/protocol/renderExr.ts';
import { decodeSafetensors } from '../src/protocol/safetensors.ts';
import { makeScene } from './helpers/renderFixtures.ts';
import { renderNetwork } from './helpers/renderNetwork.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const WEB = join(import.meta.dirname, '..', 'web', 'dist', 'index.html');
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`
  : !existsSync(WEB)
    ? 'the explorer is not built: npm run build:web'
    : false;
const FRAMES = 3;

describe('explorer: frame thumbnails of a render job', { skip }, () => {
  const net = renderNetwork();
  let browser: Browser | undefined;
  let jobId = '';
  let privateJobId = '';
  let exrJobId = '';

  before(async () => {
    await net.open('plexus-render-explorer-', (d) => makeScene(join(d, 'scene.blend'), { frames: FRAMES }));
    if (!net.blender) return;
    await mkdir(ARTIFACTS, { recursive: true });
    await net.startProvider('renderer');
    await net.waitOnline(1);
    const job = {
      blend: net.scene(),
      frames: `1-${FRAMES}`,
      resolution: '64x48',
      samples: 8,
      seed: 0,
      deadlineSec: 900,
      taskTimeoutSec: 300,
      verify: { policy: 'none' as const },
    };
    ({ jobId } = await submitRenderJob(net.client, { ...job, public: true }));
    ({ jobId: privateJobId } = await submitRenderJob(net.client, { ...job, frames: '1-1' }));
    ({ jobId: exrJobId } = await submitRenderJob(net.client, {
      ...job,
      frames: '1-2',
      format: 'exr',
      public: true,
    }));
    for (const id of [jobId, privateJobId, exrJobId])
      assert.equal(
        (await net.client.waitForJob(id, undefined, AbortSignal.timeout(600_000))).status,
        'completed',
      );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await net.close();
  });

  test('a public job shows each frame as rendered; a private one shows none', {
    timeout: 900_000,
  }, async (t) => {
    if (!browser) return t.skip('Blender is not installed');
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${net.c.url}/#/jobs/${jobId}`);
    const canvases = page.locator('[data-testid=render-frames] canvas');
    await canvases.first().waitFor({ timeout: 60_000 });
    assert.equal(await canvases.count(), FRAMES);
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=render-frames] canvas[data-drawn]').length === n,
      FRAMES,
      { timeout: 60_000 },
    );
    assert.equal(await page.locator('[data-testid=render-frames] canvas[data-error]').count(), 0);
    const results = (await net.client.jobResults(jobId)).outputs as Array<{ index: number; output: string }>;
    for (let f = 0; f < FRAMES; f++) {
      const out = results.find((r) => r.index === f);
      assert.ok(out, `frame ${f + 1} has an output`);
      const png = decodePng(
        Buffer.from(pngOfRenderOutput(decodeSafetensors(await net.client.downloadBlob(out.output)))),
      );
      const shown = await page.evaluate((frame) => {
        const c = document.querySelector<HTMLCanvasElement>(
          `[data-testid=render-frames] canvas[data-frame="${frame}"]`,
        );
        const ctx = c?.getContext('2d');
        if (!c || !ctx) return undefined;
        return {
          width: c.width,
          height: c.height,
          data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data),
        };
      }, f + 1);
      assert.ok(shown, `frame ${f + 1} has a canvas`);
      assert.deepEqual([shown.width, shown.height], [64, 48]);
      const s = imageScores(png, { ...shown, data: Uint8ClampedArray.from(shown.data) });
      // The browser decodes the same PNG: equal up to its colour handling (a few levels at most).
      assert.ok(s.psnrDb >= 40 && s.ssim >= 0.99, `frame ${f + 1}: ${JSON.stringify(s)}`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-render-frames.png'), fullPage: true });

    // EXR: each thumbnail is the output tone-mapped (clamped, sRGB, 8 bits) as the coordinator does.
    await page.goto(`${net.c.url}/#/jobs/${exrJobId}`);
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid=render-frames] canvas[data-drawn]').length === 2,
      undefined,
      { timeout: 60_000 },
    );
    assert.equal(await page.locator('[data-testid=render-frames] canvas[data-error]').count(), 0);
    const exrResults = (await net.client.jobResults(exrJobId)).outputs as Array<{
      index: number;
      output: string;
    }>;
    for (let f = 0; f < 2; f++) {
      const out = exrResults.find((r) => r.index === f);
      assert.ok(out, `EXR frame ${f + 1} has an output`);
      const { image, format } = renderImageParts(
        decodeSafetensors(await net.client.downloadBlob(out.output)),
      );
      assert.equal(format, 'exr');
      const want = toneMapExr(decodeExr(image));
      const shown = await page.evaluate((frame) => {
        const c = document.querySelector<HTMLCanvasElement>(
          `[data-testid=render-frames] canvas[data-frame="${frame}"]`,
        );
        const ctx = c?.getContext('2d');
        if (!c || !ctx) return undefined;
        return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
      }, f + 1);
      assert.ok(shown, `EXR frame ${f + 1} has a canvas`);
      const s = imageScores(want, { ...want, data: Uint8ClampedArray.from(shown) });
      // putImageData writes the pixels as given (opaque renders: no premultiplication loss).
      assert.ok(s.psnrDb >= 40 && s.ssim >= 0.99, `EXR frame ${f + 1}: ${JSON.stringify(s)}`);
    }

    await page.goto(`${net.c.url}/#/jobs/${privateJobId}`);
    await page.getByText('Frames are private').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('[data-testid=render-frames] canvas').count(), 0);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
