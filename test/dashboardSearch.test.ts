/**
 * The explorer's issue-22 views in Debian's Chromium (playwright-core) against an in-process
 * coordinator: search by job id, address, content id (and a miss), a job's cost, the sensors view
 * (devices on the Natural Earth map coloured by their real quality score, a station claimed at sea
 * flagged), in a wide and a phone-sized window without sideways overflow, with screenshots in
 * test-artifacts/. Jobs run on scripted providers (raw WebSockets); sensor readings of one day are
 * written into the store and scored by the real scorer (as test/sensorScoring.test.ts does).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createClient } from '../src/client/createClient.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { scoreSensors, storeScores } from '../src/sensors/scoring/scoreSensors.ts';
import { CHAIN, EPOCHS } from './helpers/explorerFixtures.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const DAY = 86_400_000;
const dayStart = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const chromiumMissing = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`;

const STATIONS = {
  amsterdam: { address: `0x${'a1'.repeat(20)}`, lat: 52.37, lon: 4.9 },
  utrecht: { address: `0x${'a2'.repeat(20)}`, lat: 52.09, lon: 5.12 },
  // Claimed in the North Sea: the land mask flags it.
  sea: { address: `0x${'a3'.repeat(20)}`, lat: 52.5, lon: 3.0 },
};

describe('explorer search, job cost and sensor map in Chromium', { skip: chromiumMissing }, () => {
  let c: Awaited<ReturnType<typeof testCoordinator>>;
  let browser: Browser;
  let provider: RawProvider;
  let jobId: string;
  let client: string;
  let inputCid: string;

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    c = await testCoordinator({ canaryRate: 0 });
    provider = await connectRawProvider(c.url, randomAccount());
    const account = randomAccount();
    client = account.address.toLowerCase();
    const sdk = createClient({ url: c.url, account });
    const model = await sdk.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    inputCid = (await sdk.uploadBlob(encodeSafetensors(ocrInput(5, 32, 32)))).cid;
    ({ jobId } = await sdk.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [inputCid],
      deadline: Math.floor(Date.now() / 1000) + 120,
      label: 'search test',
      verification: { policy: 'none' },
    }));
    const out: Record<string, Tensor> = {
      y: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) },
    };
    await provider.deliver(await provider.next('assign', 60_000), out);
    assert.equal((await sdk.waitForJob(jobId)).status, 'completed');

    // One day of plausible readings for each station, owned by the connected provider.
    const db = c.store.sqlite!;
    const insDevice = db.prepare(
      `INSERT INTO sensor_devices (address, owner, model, lat, lon, registration, registered_at)
       VALUES (?, ?, 'ws1000-60s', ?, ?, '{}', ?)`,
    );
    const insReading = db.prepare(
      'INSERT INTO sensor_readings (device, variable, t, value, flag) VALUES (?, ?, ?, ?, 0)',
    );
    const insBatch = db.prepare(
      `INSERT INTO sensor_batches (id, device, sequence, issued_at, received_at, lat, lon, readings, stored, source)
       VALUES (?, ?, ?, 0, ?, ?, ?, 0, 0, 'http')`,
    );
    db.transaction(() => {
      for (const [name, s] of Object.entries(STATIONS)) {
        insDevice.run(s.address, provider.account.address.toLowerCase(), s.lat, s.lon, dayStart - DAY);
        for (let t = dayStart; t < dayStart + DAY; t += 60_000) {
          const d = Math.sin((2 * Math.PI * (t - dayStart - 6 * 3_600_000)) / DAY);
          const wobble = Math.sin(t / 7_000_000 + name.length) * 0.3;
          insReading.run(s.address, 'temperature', t, 10 + 5 * d + wobble);
          insReading.run(s.address, 'humidity', t, 70 - 10 * d + wobble);
          insReading.run(s.address, 'pressure', t, 1013 + wobble);
        }
        for (let h = 0; h < 24; h++)
          insBatch.run(`${name}-${h}`, s.address, h, dayStart + h * 3_600_000 + 1000, s.lat, s.lon);
      }
    })();
    const scores = await scoreSensors(c.store.db, { fromMs: dayStart, toMs: dayStart + DAY });
    await storeScores(c.store.db, 'day', dayStart, dayStart + DAY, scores);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await provider?.close();
    await c?.cleanup();
  });

  async function open(width: number, hash: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      // Without a chain the provider page's rewards are a 404 the view expects ("absent"); the
      // browser still logs the failed request.
      if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${c.url}/${hash}`);
    await page.locator('[data-view]').first().waitFor({ timeout: 60_000 });
    return { page, errors };
  }
  const noOverflow = async (page: Page, what: string) => {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the window`);
  };

  test('search: a job id, a client address and a content id lead to the job; a miss says why', async () => {
    for (const width of [1280, 390]) {
      const { page, errors } = await open(width, '#/');
      const search = async (q: string) => {
        await page.fill('#search input', q);
        await page.press('#search input', 'Enter');
      };
      // One hit opens its page directly.
      await search(jobId);
      await page.locator('[data-view="job"]').waitFor();
      assert.match(page.url(), new RegExp(`#/jobs/${jobId}$`));
      // What the job cost, in PLX, with the exact amount in the tooltip.
      const cost = page.locator('[data-testid="job-cost"] [data-cost]');
      assert.match((await cost.textContent()) ?? '', /^[0-9.]+ PLX$/);
      assert.match((await cost.getAttribute('data-cost')) ?? '', /^[1-9][0-9]*$/, 'a real charge');
      if (width === 1280)
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-job-cost.png'), fullPage: true });
      await search(client);
      await page.locator('[data-view="job"]').waitFor();
      await search(inputCid);
      await page.locator('[data-view="job"]').waitFor();
      assert.match(page.url(), new RegExp(`#/jobs/${jobId}$`), 'the content id names its job');
      // The provider's address names it and the three devices it owns: a list, then its page.
      await search(provider.account.address);
      const hits = page.locator('[data-testid="search-hits"]');
      await hits.waitFor();
      assert.equal(await hits.locator('li[data-hit="provider"]').count(), 1);
      assert.equal(await hits.locator('li[data-hit="device"]').count(), 3);
      await hits.locator('li[data-hit="provider"] a').click();
      await page.locator('[data-view="provider"]').waitFor();
      await search(`0x${'00'.repeat(32)}`);
      await page.locator('[data-view="search"] [data-empty]').waitFor();
      assert.match((await page.locator('[data-view="search"]').textContent()) ?? '', /Nothing found/);
      await search('not an id');
      await page.locator('[data-view="search"] [data-empty]').waitFor();
      assert.match(
        (await page.locator('[data-view="search"]').textContent()) ?? '',
        /Not a known kind of id/,
      );
      await noOverflow(page, `search at ${width}px`);
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-search-${width}.png`), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors');
      await page.close();
    }
  });

  test('settlement transactions link to the configured block explorer (stand-in /v1/chain and /v1/epochs)', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const explorer = 'https://explorer.example';
    await page.route('**/v1/epochs', (r) => r.fulfill({ json: EPOCHS }));
    await page.route('**/v1/chain', (r) => r.fulfill({ json: { ...CHAIN, blockExplorerUrl: explorer } }));
    await page.goto(`${c.url}/#/epochs`);
    const settled = EPOCHS.epochs.filter((e) => e.txHash !== null);
    assert.ok(settled.length > 0);
    const links = page.locator('table[data-table="epochs"] a[data-tx]');
    await links.first().waitFor();
    assert.deepEqual(
      await links.evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
      settled.map((e) => `${explorer}/tx/${e.txHash}`),
    );
    // Without a configured explorer the hash is plain text.
    await page.unroute('**/v1/chain');
    await page.route('**/v1/chain', (r) => r.fulfill({ json: CHAIN }));
    await page.reload();
    await page.locator('table[data-table="epochs"] tbody tr').first().waitFor();
    assert.equal(await page.locator('table[data-table="epochs"] a[data-tx]').count(), 0);
    await page.close();
  });

  test('sensors: every device on the map with its score; the station at sea is flagged', async () => {
    for (const width of [1280, 390]) {
      const { page, errors } = await open(width, `#/sensors?device=${STATIONS.sea.address}`);
      const dots = page.locator('svg.world-map circle.dot');
      await dots.first().waitFor();
      assert.equal(await dots.count(), 3);
      assert.ok(
        (await page.locator('svg.world-map path.land').getAttribute('d'))!.length > 10_000,
        'land drawn',
      );
      const sea = page.locator(`svg.world-map circle[data-device="${STATIONS.sea.address}"]`);
      assert.match((await sea.getAttribute('class')) ?? '', /selected/);
      const seaRow = page.locator(`table[data-table="sensors"] tr[data-device="${STATIONS.sea.address}"]`);
      assert.match((await seaRow.textContent()) ?? '', /sea|land/i, 'the land mask flag is shown');
      const land = page.locator(
        `table[data-table="sensors"] tr[data-device="${STATIONS.amsterdam.address}"]`,
      );
      const landScore = Number((await land.locator('td').nth(1).textContent())?.trim());
      const seaScore = Number((await seaRow.locator('td').nth(1).textContent())?.trim());
      assert.ok(
        landScore > seaScore,
        `a station on land scores above one at sea (${landScore} vs ${seaScore})`,
      );
      // The map sits in the page (scrolling inside its own box on a phone).
      await noOverflow(page, `sensors at ${width}px`);
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-sensors-${width}.png`), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors');
      await page.close();
    }
  });
});
