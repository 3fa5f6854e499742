/**
 * The explorer's issue-22 views in Debian's Chromium (playwright-core) against an in-process
 * coordinator: search by job id, address, content id (and a miss), a job's cost, the sensors view
 * (devices on the Natural Earth map coloured by their real quality score, a station claimed at sea
 * flagged), a provider's earnings and uptime charts (hour and day ranges), and list tables that
 * stay short tables in a phone-sized window, in a wide and a phone-sized window without sideways
 * overflow, with screenshots in test-artifacts/. Jobs run on scripted providers (raw WebSockets); sensor readings of one day are
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
import { exactPlx } from '../web/src/settlement.ts';
import { CHAIN, EPOCHS } from './helpers/explorerFixtures.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const DAY = 86_400_000;
const HOUR = 3_600_000;
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
  let launching: Promise<Browser> | undefined;
  let provider: RawProvider;
  let jobId: string;
  let client: string;
  let inputCid: string;
  let readAuth: string;
  let pastHour: number;

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    // Chromium starts while the coordinator's data is made.
    launching = chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
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
    // The client's signed read: its job page shows the tasks and the cost with it.
    readAuth = await sdk.jobReadAuth(jobId);
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
    // The provider's past (for its earnings and uptime charts): first seen 26 hours ago (so the
    // 24-hour range has an older page), online for the whole hour five hours ago and a quarter of
    // the hour after it.
    pastHour = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    const me = provider.account.address.toLowerCase();
    db.prepare('UPDATE providers SET first_seen = ? WHERE address = ?').run(pastHour - 21 * HOUR, me);
    const insSession = db.prepare(
      'INSERT INTO provider_sessions (provider, slots, connected_at, disconnected_at) VALUES (?, 1, ?, ?)',
    );
    insSession.run(me, pastHour, pastHour + HOUR);
    insSession.run(me, pastHour + HOUR, pastHour + HOUR + HOUR / 4);
    const scores = await scoreSensors(c.store.db, { fromMs: dayStart, toMs: dayStart + DAY });
    await storeScores(c.store.db, 'day', dayStart, dayStart + DAY, scores);
    browser = await launching;
  });
  after(async () => {
    await (browser ?? (await launching?.catch(() => undefined)))?.close();
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

  test("search: a job id leads to the job; a client's address and an input cid do not (private); a miss says why", async () => {
    for (const width of [1280, 390]) {
      const { page, errors } = await open(width, '#/');
      const search = async (q: string) => {
        await page.fill('#search input', q);
        await page.press('#search input', 'Enter');
      };
      // One hit opens its page directly: the public part (no cost, no tasks).
      await search(jobId);
      await page.locator('[data-view="job"]').waitFor();
      assert.match(page.url(), new RegExp(`#/jobs/${jobId}$`));
      await page.locator('[data-view="job"] [data-private]').waitFor();
      assert.equal(await page.locator('[data-testid="job-cost"] [data-cost]').count(), 0, 'no public cost');
      // With its client's signed read, what the job cost, in PLX, with the exact amount in the tooltip.
      await page.goto(`${c.url}/#/jobs/${jobId}?read=${encodeURIComponent(readAuth)}`);
      const cost = page.locator('[data-testid="job-cost"] [data-cost]');
      await cost.waitFor();
      assert.match((await cost.textContent()) ?? '', /^[0-9.]+ PLX$/);
      assert.match((await cost.getAttribute('data-cost')) ?? '', /^[1-9][0-9]*$/, 'a real charge');
      if (width === 1280)
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-job-cost.png'), fullPage: true });
      // A client's jobs and the jobs holding an input are their clients' business: nothing found.
      for (const q of [client, inputCid]) {
        await page.evaluate(() => {
          location.hash = '#/epochs';
        });
        await page.locator('[data-view="epochs"]').waitFor();
        await search(q);
        await page.locator('[data-view="search"] [data-empty]').waitFor();
        assert.match((await page.locator('[data-view="search"]').textContent()) ?? '', /Nothing found/, q);
      }
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
      // The empty state of the search before is still up until this one renders: wait for its words.
      await page
        .locator('[data-view="search"] [data-empty]')
        .getByText(/Not a known kind of id/)
        .waitFor();
      await noOverflow(page, `search at ${width}px`);
      await page.screenshot({ path: join(ARTIFACTS, `dashboard-search-${width}.png`), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors');
      await page.close();
    }
  });

  test("a provider's earnings and uptime charts: the ledger's amount in the current hour, the sessions' uptime, both ranges and widths", async () => {
    const address = provider.account.address.toLowerCase();
    const api = async <T>(path: string) => (await (await fetch(`${c.url}${path}`)).json()) as T;
    const { providers } = await api<{ providers: { address: string; earnings: string }[] }>('/v1/providers');
    const earnings = BigInt(providers.find((p) => p.address === address)!.earnings);
    assert.ok(earnings > 0n, 'the job paid the provider');
    for (const width of [1280, 390]) {
      const timeline = await api<{ from: number }>(
        `/v1/providers/${address}/timeline?bucket=hour&buckets=24`,
      );
      const { page, errors } = await open(width, `#/providers/${address}`);
      const card = page.locator('[data-testid="timeline"]');
      await card.waitFor();
      assert.equal(await card.getAttribute('data-range'), 'hour');
      // Earnings: one column per hour, the only one above zero is the current hour (the job).
      const earned = card.locator('[data-chart="earnings"] svg.chart rect');
      assert.equal(await earned.count(), 24);
      const earnedHeights = await earned.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
      assert.deepEqual(
        earnedHeights.flatMap((hgt, i) => (hgt > 0 ? [i] : [])),
        [23],
        `only the current hour earned (${earnedHeights.join(',')})`,
      );
      assert.ok(
        ((await earned.nth(23).locator('title').textContent()) ?? '').includes(
          `: ${exactPlx(earnings)} from `,
        ),
        'the tooltip holds the exact amount the ledger credited',
      );
      assert.equal(await card.locator('[data-total="earned"]').getAttribute('title'), exactPlx(earnings));
      // Uptime: full in the hour it was online, a quarter in the next, no data before it existed.
      const up = card.locator('[data-chart="uptime"] svg.chart rect');
      assert.equal(await up.count(), 24);
      const i = (pastHour - timeline.from) / HOUR;
      const bars = await up.evaluateAll((rs) =>
        rs.map((r) => ({ h: Number(r.getAttribute('height')), cls: r.getAttribute('class') })),
      );
      assert.ok(bars[i]!.h > 50, `a full hour online is a tall column (${bars[i]!.h})`);
      assert.ok(Math.abs(bars[i + 1]!.h / bars[i]!.h - 0.25) < 0.02, `a quarter hour: ${bars[i + 1]!.h}`);
      assert.equal(bars[i - 1]!.h, 0, 'offline the hour before');
      assert.equal(bars[i - 1]!.cls, 'series-1', 'offline is a zero, not "no data"');
      assert.equal(bars[i]!.cls, 'series-1');
      assert.match((await up.nth(i).locator('title').textContent()) ?? '', /100% online/);
      assert.match(
        (await up
          .nth(i + 1)
          .locator('title')
          .textContent()) ?? '',
        /25% online \(15\.0 min\)/,
      );
      // Drawn at the box's width, so 11 px axis text stays legible in a narrow window.
      const geometry = await card.locator('[data-chart="uptime"] svg.chart').evaluate((svg) => ({
        drawn: Number(svg.getAttribute('width')),
        box: Math.floor((svg.parentElement as HTMLElement).clientWidth),
        font: Number.parseFloat(getComputedStyle(svg.querySelector('text.axis')!).fontSize),
      }));
      assert.equal(geometry.drawn, geometry.box, JSON.stringify(geometry));
      assert.ok(geometry.font >= 10.5, JSON.stringify(geometry));
      await noOverflow(page, `provider at ${width}px`);
      await page.screenshot({
        path: join(ARTIFACTS, `dashboard-provider-charts-${width}.png`),
        fullPage: true,
      });
      // The page before: nothing earned, "no data" before the first sighting 26 hours ago.
      await card.locator('a[data-page="older"]').click();
      await page.locator('[data-testid="timeline"] a[data-page="newest"]').waitFor();
      assert.match(page.url(), /until=\d+/);
      const older = page.locator('[data-testid="timeline"]');
      assert.match((await older.textContent()) ?? '', /Nothing earned in this range/);
      const olderBars = await older
        .locator('[data-chart="uptime"] svg.chart rect')
        .evaluateAll((rs) => rs.map((r) => r.getAttribute('class')));
      assert.equal(olderBars.length, 24);
      assert.equal(olderBars[0], 'nodata', 'before the first sighting');
      assert.equal(olderBars[23], 'series-1', 'after it');
      await page.screenshot({
        path: join(ARTIFACTS, `dashboard-provider-older-${width}.png`),
        fullPage: true,
      });
      // The day range: 30 columns, today holds the earnings; the range lives in the hash.
      await older.locator('a[data-range="day"]').click();
      await page.locator('[data-testid="timeline"][data-range="day"]').waitFor();
      assert.match(page.url(), /range=day/);
      const days = page.locator('[data-testid="timeline"] [data-chart="earnings"] svg.chart rect');
      assert.equal(await days.count(), 30);
      const dayHeights = await days.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
      assert.ok(dayHeights[29]! > 0, 'today earned');
      assert.ok(
        dayHeights.slice(0, 29).every((x) => x === 0),
        'no earlier day did',
      );
      await page.screenshot({
        path: join(ARTIFACTS, `dashboard-provider-days-${width}.png`),
        fullPage: true,
      });
      assert.deepEqual(errors, [], 'no console errors');
      await page.close();
    }
  });

  test('narrow window: list tables stay short tables that scroll inside their box', async () => {
    const { page, errors } = await open(390, '#/jobs');
    for (const [hash, table] of [
      ['#/jobs', 'table[data-table="jobs"]'],
      [`#/providers/${provider.account.address.toLowerCase()}`, '[data-view="provider"] table.table'],
      ['#/sensors', 'table[data-table="sensors"]'],
    ] as const) {
      await page.goto(`${c.url}/${hash}`);
      const t = page.locator(table).last();
      await t.locator('tbody tr').first().waitFor();
      assert.equal(await t.locator('thead').isVisible(), true, `${hash}: the header row shows`);
      const heights = await t
        .locator('tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height));
      assert.ok(Math.max(...heights) < 48, `${hash}: one short line per row (${heights.join(',')} px)`);
      const scrolls = await t.evaluate((el) => {
        const wrap = el.parentElement!;
        return wrap.scrollWidth > wrap.clientWidth && getComputedStyle(wrap).overflowX !== 'visible';
      });
      assert.ok(scrolls, `${hash}: the table scrolls sideways inside its box`);
      await noOverflow(page, `${hash} at 390px`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-sensors-table-390.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  test('settlement transactions link to the configured block explorer (stand-in /v1/chain and /v1/epochs)', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const explorer = 'https://explorer.example';
    await page.route('**/v1/epochs', (r) => r.fulfill({ json: EPOCHS }));
    await page.route('**/v1/chain', (r) => r.fulfill({ json: { ...CHAIN, blockExplorerUrl: explorer } }));
    await page.goto(`${c.url}/#/epochs`);
    const settled = EPOCHS.epochs.filter((e) => e.txHash !== null);
    assert.ok(settled.length > 0, 'settled.length > 0');
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
