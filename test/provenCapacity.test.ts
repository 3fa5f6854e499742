/**
 * Issue 16, item 4: `/v1/stats` counts only GPUs a capability proof showed, and `/v1/providers`
 * is bounded (a page of at most 1,000, each provider's hardware listing cut to a few KB).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { providerAggregates } from '../src/coordinator/api/explorerViews.ts';
import { randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider } from './helpers/rawProvider.ts';

const hardware = (gpus: number) =>
  JSON.stringify({
    cpuModel: 'c',
    cpuCores: 4,
    memoryBytes: 1024,
    gpus: Array.from({ length: gpus }, () => ({ name: 'H100', memoryMiB: 81_559 })),
    executionProviders: ['cpu', 'cuda'],
  });

test('stats count only proven GPUs: an unproven claim is neither GPU capacity nor a GPU provider', () => {
  const row = (address: string, capability: string | null) => ({
    address,
    region: 'eu',
    connected: 1,
    slots: 1,
    hardware: hardware(8),
    capability,
  });
  const stats = providerAggregates(
    [
      row('0xclaims', null),
      row('0xfailed', JSON.stringify({ gpuTrusted: false, proven: true })),
      row('0xproven', JSON.stringify({ gpuTrusted: true, proven: true })),
    ],
    () => 0,
  );
  // Issue 16: all 24 claimed GPUs were counted.
  assert.equal(stats.capacity.gpus, 8);
  assert.deepEqual(stats.providers.classes, { cpu: 2, gpu: 1 });
  assert.equal(stats.capacity.gpuModels[0]?.count, 8);
  assert.equal(stats.regions[0]?.gpus, 8);
});

let c: Awaited<ReturnType<typeof testCoordinator>>;
before(async () => {
  c = await testCoordinator();
});
after(async () => {
  await c.cleanup();
});

test('/v1/providers is bounded: a limit, and each listed claim cut to a few KB', async () => {
  const junk = Array.from({ length: 64 }, (_, i) => ({ name: `${i}${'j'.repeat(190)}`, memoryMiB: 1 }));
  const ps = await Promise.all(
    [0, 1].map(() =>
      connectRawProvider(c.url, randomAccount(), { hardware: { cpuModel: 'c'.repeat(200), gpus: junk } }),
    ),
  );
  try {
    const all = (await (await fetch(`${c.url}/v1/providers`)).json()) as {
      providers: { hardware: { cpuModel: string; gpus: { name: string }[] } }[];
    };
    assert.equal(all.providers.length, 2);
    for (const p of all.providers) {
      assert.ok(p.hardware.gpus.length <= 16, `${p.hardware.gpus.length} GPUs listed`);
      assert.ok(
        p.hardware.gpus.every((g) => g.name.length <= 64),
        'p.hardware.gpus.every((g) => g.name.length <= 64)',
      );
      assert.ok(p.hardware.cpuModel.length <= 64, 'p.hardware.cpuModel.length <= 64');
    }
    const one = (await (await fetch(`${c.url}/v1/providers?limit=1`)).json()) as { providers: unknown[] };
    assert.equal(one.providers.length, 1);
    assert.equal((await fetch(`${c.url}/v1/providers?limit=100000`)).status, 400);
  } finally {
    await Promise.all(ps.map((p) => p.close()));
  }
});
