/**
 * `GET /v1/providers/:address/timeline` (issue 22, the explorer's per-provider earnings and uptime
 * charts) against an in-process coordinator: earnings come from the real ledger charge of a job run
 * by a scripted provider (they add up to what `/v1/providers` says it earned), uptime from its real
 * session plus two past sessions written into provider_sessions; query parameters are validated
 * (400), an unknown provider is a 404, and pages line up (`previous`).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { providerTimelineSchema } from '../src/protocol/http/providerTimeline.ts';
import { encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';

const HOUR = 3_600_000;
let c: Awaited<ReturnType<typeof testCoordinator>>;
let provider: RawProvider;
let address: string;
/** Start of the hour bucket five hours before the current one. */
let pastHour: number;

before(async () => {
  c = await testCoordinator({ canaryRate: 0 });
  provider = await connectRawProvider(c.url, randomAccount());
  address = provider.account.address.toLowerCase();
  const sdk = createClient({ url: c.url, account: randomAccount() });
  const model = await sdk.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const input = await sdk.uploadBlob(encodeSafetensors(ocrInput(3, 32, 32)));
  const { jobId } = await sdk.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 120,
    verification: { policy: 'none' },
  });
  const out: Record<string, Tensor> = { y: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } };
  await provider.deliver(await provider.next('assign', 60_000), out);
  assert.equal((await sdk.waitForJob(jobId)).status, 'completed');
  // History before this run: first seen six hours ago, online for the whole hour five hours ago
  // and for a quarter of the hour four hours ago.
  pastHour = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
  const db = c.store.sqlite!;
  db.prepare('UPDATE providers SET first_seen = ? WHERE address = ?').run(pastHour - HOUR, address);
  const ins = db.prepare(
    'INSERT INTO provider_sessions (provider, slots, connected_at, disconnected_at) VALUES (?, 1, ?, ?)',
  );
  ins.run(address, pastHour, pastHour + HOUR);
  ins.run(address, pastHour + HOUR, pastHour + HOUR + HOUR / 4);
});
after(async () => {
  await provider?.close();
  await c?.cleanup();
});

async function get(path: string) {
  const res = await fetch(`${c.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('earnings per bucket add up to the ledger; uptime follows the sessions', async () => {
  const r = await get(`/v1/providers/${address}/timeline?bucket=hour&buckets=24`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const t = providerTimelineSchema.parse(r.body);
  assert.equal(t.points.length, 24);
  assert.equal(t.to - t.from, 24 * HOUR);
  const { providers } = (await get('/v1/providers')).body as {
    providers: { address: string; earnings: string }[];
  };
  const earnings = providers.find((p) => p.address === address)?.earnings;
  assert.ok(earnings && BigInt(earnings) > 0n, `the provider earned (${earnings})`);
  assert.equal(t.total.earned, earnings, 'the buckets add up to what the ledger credited');
  const now = t.points.at(-1)!;
  assert.equal(now.earned, earnings, 'all of it in the current hour');
  assert.ok(now.entries >= 1, 'now.entries >= 1');
  const at = (start: number) => t.points.find((p) => p.start === start)!;
  assert.equal(at(pastHour - 2 * HOUR).uptime, null, 'before it was first seen: no data');
  assert.equal(at(pastHour - HOUR).uptime, 0, 'seen, not connected');
  assert.equal(at(pastHour).uptime, 1);
  assert.equal(at(pastHour).onlineMs, HOUR);
  assert.equal(at(pastHour + HOUR).uptime, 0.25);
  assert.ok((now.uptime ?? 0) > 0, 'connected now');
  assert.ok(
    t.total.uptime !== null && t.total.uptime > 0 && t.total.uptime < 1,
    't.total.uptime !== null && t.total.uptime > 0 && t.total.uptime < 1',
  );
  assert.equal(t.previous, null, 'nothing before the first sighting to page to');
  // A window that starts after the first sighting pages back to the hour before it.
  const last2 = providerTimelineSchema.parse(
    (await get(`/v1/providers/${address}/timeline?bucket=hour&buckets=2`)).body,
  );
  assert.equal(last2.previous, last2.from - 1);
  const page2 = providerTimelineSchema.parse(
    (await get(`/v1/providers/${address}/timeline?bucket=hour&buckets=2&until=${last2.previous}`)).body,
  );
  assert.equal(page2.to, last2.from, 'the page before ends where this one starts');
});

test('days, pages and the bounds of the query', async () => {
  const day = providerTimelineSchema.parse(
    (await get(`/v1/providers/${address}/timeline?bucket=day&buckets=30`)).body,
  );
  assert.equal(day.points.length, 30);
  assert.equal(day.bucketMs, 86_400_000);
  assert.equal(day.from % 86_400_000, 0, 'whole UTC days');
  // The page before the first sighting holds nothing and has no page before it.
  const older = providerTimelineSchema.parse(
    (await get(`/v1/providers/${address}/timeline?bucket=hour&buckets=2&until=${pastHour - 3 * HOUR}`)).body,
  );
  assert.deepEqual(
    older.points.map((p) => p.uptime),
    [null, null],
  );
  assert.equal(older.previous, null);
  assert.equal(older.total.earned, '0');
  for (const q of ['bucket=week', 'buckets=0', 'buckets=367', 'buckets=two', 'until=-1', 'limit=5']) {
    const bad = await get(`/v1/providers/${address}/timeline?${q}`);
    assert.equal(bad.status, 400, `${q} → ${bad.status}`);
    assert.equal((bad.body as { error?: { code?: string } }).error?.code, 'PLX_VALIDATION', q);
  }
  const unknown = await get(`/v1/providers/0x${'12'.repeat(20)}/timeline`);
  assert.equal(unknown.status, 404);
  assert.equal((unknown.body as { error?: { code?: string } }).error?.code, 'PLX_NOT_FOUND');
  assert.equal((await get('/v1/providers/0x12/timeline')).status, 400);
});
