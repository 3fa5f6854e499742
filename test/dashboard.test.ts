/**
 * The explorer dashboard end to end: a real devnet (anvil, coordinator and two provider agents as
 * separate processes), Debian's Chromium driven by playwright-core, every main view opened without
 * console errors, a job submitted during the test followed live to "completed" on its page, and a
 * screenshot of each view in test-artifacts/. Also the explorer's API (stats, history, static files)
 * against a plain coordinator, which needs no browser.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { DEFAULT_WEB_ROOT } from '../src/coordinator/api/explorerRoutes.ts';
import { startDevnet } from '../src/devnet/startDevnet.ts';
import { tempDir, testCoordinator } from './helpers/fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const silentPrint = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

describe('explorer API', () => {
  test('stats, history and the built dashboard are served read-only, with no path traversal', async () => {
    const c = await testCoordinator();
    try {
      const stats = (await (await fetch(`${c.url}/v1/stats`)).json()) as Record<string, unknown> & {
        providers: { online: number; known: number };
        capacity: { utilization: number | null; slots: number };
        jobsPerMinute: unknown[];
        jobs: Record<string, number>;
      };
      assert.deepEqual(stats.providers, { known: 0, online: 0, classes: { cpu: 0, gpu: 0 } });
      assert.equal(stats.capacity.utilization, null, 'no slots: utilization is unknown, not 0%');
      assert.equal(stats.jobsPerMinute.length, 60);
      assert.deepEqual(stats.jobs, { queued: 0, running: 0, completed: 0, failed: 0 });
      assert.equal(stats.verification, null);
      assert.equal(stats.epochs, null);

      const unknown = await fetch(`${c.url}/v1/providers/0x${'1'.repeat(40)}/history`);
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'PLX_NOT_FOUND');
      const noJob = await fetch(`${c.url}/v1/jobs/0x${'2'.repeat(64)}/assignments`);
      assert.equal(noJob.status, 404);

      assert.ok(existsSync(DEFAULT_WEB_ROOT), 'npm test builds web/dist first');
      const index = await fetch(`${c.url}/`);
      assert.equal(index.status, 200);
      assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
      const html = await index.text();
      const script = html.match(/src="\.?\/?(assets\/[^"]+\.js)"/)?.[1];
      assert.ok(script, 'index.html references its bundle');
      const js = await fetch(`${c.url}/${script}`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'no CDN or external font');

      // fetch() normalises `..`, so traversal attempts go out raw over a socket-level path.
      for (const path of ['/../package.json', '/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json']) {
        const res = await c.app.inject({ method: 'GET', url: path });
        assert.equal(res.statusCode, 404, `${path} answered ${res.statusCode}`);
        assert.doesNotMatch(res.body, /"name": "plexus"/);
      }
    } finally {
      await c.cleanup();
    }
  });
});

describe('explorer in Chromium against a devnet', () => {
  test('views load without console errors; a job submitted now reaches "completed" on its page', {
    skip: existsSync(CHROMIUM)
      ? false
      : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`,
  }, async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const { dir, cleanup } = await tempDir('plexus-dash-');
    const net = await startDevnet({
      dataDir: dir,
      providers: 2,
      port: 0,
      print: silentPrint,
      logLevel: 'warn',
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = watchErrors(page);
      const shot = (name: string) =>
        page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

      await page.goto(`${net.coordinatorUrl}/`);
      await page.locator('[data-view="overview"]').waitFor();
      await page.locator('#live.live').filter({ hasText: 'live' }).waitFor();
      assert.equal(await page.locator('.kpi-value').first().textContent(), '2', 'two providers online');
      await shot('overview-empty');

      await page.click('a[data-nav="providers"]');
      await page.locator('table[data-table="providers"] tbody tr').nth(1).waitFor();
      assert.equal(await page.locator('table[data-table="providers"] tbody tr').count(), 2);
      const regions = await page
        .locator('table[data-table="providers"] tbody td:nth-child(3)')
        .allTextContents();
      assert.deepEqual(regions.sort(), ['eu-west', 'us-east']);
      await page.getByRole('button', { name: 'Region' }).click();
      assert.equal(
        await page.locator('th:has(button:text("Region"))').getAttribute('aria-sort'),
        'descending',
      );
      await shot('providers');

      await page.click('a[data-nav="jobs"]');
      await page.locator('[data-view="jobs"] [data-empty]').waitFor();

      // Submit while the jobs page is open: it must appear through the live stream, no reload.
      const demo = net.runDemo(2);
      const row = page.locator('table[data-table="jobs"] tbody tr[data-job]').first();
      await row.waitFor({ timeout: 30_000 });
      const jobId = await row.getAttribute('data-job');
      assert.ok(jobId);
      await row.locator('a').first().click();
      await page.locator('[data-view="job"]').waitFor();
      await page
        .locator('[data-testid="job-status"]')
        .filter({ hasText: 'completed' })
        .waitFor({ timeout: 60_000 });
      const summary = await demo;
      assert.equal(summary.jobId, jobId);
      assert.equal(summary.status, 'completed');
      await page.locator('table[data-table="tasks"] tbody tr').nth(1).waitFor();
      const outputs = page.locator('table[data-table="tasks"] tbody td:nth-child(6) a');
      assert.equal(await outputs.count(), 2, 'each task links its output');
      const href = await outputs.first().getAttribute('href');
      assert.ok(href);
      const blob = await fetch(new URL(href, net.coordinatorUrl));
      assert.equal(blob.status, 200, 'the output link downloads the blob');
      assert.ok((await blob.arrayBuffer()).byteLength > 0);
      assert.ok((await page.locator('table[data-table="assignments"] tbody tr').count()) >= 2);
      await shot('job');

      const provider = await page
        .locator('table[data-table="tasks"] tbody td:nth-child(4) a')
        .first()
        .getAttribute('href');
      await page.goto(`${net.coordinatorUrl}/${provider}`);
      await page.locator('[data-view="provider"]').waitFor();
      await page.getByText('connected', { exact: true }).first().waitFor();
      await shot('provider');

      await page.click('a[data-nav="jobs"]');
      await page.locator(`tr[data-job="${jobId}"] .tag.completed`).waitFor();
      await shot('jobs');

      await page.click('a[data-nav="epochs"]');
      await page.locator('[data-view="epochs"] [data-empty]').waitFor();
      await shot('epochs');

      await page.click('a[data-nav="overview"]');
      await page.locator('[data-view="overview"] svg.chart rect').first().waitFor();
      await shot('overview');

      // A narrow (phone) window: everything reflows, and nothing but tables scrolls sideways.
      await page.setViewportSize({ width: 390, height: 844 });
      for (const hash of ['#/', '#/providers', `#/jobs/${jobId}`]) {
        await page.goto(`${net.coordinatorUrl}/${hash}`);
        await page.locator('[data-view]').waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${hash} is ${overflow}px wider than a 390px window`);
      }
      await page.goto(`${net.coordinatorUrl}/#/`);
      await page.locator('[data-view="overview"]').waitFor();
      await shot('overview-narrow');
      assert.deepEqual(errors, [], 'no console errors');

      // The coordinator unreachable: an error state, not a blank page.
      const offline = await browser.newPage({ viewport: { width: 1280, height: 700 } });
      await offline.route('**/v1/**', (route) => route.abort('connectionrefused'));
      await offline.goto(`${net.coordinatorUrl}/#/providers`);
      await offline.locator('#banner').filter({ hasText: 'Coordinator unreachable' }).waitFor();
      await offline.screenshot({ path: join(ARTIFACTS, 'dashboard-unreachable.png') });
    } finally {
      await browser.close();
      await net.stop();
      await cleanup();
    }
  });
});

/** Console errors and uncaught exceptions of a page, collected as they happen. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}
