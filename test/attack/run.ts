/**
 * The standing attack suite (issue 16): starts a real coordinator process on loopback, runs
 * bounded attacks against it while sampling its RSS and `/v1/health` latency, asserts the PLX_
 * code each attack must get, and ends with an honest job (a real provider agent and the PP-OCRv4
 * model) that must complete. Exits non-zero on any failed case; the last line is
 * `N passed, M failed`. `ATTACK_SCALE` (default 1) scales the sizes; docs/security.md lists the
 * cases (test/attack/cases.ts, test/attack/limitsCases.ts). test/hardeningAttack.test.ts runs it
 * in `npm test` at a small scale.
 *
 * @example npm run attack
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { createClient } from '../../src/client/createClient.ts';
import { type NodeChild, spawnPlexus } from '../../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, tempDir } from '../helpers/fixtures.ts';
import { cases } from './cases.ts';
import {
  type Case,
  expect,
  HEALTH_P99_MS,
  monitor,
  quantile,
  RSS_GROWTH_MIB,
  setUrl,
  startControlServer,
  url,
  within,
} from './harness.ts';
import { limitsCases } from './limitsCases.ts';

const results: { name: string; ok: boolean; why?: string }[] = [];
const children: NodeChild[] = [];

/**
 * Starts the honest provider agent: before the attacks and the sampling, so its start-up (a
 * process, onnxruntime workers) does not compete with the coordinator while health is measured.
 */
async function startAgent(dir: string) {
  const pdir = join(dir, 'provider');
  await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: createLogger('attack', { level: 'silent' }),
  });
  const agent = spawnPlexus('provider', ['provider', 'start', '--coordinator', url, '--data-dir', pdir], {
    env: { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'warn' },
    print: () => {},
  });
  children.push(agent);
  await agent.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
}

async function honestJob() {
  const client = createClient({ url, account: randomAccount() });
  const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const input = await client.uploadBlob(encodeSafetensors(ocrInput(7)));
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 300,
  });
  const job = await client.waitForJob(jobId);
  expect(job.status === 'completed', `job ${job.status}`);
  const out = (await client.jobResults(jobId)).outputs[0]?.output;
  expect(out, 'an output');
  // Outputs are private to the job's client: downloaded as it (the SDK signs the request).
  const tensors = decodeSafetensors(await client.downloadBlob(out as string));
  const [t] = Object.values(tensors);
  // PP-OCRv4 detection: a probability map the size of the input (1×1×64×320), values in [0, 1].
  expect(t && t.shape.join('x') === '1x1x64x320', `output shape ${t?.shape.join('x')}`);
  const data = t.data as Float32Array;
  expect(data.every((v) => v >= 0 && v <= 1) && data.some((v) => v > 0.5), 'a text probability map');
}

async function main() {
  const { dir, cleanup } = await tempDir('plexus-attack-');
  const honest = privateKeyToAccount(`0x${'42'.repeat(32)}`);
  let exitCode = 1;
  try {
    const coord = spawnPlexus(
      'coordinator',
      [
        'coordinator',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'coord'),
        '--log-level',
        'warn',
        '--rate-limit-per-minute',
        '1000000',
      ],
      { print: (l) => process.stderr.write(`${l}\n`) },
    );
    children.push(coord);
    setUrl((await coord.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000)).url);
    await fetch(`${url}/v1/health`);
    await startAgent(dir);
    const control = await startControlServer();
    const mon = monitor(coord.proc.pid!, control.url);
    await new Promise((r) => setTimeout(r, 1000));
    const baseline = Math.min(...mon.rss);
    const all: Case[] = [
      ...cases({ honest }),
      ...limitsCases(),
      {
        name: 'an honest job completes correctly afterwards (real agent, PP-OCRv4)',
        run: () => honestJob(),
      },
    ];
    for (const c of all) {
      const t = performance.now();
      mon.case = c.name;
      try {
        await within(c.run(), 180_000, c.name);
        results.push({ name: c.name, ok: true });
        const worst = Math.max(0, ...(mon.byCase.get(c.name) ?? []));
        console.log(
          `ok    ${c.name} (${Math.round(performance.now() - t)} ms; worst health ${worst.toFixed(0)} ms)`,
        );
      } catch (err) {
        results.push({ name: c.name, ok: false, why: (err as Error).message });
        console.log(`FAIL  ${c.name}: ${(err as Error).message}`);
      }
    }
    await mon.end();
    control.stop();
    // The bound is on what the coordinator adds: its latency above the control server's, sample
    // by sample (on a quiet machine the control answers in a millisecond or two, so this is the
    // raw latency; on a machine loaded by other work, both wait for a CPU alike).
    const p99 = quantile(mon.excess, 0.99);
    const raw = quantile(mon.latencies, 0.99);
    const growth = Math.max(...mon.rss) - baseline;
    const health = p99 < HEALTH_P99_MS;
    const line = `health p99 ${p99.toFixed(0)} ms above the control over ${mon.excess.length} samples (raw p99 ${raw.toFixed(0)} ms, max ${Math.max(...mon.latencies).toFixed(0)} ms; control p99 ${quantile(mon.controls, 0.99).toFixed(0)} ms; bound ${HEALTH_P99_MS} ms)`;
    results.push({ name: line, ok: health });
    console.log(`${health ? 'ok  ' : 'FAIL'}  ${line}`);
    const rssOk = growth < RSS_GROWTH_MIB;
    results.push({ name: 'rss', ok: rssOk });
    console.log(
      `${rssOk ? 'ok  ' : 'FAIL'}  RSS growth ${growth.toFixed(0)} MiB (baseline ${baseline.toFixed(0)} MiB, peak ${Math.max(...mon.rss).toFixed(0)} MiB; bound ${RSS_GROWTH_MIB} MiB)`,
    );
    exitCode = results.every((r) => r.ok) ? 0 : 1;
  } catch (err) {
    console.log(`FAIL  setup: ${(err as Error).message}`);
    results.push({ name: 'setup', ok: false });
  } finally {
    await Promise.all(children.map((c) => c.stop(5_000).catch(() => null)));
    await cleanup().catch(() => {});
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exit(exitCode);
}

void main();
