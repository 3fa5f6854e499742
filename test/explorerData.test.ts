/**
 * The explorer's data without a browser: the parsing and formatting of settlement data
 * (web/src/settlement.ts), and the explorer's API (stats, history, verification, static files)
 * against a plain coordinator. The browser test is test/dashboard.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULT_WEB_ROOT } from '../src/coordinator/api/explorerRoutes.ts';
import { createLogger } from '../src/logger.ts';
import {
  claimable,
  exactPlx,
  formatAmount,
  parseChain,
  parseEpochs,
  parsePrices,
  parseRewards,
  plx,
  providerMoney,
  ShapeError,
} from '../web/src/settlement.ts';
import { ADDR, CHAIN, EPOCHS, HASH_B, PRICES, rewardsOf } from './helpers/explorerFixtures.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { fetchAsClient } from './helpers/jobRead.ts';

const _quiet = createLogger('test', { level: 'silent' });

describe('explorer settlement data (web/src/settlement.ts)', () => {
  test('18-decimal amounts are formatted from bigints, cut and never rounded through floats', () => {
    assert.equal(formatAmount('1500000000000000000'), '1.5');
    assert.equal(formatAmount('0'), '0');
    assert.equal(formatAmount('1234567000000000000000000'), '1,234,567');
    assert.equal(formatAmount('1234567891234567891234'), '1,234.5678', 'four decimals with a whole part');
    assert.equal(formatAmount('999999999999999999'), '0.9999', 'cut, never rounded up to 1');
    assert.equal(formatAmount('20000000'), '0.00000000002', 'tiny amounts keep their significant digits');
    assert.equal(formatAmount(1n), '0.000000000000000001');
    assert.equal(formatAmount(100000000000000000n + 200000000000000000n), '0.3', 'no 0.30000000000000004');
    assert.equal(formatAmount(-1500000000000000000n), '-1.5');
    // 10^77 base units: far past 2^53, every digit kept.
    assert.equal(formatAmount(10n ** 77n).replaceAll(',', ''), `1${'0'.repeat(59)}`);
    assert.equal(plx('1500000000000000000'), '1.5 PLX');
    assert.equal(exactPlx(1n), '0.000000000000000001 PLX');
  });

  test('the agreed documents parse; claimable and provider amounts are bigints', () => {
    const epochs = parseEpochs(EPOCHS);
    assert.deepEqual(
      epochs.map((e) => [e.epoch, e.status, e.txHash]),
      [
        [2, 'open', null],
        [1, 'settled', HASH_B],
      ],
    );
    const prices = parsePrices(PRICES);
    assert.deepEqual(
      prices[0]?.history.map((p) => p.epoch),
      [0, 1, 2],
      'history sorted oldest first for the chart',
    );
    assert.equal(parseChain(CHAIN).epochDuration, 3600);
    const r = parseRewards(rewardsOf(ADDR(5)));
    assert.equal(claimable(r), 1_000_000_000_000_000_000n);
    assert.equal(claimable({ cumulativeAmount: '10', claimed: '30' }), 0n, 'never negative');

    assert.deepEqual(providerMoney({}), {
      earnings: { value: null, why: 'not served by this coordinator yet' },
      stake: { value: null, why: 'not served by this coordinator yet' },
    });
    assert.deepEqual(providerMoney({ earnings: '5', stake: null }), {
      earnings: { value: 5n },
      stake: { value: null, why: 'no chain' },
    });
    assert.deepEqual(providerMoney({ earnings: 5, stake: '1e18' }), {
      earnings: { value: null, why: 'malformed' },
      stake: { value: null, why: 'malformed' },
    });
  });

  test('documents that break the agreed shapes are refused with where they break', () => {
    const bad = (patch: Record<string, unknown>) => ({ epochs: [{ ...EPOCHS.epochs[1], ...patch }] });
    for (const patch of [
      { providerEarnings: '1.5' },
      { providerEarnings: 1500 },
      { slashed: '-1' },
      { status: 'final' },
      { txHash: '0x1234' },
      { settledAt: undefined },
    ])
      assert.throws(() => parseEpochs(bad(patch)), ShapeError, JSON.stringify(patch));
    assert.throws(() => parseEpochs(bad({ emission: '01' })), /epochs\.0\.emission/);
    assert.throws(
      () => parsePrices({ classes: [{ ...PRICES.classes[0], utilization: -0.1 }] }),
      /classes\.0\.utilization/,
    );
    assert.throws(() => parseRewards({ ...rewardsOf(ADDR(5)), proof: ['0xzz'] }), ShapeError);
    assert.throws(() => parseChain({ ...CHAIN, token: 'nope' }), ShapeError);
    assert.throws(() => parseEpochs(null), ShapeError);
  });
});

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
      assert.deepEqual(stats.verification, {
        tasks: { open: 0, accepted: 0, rejected: 0, disputed: 0 },
        verified: 0,
        unverified: 0,
        audited: 0,
        policies: { none: 0, audit: 0, redundant: 0 },
        faults: {
          total: 0,
          byKind: { outvoted: 0, 'bad-reveal': 0, capability: 0, malformed: 0 },
        },
        slashed: '0',
      });
      assert.equal(stats.prices, undefined, 'prices come from /v1/prices, not from stats');

      const unknown = await fetch(`${c.url}/v1/providers/0x${'1'.repeat(40)}/history`);
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'PLX_NOT_FOUND');
      for (const path of ['assignments', 'verification']) {
        // A job's task views are its client's: unsigned, refused before any lookup (alike for
        // real, shadow and missing jobs); signed by someone who is not its client, not found.
        const unsigned = await fetch(`${c.url}/v1/jobs/0x${'2'.repeat(64)}/${path}`);
        assert.equal(unsigned.status, 401, path);
        assert.equal(
          ((await unsigned.json()) as { error: { code: string } }).error.code,
          'PLX_AUTH_REQUIRED',
        );
        const jobId = `0x${'2'.repeat(64)}`;
        const noJob = await fetchAsClient(c.url, `/v1/jobs/${jobId}/${path}`, randomAccount(), jobId);
        assert.equal(noJob.status, 404, path);
        assert.equal(((await noJob.json()) as { error: { code: string } }).error.code, 'PLX_NOT_FOUND');
      }
      // (Bodies are read to the end: an unread body keeps the connection, and stop() waits for it.)
      const badId = await fetch(`${c.url}/v1/jobs/not-a-job/verification`);
      assert.equal(badId.status, 400);
      assert.equal(((await badId.json()) as { error: { code: string } }).error.code, 'PLX_VALIDATION');

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
      await js.arrayBuffer();
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
