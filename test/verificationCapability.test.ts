/**
 * The capability proof wired into the live coordinator (docs/verification.md "Capability
 * proof"), with scripted providers on raw WebSockets (split from verification.test.ts).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, testCoordinator } from './helpers/fixtures.ts';
import { connectRawProvider } from './helpers/rawProvider.ts';

let c: Awaited<ReturnType<typeof testCoordinator>>;
let modelBytes: Uint8Array;

before(async () => {
  c = await testCoordinator({ canaryRate: 0 });
  modelBytes = new Uint8Array(await readFile(ppocrDetectionModelPath()));
});
after(async () => {
  await c.cleanup();
});

/** Polls `f` until it gives a value; the deadline is generous (a proof on a machine at load 40+ took over 30 s). */
async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type CapabilityJson = {
  class: string;
  proven: boolean;
  gpuTrusted: boolean;
  gflops: number | null;
  lastOutcome: string;
  reason: string;
};

async function capabilityOf(url: string, address: string): Promise<CapabilityJson & { faults: number }> {
  const { providers } = await createClient({ url }).listProviders();
  const p = providers.find((x) => x.address === address.toLowerCase()) as
    | { capability: CapabilityJson; reputation: { faults: number } }
    | undefined;
  assert.ok(p?.capability, `provider ${address} shows a capability`);
  return { ...p.capability, faults: p.reputation.faults };
}

test('capability proof: a correct answer is proven, a wrong one is a fault, an unproven GPU claim gets no GPU work', async () => {
  const good = await connectRawProvider(c.url, randomAccount());
  const liar = await connectRawProvider(c.url, randomAccount());
  const gpu = await connectRawProvider(c.url, randomAccount(), {
    hardware: {
      gpus: [{ name: 'NVIDIA GeForce RTX 4090', memoryMiB: 24_564 }],
      executionProviders: ['cuda', 'cpu'],
    },
  });
  try {
    const ch = await good.next('capability', 60_000);
    assert.equal(ch.hardwareClass, 'cpu');
    assert.equal(ch.n, 256);
    const gpuCh = await gpu.next('capability', 60_000);
    assert.equal(gpuCh.hardwareClass, 'gpu-consumer');
    assert.deepEqual([gpuCh.n, gpuCh.k], [2048, 64]);
    await good.answerCapability(ch);
    await liar.answerCapability(await liar.next('capability', 60_000), { corrupt: true });
    const proven = await until('the proof', async () => {
      const v = await capabilityOf(c.url, good.account.address);
      return v.lastOutcome === 'pending' ? undefined : v;
    });
    assert.equal(proven.lastOutcome, 'passed');
    assert.equal(proven.proven, true);
    assert.equal(proven.gpuTrusted, false);
    assert.ok((proven.gflops ?? 0) > 0, '(proven.gflops ?? 0) > 0');
    const wrong = await until('the wrong proof', async () => {
      const v = await capabilityOf(c.url, liar.account.address);
      return v.lastOutcome === 'pending' ? undefined : v;
    });
    assert.equal(wrong.lastOutcome, 'wrong');
    // The coordinator's record (the public row shows the reputation the epoch began with:
    // publicReputation.ts), one fault.
    const liarFaults = await c.store.db
      .selectFrom('verification_faults')
      .select('kind')
      .where('provider', '=', liar.account.address.toLowerCase())
      .execute();
    assert.equal(liarFaults.length, 1, 'a wrong answer is a fault');
    const fault = await c.store.db
      .selectFrom('verification_faults')
      .selectAll()
      .where('provider', '=', liar.account.address.toLowerCase())
      .executeTakeFirstOrThrow();
    assert.equal(fault.kind, 'capability');
    assert.match(fault.evidence, /Freivalds/);
    const g = await capabilityOf(c.url, gpu.account.address);
    assert.deepEqual([g.class, g.proven, g.gpuTrusted], ['gpu-consumer', false, false]);

    // A GPU job: only the GPU claimer would fit, and it has not proven its GPU.
    const client = createClient({ url: c.url, account: randomAccount() });
    const model = await client.uploadBlob(modelBytes);
    const input = await client.uploadBlob(encodeSafetensors(ocrInput(9, 32, 32)));
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [input.cid],
      resources: { gpu: true, minMemoryMiB: 0 },
      deadline: Math.floor(Date.now() / 1000) + 60,
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(gpu.take('assign'), undefined, 'no GPU work for an unproven GPU');
    const leases = await c.store.db
      .selectFrom('assignments')
      .select('id')
      .where('job_id', '=', jobId)
      .execute();
    assert.deepEqual(leases, []);

    // An answer past the class budget is `slow` without being checked: even a wrong one is no fault.
    await new Promise((r) => setTimeout(r, Number(gpuCh.budgetMs)));
    await gpu.answerCapability(gpuCh, { product: new Uint8Array(2048 * 2048) });
    const slow = await until('the slow proof', async () => {
      const v = await capabilityOf(c.url, gpu.account.address);
      return v.lastOutcome === 'pending' ? undefined : v;
    });
    assert.equal(slow.lastOutcome, 'slow');
    assert.match(slow.reason, /too slow for gpu-consumer.*not checked/);
    assert.deepEqual([slow.gpuTrusted, slow.faults], [false, 0]);
  } finally {
    await Promise.all([good, liar, gpu].map((p) => p.close()));
  }
});
