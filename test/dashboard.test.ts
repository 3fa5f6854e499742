/**
 * The explorer dashboard end to end: a real devnet (anvil, coordinator and three provider agents as
 * separate processes, later a fourth that cheats), Debian's Chromium driven by playwright-core,
 * every main view opened without console errors, jobs submitted during the test (redundant
 * verification) followed live to "completed" with their verdicts on the job page, a cheater's
 * proven fault with its evidence on its provider page, a phone-sized window without sideways
 * overflow, and a screenshot of each view in test-artifacts/. The explorer's API and its settlement
 * data without a browser are in test/explorerData.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createClient, type PlexusClient } from '../src/client/createClient.ts';
import type { NodeChild } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD, type Devnet, startDevnet } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import type { JobVerification } from '../src/protocol/schemas.ts';
import { exactPlx, plx } from '../web/src/settlement.ts';
import { ADDR, CHAIN, EPOCHS, HASH_B, PRICES, rewardsOf } from './helpers/explorerFixtures.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';
import { faultHistoryShown, reloadUntil } from './helpers/publicRecordWaits.ts';
import { startDevnetProviders } from './helpers/trustedProvider.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const silentPrint = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const quiet = createLogger('test', { level: 'silent' });

const chromiumMissing = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run this test`;

describe('explorer in Chromium against a devnet', { skip: chromiumMissing }, () => {
  let net: Devnet;
  let browser: Browser;
  let launching: Promise<Browser> | undefined;
  let client: PlexusClient;
  let model: string;
  let dir: string;
  let cleanup: () => Promise<void>;
  /** The first job (redundant k=2), followed through every view by the first test. */
  let jobId: string;
  /** The provider started with `--behaviour always-wrong` by the second test. */
  let cheater: string;
  const extra: NodeChild[] = [];

  /** Uploads `n` text images and submits one OCR job under `verification`. */
  async function submitOcr(n: number, verification: JobVerification, label: string): Promise<string> {
    const inputs: string[] = [];
    for (let i = 0; i < n; i++)
      inputs.push((await client.uploadBlob(encodeSafetensors(ocrInput(100 + i, 160, 64)))).cid);
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model,
      inputs,
      deadline: Math.floor(Date.now() / 1000) + 300,
      label,
      verification,
    });
    return jobId;
  }

  async function openPage(width = 1280, height = 900): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width, height } });
    return { page, errors: watchErrors(page) };
  }
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    ({ dir, cleanup } = await tempDir('plexus-dash-'));
    // Chromium starts while the devnet does.
    launching = chromium.launch({
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
    net = await startDevnet({ dataDir: dir, providers: 3, port: 0, print: silentPrint, logLevel: 'warn' });
    // The devnet's own client key (created by startDevnet), so jobs come from its demo client.
    const account = await loadOrCreateKeystore(join(dir, 'client', 'key.json'), DEVNET_PASSWORD, {
      logger: quiet,
    });
    client = createClient({ url: net.coordinatorUrl, account });
    model = (await client.uploadFile(ppocrDetectionModelPath())).cid;
    browser = await launching;
  });
  after(async () => {
    await (browser ?? (await launching?.catch(() => undefined)))?.close();
    await Promise.all(extra.map((c) => c.stop(5000)));
    await net?.stop();
    await cleanup?.();
  });

  test('views load without console errors; a redundant job reaches "completed" with its verdicts', async () => {
    const { page, errors } = await openPage();
    const url = net.coordinatorUrl;
    await page.goto(`${url}/`);
    await page.locator('[data-view="overview"]').waitFor();
    await page.locator('#live.live').filter({ hasText: 'live' }).waitFor();
    assert.equal(await page.locator('.kpi-value').first().textContent(), '3', 'three providers online');
    await page
      .locator('[data-view="overview"] [data-empty]')
      .filter({ hasText: 'No verdicts yet' })
      .waitFor();
    await shot(page, 'overview-empty');

    await page.click('a[data-nav="providers"]');
    const rows = page.locator('table[data-table="providers"] tbody tr');
    await rows.nth(2).waitFor();
    assert.equal(await rows.count(), 3);
    const regions = await page
      .locator('table[data-table="providers"] tbody td:nth-child(3)')
      .allTextContents();
    assert.deepEqual(regions.sort(), ['ap-south', 'eu-west', 'us-east']);
    const head = await page.locator('table[data-table="providers"] thead th').allTextContents();
    for (const col of ['Reputation', 'Audit rate', 'Stake', 'Earnings'])
      assert.ok(
        head.some((t) => t.startsWith(col)),
        `${col} column in ${head.join('|')}`,
      );
    // Fresh providers: Beta(1,1) reputation 0.50 and a first-result audit rate of 100%.
    const rep = await page.locator('table[data-table="providers"] tbody td:nth-child(9)').allTextContents();
    assert.deepEqual(rep, ['0.50', '0.50', '0.50']);
    const audit = await page
      .locator('table[data-table="providers"] tbody td:nth-child(10)')
      .allTextContents();
    assert.deepEqual(audit, ['100%', '100%', '100%']);
    await page.getByRole('button', { name: 'Region' }).click();
    assert.equal(await page.locator('th:has(button:text("Region"))').getAttribute('aria-sort'), 'descending');
    await page.getByRole('button', { name: 'Reputation' }).click();
    assert.equal(
      await page.locator('th:has(button:text("Reputation"))').getAttribute('aria-sort'),
      'descending',
    );
    await shot(page, 'providers');

    await page.click('a[data-nav="jobs"]');
    await page.locator('[data-view="jobs"] [data-empty]').waitFor();

    // Submit while the jobs page is open: it must appear by itself, no reload (the page re-reads).
    jobId = await submitOcr(2, { policy: 'redundant', k: 2 }, 'dashboard test: redundant k=2');
    const row = page.locator(`table[data-table="jobs"] tbody tr[data-job="${jobId}"]`);
    await row.waitFor({ timeout: 30_000 });
    await row.locator('a').first().click();
    await page.locator('[data-view="job"]').waitFor();
    // Anyone's view: the public part, and its tasks and verdicts shown to its client only.
    await page.locator('[data-view="job"] [data-private]').waitFor();
    assert.equal(await page.locator('table[data-table="tasks"]').count(), 0, 'no public task table');
    // The client's signed link (what `plexus job status --keystore` prints) shows them.
    await page.goto(`${url}/#/jobs/${jobId}?read=${encodeURIComponent(await client.jobReadAuth(jobId))}`);
    await page.locator('[data-view="job"] table[data-table="tasks"]').waitFor();
    await page
      .locator('[data-testid="job-status"]')
      .filter({ hasText: 'completed' })
      .waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('[data-testid="job-policy"]').textContent(), 'redundant (k=2)');
    await page.locator('table[data-table="tasks"] tbody tr').nth(1).waitFor();
    // A private job (the default): the explorer shows each output's cid, never a download link.
    const outputs = page.locator('table[data-table="tasks"] tbody td:nth-child(7) [data-cid]');
    assert.equal(await outputs.count(), 2, 'each task shows its output cid');
    assert.equal(
      await page.locator('[data-view="job"] a[href*="/v1/blobs/"]').count(),
      0,
      "no link to a private job's model, inputs or outputs",
    );
    const outputCid = await outputs.first().getAttribute('data-cid');
    assert.ok(outputCid, 'outputCid');
    // Its client downloads the output by that cid (the SDK signs the read); nobody else can.
    assert.equal((await fetch(`${url}/v1/blobs/${outputCid}`)).status, 401);
    assert.ok(
      (await client.downloadBlob(outputCid)).byteLength > 0,
      '(await client.downloadBlob(outputCid)).byteLength > 0',
    );
    assert.ok(
      (await page.locator('table[data-table="assignments"] tbody tr').count()) >= 4,
      'two replicas per task',
    );

    // Verdicts: each task accepted by the two replicas that agreed, unverified: the devnet has no
    // trusted provider, and untrusted agreement is no verification (docs/verification.md).
    const vrows = page.locator('table[data-table="verification"] tbody tr');
    await vrows.nth(1).locator('[data-verdict="accepted"]').waitFor();
    assert.equal(await vrows.count(), 2);
    for (let i = 0; i < 2; i++) {
      const r = vrows.nth(i);
      assert.equal(await r.locator('td:nth-child(2)').textContent(), 'redundant (k=2)');
      assert.equal(await r.locator('td:nth-child(4)').textContent(), 'accepted · unverified');
      assert.equal(await r.locator('td:nth-child(6)').getAttribute('data-agreed'), '2');
      assert.equal(await r.locator('td:nth-child(6) a').count(), 2, 'who agreed, linked');
    }
    assert.deepEqual(
      await page.locator('table[data-table="tasks"] tbody td:nth-child(8)').allTextContents(),
      ['accepted · unverified', 'accepted · unverified'],
    );
    // The same through the API the page reads.
    const read = { headers: { 'x-plexus-auth': await client.jobReadAuth(jobId) } };
    const api = (await (await fetch(`${url}/v1/jobs/${jobId}/verification`, read)).json()) as {
      tasks: {
        status: string;
        verified: boolean;
        policy: unknown;
        audit: boolean;
        executions: { outcome: string }[];
      }[];
    };
    for (const t of api.tasks) {
      assert.deepEqual(t.policy, { kind: 'redundant', k: 2 });
      assert.equal(t.status, 'accepted');
      assert.equal(t.verified, false, 'no trusted member: unverified');
      assert.equal(t.audit, false);
      assert.deepEqual(
        t.executions.map((e) => e.outcome),
        ['unverified', 'unverified'],
      );
    }
    await shot(page, 'job');

    const provider = await page
      .locator('table[data-table="tasks"] tbody td:nth-child(5) a')
      .first()
      .getAttribute('href');
    await page.goto(`${url}/${provider}`);
    await page.locator('[data-view="provider"]').waitFor();
    await page.getByText('connected', { exact: true }).first().waitFor();
    const verifiedValid = page.locator('[data-testid="reputation"] dt:text("Verified valid") + dd');
    // The public record is the epoch's start: it shows once the epoch ended.
    await reloadUntil(page, 'its raised record', async () => Number(await verifiedValid.textContent()) >= 1);
    // Earnings: an amount once the coordinator serves them, otherwise the reason it shows none.
    const earned = page.locator('[data-testid="money"] dt:text("Earnings") + dd');
    assert.match((await earned.textContent()) ?? '', /^[0-9,.]+ PLX$|^not served by this coordinator yet$/);
    await page
      .locator('[data-view="provider"] [data-empty]')
      .filter({ hasText: 'No proven faults' })
      .waitFor();
    await shot(page, 'provider');

    await page.click('a[data-nav="jobs"]');
    await page.locator(`tr[data-job="${jobId}"] .tag.completed`).waitFor();
    await shot(page, 'jobs');

    // Settlement panels follow what this coordinator serves: an empty state for a 404, data otherwise.
    const served = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      await res.arrayBuffer();
      return res.status !== 404;
    };
    await page.click('a[data-nav="epochs"]');
    const emptyTitle = (view: string, title: string) =>
      page.locator(`[data-view="${view}"] [data-empty] strong`).getByText(title, { exact: true });
    if (await served('/v1/epochs'))
      await page.locator('table[data-table="epochs"], [data-view="epochs"] [data-empty]').first().waitFor();
    else await emptyTitle('epochs', 'No settlement on this coordinator').waitFor();
    if (await served('/v1/chain')) await page.locator('[data-testid="chain"]').waitFor();
    else await emptyTitle('epochs', 'No chain').waitFor();
    await shot(page, 'epochs');

    await page.click('a[data-nav="storage"]');
    await page.locator('[data-testid="storage-facts"] [data-fact="stored"]').waitFor();
    await shot(page, 'storage');

    await page.click('a[data-nav="overview"]');
    await page.locator('[data-view="overview"] svg.chart rect').first().waitFor();
    const outcomes = page.locator('[data-testid="verification-outcomes"]');
    await outcomes.getByText('accepted, unverified 2').waitFor();
    if (await served('/v1/prices'))
      await page.locator('[data-price-class], [data-view="overview"] [data-empty]').first().waitFor();
    else await emptyTitle('overview', 'No market prices yet').waitFor();
    const stats = (await (await fetch(`${url}/v1/stats`)).json()) as {
      verification: { tasks: { accepted: number }; verified: number; policies: { redundant: number } };
    };
    assert.equal(stats.verification.tasks.accepted, 2);
    assert.equal(stats.verification.verified, 0, 'untrusted agreement verifies nothing');
    assert.equal(stats.verification.policies.redundant, 2);
    await shot(page, 'overview');
    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  test('a cheating provider is outvoted: its fault, evidence and slash show on its page', async () => {
    // No fault without ground truth (docs/verification.md): an untrusted head count faults nobody,
    // so one more honest provider, trusted (its record stored before it connects), takes part.
    const opts = { behaviour: 'honest', trusted: true, print: silentPrint };
    // Both staked first, then both processes start side by side.
    const [trusted, cheat] = await startDevnetProviders(net, dir, [
      { ...opts, name: 'trusted', region: 'af-south' },
      { ...opts, name: 'cheater', region: 'sa-east', behaviour: 'always-wrong', trusted: false },
    ]);
    extra.push(trusted!.child, cheat!.child);
    cheater = cheat!.address;
    const deadline = Date.now() + 120_000;
    while ((await client.health()).providersOnline < 5) {
      assert.ok(Date.now() < deadline, 'the trusted provider and the cheater did not come online');
      await new Promise((r) => setTimeout(r, 100));
    }
    // k=5 with five providers online: everyone runs the task, four honest outputs (one of them
    // trusted) outvote the cheater.
    const job = await submitOcr(1, { policy: 'redundant', k: 5 }, 'dashboard test: one cheater among five');
    const final = await client.waitForJob(job, undefined, AbortSignal.timeout(120_000));
    assert.equal(final.status, 'completed');

    // Who agreed shows once the fault's epoch ended.
    const history = await faultHistoryShown(net.coordinatorUrl, cheater, job);
    // Besides this job's fault the cheater may have failed a canary too: in public a verdict's
    // fault (`outvoted`) on that canary's shadow job.
    const forJob = history.faults.filter((x) => x.jobId === job);
    assert.equal(forJob.length, 1, JSON.stringify(history.faults));
    assert.ok(
      history.faults.every((x) => x.kind === 'outvoted'),
      JSON.stringify(history.faults),
    );
    const f = forJob[0]!;
    assert.equal(f.jobId, job);
    assert.equal(f.kind, 'outvoted');
    assert.equal(f.evidence.agreeing.length, 4, 'four honest providers agreed');
    assert.ok(f.evidence.reasons.length > 0, 'f.evidence.reasons.length > 0');
    assert.match(f.slashed ?? '', /^[1-9][0-9]*$/);

    const { page, errors } = await openPage();
    await page.goto(`${net.coordinatorUrl}/#/providers/${cheater}`);
    const rows = page.locator('table[data-table="faults"] tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), history.faults.length);
    // This job's fault (a canary's, if any, is `outvoted` too, under its shadow job).
    const frow = rows.filter({ has: page.locator(`a[href*="${job}"]`) });
    assert.equal(await frow.count(), 1);
    assert.equal(await frow.locator('td:nth-child(4)').textContent(), plx(f.slashed!));
    await frow.locator('summary').click();
    assert.equal(await frow.locator('dt:text("Agreeing") + dd a').count(), 4);
    assert.equal(
      await page.locator('[data-testid="reputation"] dt:text("Proven faults") + dd').textContent(),
      String(history.faults.length),
    );
    await shot(page, 'provider-faulted');

    const link = `#/jobs/${job}?read=${encodeURIComponent(await client.jobReadAuth(job))}`;
    await page.goto(`${net.coordinatorUrl}/${link}`);
    const vrow = page.locator('table[data-table="verification"] tbody tr').first();
    await vrow.locator('[data-verdict="accepted"]').waitFor();
    assert.equal(await vrow.locator('td:nth-child(6)').getAttribute('data-agreed'), '4');
    assert.match((await vrow.locator('td:nth-child(7)').textContent()) ?? '', /outvoted/);
    await shot(page, 'job-faulted');

    await page.goto(`${net.coordinatorUrl}/#/`);
    await page.locator('[data-testid="verification-outcomes"]').getByText('outvoted 1').waitFor();
    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  test('a phone-sized window: menu on one row, no sideways overflow, legible whole-number charts', async () => {
    const { page, errors } = await openPage(390, 844);
    const url = net.coordinatorUrl;
    const views: [string, string][] = [
      ['#/', 'overview-narrow'],
      ['#/providers', 'providers-narrow'],
      [`#/jobs/${jobId}`, 'job-narrow'],
      ['#/epochs', 'epochs-narrow'],
      [`#/providers/${cheater}`, 'provider-narrow'],
    ];
    for (const [hash, name] of views) {
      await page.goto(`${url}/${hash}`);
      await page.locator('[data-view]').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${hash} is ${overflow}px wider than a 390px window`);
      const tops = await page
        .locator('#nav a')
        .evaluateAll((links) => links.map((a) => Math.round(a.getBoundingClientRect().top)));
      assert.equal(new Set(tops).size, 1, `${hash}: the menu sits on one row (${tops.join(',')})`);
      await shot(page, name);
    }

    // Lists stay short tables (issue 22: not a 12-line card per row): header shown, one line per
    // row, the table scrolls sideways inside its box; the sort bar still sorts.
    await page.goto(`${url}/#/providers`);
    await page.locator('table[data-table="providers"] tbody tr').first().waitFor();
    assert.equal(await page.locator('table[data-table="providers"] thead').isVisible(), true);
    const rowHeights = await page
      .locator('table[data-table="providers"] tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height));
    assert.ok(Math.max(...rowHeights) < 48, `one short line per provider (${rowHeights.join(',')} px)`);
    const wrap = page.locator('table[data-table="providers"]').locator('xpath=..');
    assert.ok(await wrap.evaluate((w) => w.scrollWidth > w.clientWidth), 'the table scrolls inside its box');
    await page.selectOption('.sort-bar select', 'region');
    const regions = await page
      .locator('table[data-table="providers"] td[data-label="Region"]')
      .allTextContents();
    assert.deepEqual(regions, [...regions].sort().reverse(), 'sorted by region, descending');
    await shot(page, 'providers-narrow');
    await page.goto(`${url}/#/`);
    const chart = page.locator('[data-view="overview"] svg.chart').first();
    await chart.locator('rect').first().waitFor();
    // Drawn at the box's width (not a scaled 600px drawing): 11px text stays 11px. One evaluation: live re-renders detach it.
    const geometry = await page.evaluate(() => {
      const svg = document.querySelector('[data-view="overview"] svg.chart')!;
      return {
        drawn: Number(svg.getAttribute('width')),
        box: Math.floor((svg.parentElement as HTMLElement).clientWidth),
        font: Number.parseFloat(getComputedStyle(svg.querySelector('text.axis')!).fontSize),
        scale: svg.getBoundingClientRect().width / Number(svg.getAttribute('width')),
      };
    });
    assert.equal(geometry.drawn, geometry.box, JSON.stringify(geometry));
    const shown = geometry.font * geometry.scale;
    assert.ok(shown >= 10.5, `axis text shows at ${shown}px`);
    const yLabels = await chart.locator('text.axis[text-anchor="end"]').allTextContents();
    assert.ok(
      yLabels.every((t) => /^\d+$/.test(t)),
      `whole-number ticks: ${yLabels.join(',')}`,
    );
    assert.equal(new Set(yLabels).size, yLabels.length, `no repeated tick: ${yLabels.join(',')}`);
    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  test("settled epochs on the devnet chain: the epoch row, its transaction and a provider's claimable amount", async () => {
    const url = net.coordinatorUrl;
    type EpochRow = {
      epoch: number;
      status: string;
      tasksSettled: number;
      providerEarnings: string;
      txHash: string | null;
    };
    // The jobs of the tests before were billed; wait for an epoch holding them to settle on chain.
    let settled: EpochRow | undefined;
    const deadline = Date.now() + 120_000;
    while (!settled) {
      assert.ok(Date.now() < deadline, 'no epoch with settled tasks within 120 s');
      const { epochs } = (await (await fetch(`${url}/v1/epochs`)).json()) as { epochs: EpochRow[] };
      settled = epochs.find((e) => e.status === 'settled' && e.tasksSettled > 0);
      if (!settled) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(settled.txHash ?? '', /^0x[0-9a-f]{64}$/);

    const { page, errors } = await openPage();
    await page.goto(`${url}/#/epochs`);
    const row = page.locator(`tr[data-epoch="${settled.epoch}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td:nth-child(2)').textContent(), 'settled');
    assert.equal(
      await row.locator('td:nth-child(5)').getAttribute('title'),
      exactPlx(settled.providerEarnings),
    );
    assert.match((await row.locator('td:nth-child(11)').textContent()) ?? '', /^[1-9]\d* signed$/);
    assert.equal(await row.locator('td:nth-child(12)').getAttribute('title'), settled.txHash);
    await page.locator('[data-testid="chain"]').getByText(net.chain.deployment.settlement).waitFor();

    // A provider that ran those tasks: its page shows what the rewards endpoint says is claimable.
    const { providers } = (await (await fetch(`${url}/v1/providers`)).json()) as {
      providers: { address: string }[];
    };
    let rewards: { cumulativeAmount: string; claimed: string } | undefined;
    let address = '';
    for (const p of providers) {
      const res = await fetch(`${url}/v1/rewards/${p.address}`);
      if (res.ok) {
        rewards = (await res.json()) as { cumulativeAmount: string; claimed: string };
        address = p.address;
        break;
      }
      await res.arrayBuffer();
    }
    assert.ok(rewards, 'some provider has earnings in the settled epoch');
    await page.goto(`${url}/#/providers/${address}`);
    const money = page.locator('[data-testid="money"]');
    const claimable = (BigInt(rewards.cumulativeAmount) - BigInt(rewards.claimed)).toString();
    await money.locator('dt:text("Claimable now") + dd').getByText(plx(claimable), { exact: true }).waitFor();
    await shot(page, 'provider-settled');
    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  test('settlement views render cases the devnet does not reach: stand-in answers for slashes, GPU prices, no stake', async () => {
    const { page, errors } = await openPage();
    const url = net.coordinatorUrl;
    // Named stand-ins for the settlement endpoints (the test before reads the real ones): an
    // epoch with a slash, a GPU price class and a provider without a stake, which a short CPU-only
    // devnet run never produces. Everything else on the page is the real devnet.
    await page.route('**/v1/epochs', (r) => r.fulfill({ json: EPOCHS }));
    await page.route('**/v1/prices', (r) => r.fulfill({ json: PRICES }));
    await page.route('**/v1/chain', (r) => r.fulfill({ json: CHAIN }));
    await page.route('**/v1/rewards/*', (r) =>
      r.fulfill({ json: rewardsOf(r.request().url().split('/').pop()!) }),
    );
    await page.route('**/v1/providers', async (r) => {
      const res = await r.fetch();
      const body = (await res.json()) as { providers: Record<string, unknown>[] };
      body.providers.forEach((p, i) => {
        p.earnings = `${i + 1}500000000000000000`;
        p.stake = i === 0 ? null : `${i}000000000000000000000`;
      });
      await r.fulfill({ response: res, json: body });
    });

    await page.goto(`${url}/#/epochs`);
    const erows = page.locator('table[data-table="epochs"] tbody tr');
    await erows.nth(1).waitFor();
    assert.deepEqual(
      await page.locator('table[data-table="epochs"] tbody td:nth-child(2)').allTextContents(),
      ['open', 'settled'],
    );
    const settled = page.locator('tr[data-epoch="1"]');
    assert.equal(await settled.locator('td:nth-child(5)').textContent(), '1.5 PLX');
    assert.equal(await settled.locator('td:nth-child(5)').getAttribute('title'), '1.5 PLX');
    assert.equal(await settled.locator('td:nth-child(8)').textContent(), '0.00000000002 PLX');
    assert.equal(await settled.locator('td:nth-child(9)').textContent(), '1,000 PLX');
    // Validators: who signed, and a dispute named by its fact.
    assert.match((await settled.locator('td:nth-child(11)').textContent()) ?? '', /^2 signed/);
    assert.equal(
      await settled.locator('td:nth-child(11) [data-dispute]').textContent(),
      'disputed: charge[0xabc]',
    );
    assert.equal(await page.locator('tr[data-epoch="2"] td:nth-child(11)').textContent(), '—');
    assert.equal(await settled.locator('td:nth-child(12)').getAttribute('title'), HASH_B);
    assert.equal(await page.locator('tr[data-epoch="2"] td:nth-child(12)').textContent(), '—');
    await page.locator('[data-testid="chain"]').getByText(ADDR(4)).waitFor();
    await shot(page, 'epochs-settlement');

    await page.goto(`${url}/#/`);
    await page.locator('[data-price-class="cpu"] svg.chart circle').nth(2).waitFor();
    await page.locator('[data-price-class="gpu:nvidia-h100"] svg.chart circle').first().waitFor();
    assert.match(
      (await page.locator('[data-price-class="cpu"] .price-head').textContent()) ?? '',
      /0\.0000011 PLX per cpu-core-second.*utilization 62% \(target 50%\)/,
    );
    await shot(page, 'overview-settlement');

    await page.goto(`${url}/#/providers`);
    await page.getByRole('button', { name: 'Earnings' }).click();
    const earnings = await page
      .locator('table[data-table="providers"] tbody td:nth-child(12)')
      .allTextContents();
    const n = earnings.length;
    assert.deepEqual(
      earnings.slice(0, 2),
      [`${n}.5 PLX`, `${n - 1}.5 PLX`],
      'sorted by bigint, largest first',
    );
    const stakes = await page
      .locator('table[data-table="providers"] tbody td:nth-child(11)')
      .allTextContents();
    assert.ok(stakes.includes('no chain') && stakes.includes('1,000 PLX'), stakes.join('|'));
    await shot(page, 'providers-settlement');

    await page.locator('table[data-table="providers"] tbody td:first-child a').first().click();
    const money = page.locator('[data-testid="money"]');
    await money.getByText('epoch 1').waitFor();
    assert.equal(await money.locator('dt:text("Claimable now") + dd').textContent(), '1 PLX');
    assert.deepEqual(errors, [], 'no console errors');
    await page.close();
  });

  test('the coordinator unreachable: one banner, said once, and a retry', async () => {
    const { page } = await openPage(1280, 700);
    await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
    await page.goto(`${net.coordinatorUrl}/#/providers`);
    await page.locator('#banner').filter({ hasText: 'Coordinator unreachable' }).waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: what is shown, not hidden nodes' text
    const text = await page.locator('body').innerText();
    assert.equal(text.match(/unreachable/gi)?.length, 1, text);
    await page.locator('#banner button').filter({ hasText: 'Retry' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-unreachable.png') });
    await page.close();
  });
});

/**
 * Settlement endpoints the explorer asks for and shows as an empty state when they answer 404 (not
 * served yet, no chain, no earnings for this address: docs/dashboard.md). Chromium logs every 4xx
 * fetch as a console error; these expected ones are the only console errors let through.
 */
const OPTIONAL_ENDPOINT = /\/v1\/(epochs|prices|chain|rewards\/0x[0-9a-f]{40})$/;

/** Console errors and uncaught exceptions of a page, collected as they happen. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = msg.location().url;
    if (/status of 404/.test(msg.text()) && OPTIONAL_ENDPOINT.test(new URL(where, 'http://x').pathname))
      return;
    errors.push(`${msg.text()} (${where})`);
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}
