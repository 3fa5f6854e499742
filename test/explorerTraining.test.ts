/**
 * The explorer's training card in Chromium (docs/training.md): a `train.diloco` job on a real
 * coordinator, its rounds answered by a scripted provider with known losses, shows a loss curve
 * with one point per closed round, the held-out accuracy curve and the rounds table.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { createClient } from '../src/client/createClient.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { LOSS_TENSOR } from '../src/runtimes/tfjs/innerLoop.ts';
import { buildModel, initialWeights, shardTensors } from '../src/runtimes/tfjs/layersModel.ts';
import { loadMnist, mnistTopology } from '../src/runtimes/tfjs/mnistExample.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const chromiumMissing = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`;
/** The training loss the scripted provider reports in each round. */
const LOSSES = [2.25, 1.5, 0.75];

describe('explorer: the loss curve of a training job', { skip: chromiumMissing }, () => {
  let c: Awaited<ReturnType<typeof testCoordinator>>;
  let provider: RawProvider;
  let browser: Browser;
  let launching: Promise<Browser> | undefined;
  let jobId: string;

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // Chromium starts while the job runs.
    launching = chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    c = await testCoordinator({ canaryRate: 0 });
    provider = await connectRawProvider(c.url, randomAccount());
    const topology = await mnistTopology(4);
    const model = await buildModel(topology);
    const initial = initialWeights(model, 1);
    model.dispose();
    const { train, test: held } = loadMnist({ trainSize: 32, testSize: 50 });
    const sdk = createClient({ url: c.url, account: randomAccount() });
    const up = async (b: Uint8Array) => (await sdk.uploadBlob(b)).cid;
    ({ jobId } = await sdk.submitJob({
      kind: 'train.diloco',
      model: await up(Buffer.from(topology)),
      weights: await up(encodeSafetensors(initial)),
      shards: [await up(encodeSafetensors(shardTensors(train.x, train.xShape, train.y)))],
      validation: await up(encodeSafetensors(shardTensors(held.x, held.xShape, held.y))),
      workers: 1,
      rounds: LOSSES.length,
      innerSteps: 1,
      batchSize: 8,
      deadline: Math.floor(Date.now() / 1000) + 300,
      verification: { policy: 'none' },
    }));
    // A zero update (the weights stay) with a known loss, round after round.
    for (const loss of LOSSES) {
      const out: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(initial))
        out[name] = { dtype: 'float32', shape: t.shape, data: new Float32Array(t.data.length) };
      out[LOSS_TENSOR] = { dtype: 'float32', shape: [1], data: new Float32Array([loss]) };
      await provider.deliver(await provider.next('assign', 60_000), out);
    }
    assert.equal((await sdk.waitForJob(jobId, undefined, AbortSignal.timeout(120_000))).status, 'completed');
    browser = await launching;
  });
  after(async () => {
    await (browser ?? (await launching?.catch(() => undefined)))?.close();
    await provider?.close();
    await c?.cleanup();
  });

  test('the job page draws one loss point per round, the accuracy curve and the rounds table', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${c.url}/#/jobs/${jobId}`);
    await page.locator('[data-testid=loss-curve] polyline').first().waitFor({ timeout: 60_000 });
    const training = page.locator('[data-testid=loss-curve] polyline[data-series="training loss"]');
    const points = ((await training.getAttribute('points')) ?? '').trim().split(/\s+/);
    assert.equal(points.length, LOSSES.length, 'one point per closed round');
    // Falling losses: each point lower on the chart (larger y) than the one before.
    const ys = points.map((p) => Number(p.split(',')[1]));
    for (let i = 1; i < ys.length; i++)
      assert.ok((ys[i] as number) > (ys[i - 1] as number), `round ${i + 1} lower`);
    assert.equal(
      await page.locator('[data-testid=loss-curve] polyline[data-series="held-out loss"]').count(),
      1,
    );
    assert.equal(await page.locator('[data-testid=accuracy-curve] polyline').count(), 1);
    const rows = await page.locator('[data-testid=training-rounds] tbody tr').allInnerTexts();
    assert.equal(rows.length, LOSSES.length);
    for (const [i, l] of LOSSES.entries())
      assert.match(rows[i] ?? '', new RegExp(`^${i + 1}\\s+${l.toFixed(4)}`));
    assert.match(
      (await page.locator('[data-testid=training-progress]').textContent()) ?? '',
      /3 of 3 rounds closed/,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-training.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
