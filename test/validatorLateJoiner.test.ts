/**
 * A validator that joins late, as real OS processes on a real anvil (docs/validators.md, "Audit
 * rates and reputation": bootstrap). A coordinator settles epochs with two of its three validators
 * (threshold 2), one of them paying a job's charge; the third validator, never started before (an
 * empty store), starts only then, in front of a coordinator whose epoch list no longer reaches
 * epoch 1 (`GET /v1/epochs` lists the newest 200: a small HTTP proxy in front of the real
 * coordinator leaves out the settled epochs, as a long-running network would). It must replay
 * epochs 1 … first − 1 from their bundles, each checked against `evidenceHashOf` on chain, and then
 * verify and sign the next epoch with its replay complete, with no dispute.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { createClient } from '../src/client/createClient.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import type { EpochList } from '../src/protocol/http/market.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';
import { freePort, waitUntil } from './helpers/net.ts';
import { deploySettlementChain } from './helpers/settlementChain.ts';
import { spawnValidator } from './helpers/spawnValidator.ts';

const EPOCH_SECONDS = 4;
const START_MS = 180_000;
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};

/** An HTTP proxy to `target` whose `GET /v1/epochs` lists only epochs from `from()` on. */
async function trimmingProxy(target: string, from: () => number): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    try {
      // Every request header but the hop-by-hop ones: a validator's blob reads are signed (the
      // capability answers of version 12 bundles are read through this proxy too).
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (
          typeof v === 'string' &&
          !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)
        )
          headers[k] = v;
      }
      const up = await fetch(`${target}${req.url}`, { headers });
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/v1/epochs') {
        const list = (await up.json()) as EpochList;
        list.epochs = list.epochs.filter((e) => e.epoch >= from());
        res.writeHead(up.status, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(list));
      }
      const out: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
      });
      res.writeHead(up.status, out);
      res.end(Buffer.from(await up.arrayBuffer()));
    } catch (err) {
      res.writeHead(502);
      res.end(String(err));
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, server };
}

test('a validator started after epochs settled bootstraps from the chain and signs the next epoch', {
  timeout: 900_000,
}, async () => {
  const { dir, cleanup } = await tempDir('plexus-late-validator-');
  const children: NodeChild[] = [];
  let proxy: Server | undefined;
  const addresses: Record<string, string> = {};
  const { anvil, ctx, validatorKeystores, submitterKeystore } = await deploySettlementChain(
    dir,
    EPOCH_SECONDS,
    addresses,
  );
  try {
    const validatorUrls: string[] = [];
    for (let i = 0; i < 3; i++) validatorUrls.push(`http://127.0.0.1:${await freePort()}`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')];
    args.push('--deployment', join(dir, 'deployment.json'), '--rpc-url', anvil.rpcUrl);
    args.push('--epoch-seconds', String(EPOCH_SECONDS), '--validator-url', ...validatorUrls);
    args.push('--submitter-keystore', submitterKeystore);
    const coordinator = spawnPlexus('coordinator', args, { env, print });
    children.push(coordinator);
    await coordinator.waitFor('PLEXUS_COORDINATOR_READY', START_MS);
    for (const i of [0, 1]) {
      const v = spawnValidator(i, {
        keystore: validatorKeystores[i]!,
        dir,
        coordinator: url,
        url: validatorUrls[i]!,
        env,
        print,
      });
      children.push(v);
      await v.waitFor('PLEXUS_VALIDATOR_READY', START_MS);
    }
    const provider = spawnPlexus(
      'honest-1',
      ['provider', 'start', '--coordinator', url, '--data-dir', join(dir, 'honest-1')],
      { env, print },
    );
    children.push(provider);
    await provider.waitFor('PLEXUS_PROVIDER_STARTED', START_MS);

    // A job with a charge, so the replayed bundles pay something.
    const account = await loadOrCreateKeystore(join(dir, 'client.json'), DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: createLogger('test', { level: 'silent' }),
    });
    const client = createClient({ url, account });
    const model = await client.uploadFile(ppocrDetectionModelPath());
    const input = await client.uploadBlob(encodeSafetensors(ocrInput(1)));
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs: [input.cid],
      deadline: Math.floor(Date.now() / 1000) + 300,
      verification: { policy: 'none' },
    });
    assert.equal((await client.waitForJob(jobId)).status, 'completed', 'the job completes');
    const epochs = async () => ((await (await fetch(`${url}/v1/epochs`)).json()) as EpochList).epochs;
    await waitUntil(
      'the epoch that charged the job, and at least three, to settle with two validators',
      async () => {
        const rows = await epochs();
        const settled = rows.filter((e) => e.status === 'settled');
        return settled.length >= 3 && settled.some((e) => e.tasksSettled > 0);
      },
      300_000,
    );

    // The late joiner: an empty store, and a list that starts at the last finalized epoch.
    const first = Number((await getSettlementState(ctx)).lastFinalizedEpoch);
    const openNow = Math.max(...(await epochs()).map((e) => e.epoch));
    const trimmed = await trimmingProxy(url, () => first);
    proxy = trimmed.server;
    const lines: string[] = [];
    const late = spawnPlexus(
      'validator-2',
      [
        'validator',
        'start',
        '--keystore',
        validatorKeystores[2]!,
        '--deployment',
        join(dir, 'deployment.json'),
        '--coordinator',
        trimmed.url,
        '--data-dir',
        join(dir, 'validator-2'),
        '--port',
        new URL(validatorUrls[2]!).port,
        '--poll-ms',
        '300',
      ],
      { env: { ...env, PLEXUS_LOG_LEVEL: 'info' }, showLevel: 30, print: (l) => lines.push(l) },
    );
    children.push(late);
    await late.waitFor('PLEXUS_VALIDATOR_READY', START_MS);
    await waitUntil(
      () =>
        `the late validator to sign epoch ${openNow}, open when it started; its last lines:\n${lines.slice(-20).join('\n')}`,
      async () => (await fetch(`${validatorUrls[2]}/v1/epochs/${openNow}/signature`)).status === 200,
      300_000,
    );
    const boot = lines.find((l) => l.includes('replay bootstrapped from the chain'));
    assert.ok(
      boot,
      `the late validator bootstrapped from the chain: ${lines.filter((l) => /replay|bootstrap/.test(l)).join('\n')}`,
    );
    assert.match(
      boot,
      new RegExp(`"epochs":${first - 1}\\b`),
      `it replayed epochs 1 … ${first - 1}: ${boot}`,
    );
    const sig = (await (await fetch(`${validatorUrls[2]}/v1/epochs/${openNow}/signature`)).json()) as {
      signer: string;
    };
    const key = await loadOrCreateKeystore(validatorKeystores[2]!, DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: createLogger('test', { level: 'silent' }),
    });
    assert.equal(sig.signer.toLowerCase(), key.address.toLowerCase(), 'signed with its own key');
    assert.equal(
      (await fetch(`${validatorUrls[2]}/v1/epochs/1/signature`)).status,
      404,
      'epochs before the list were replayed, not decided',
    );
    const disputes = (
      (await (await fetch(`${validatorUrls[2]}/v1/disputes`)).json()) as { disputes: unknown[] }
    ).disputes;
    assert.deepEqual(disputes, [], 'an honest network: the late joiner disputes nothing');
    assert.ok(
      !lines.some((l) => l.includes('replay not bootstrapped')),
      'the bootstrap did not stop partway',
    );
    await waitUntil(
      `the chain to finalize epoch ${openNow}`,
      async () => Number((await getSettlementState(ctx)).lastFinalizedEpoch) >= openNow,
      300_000,
    );
  } finally {
    await Promise.all(children.reverse().map((c) => c.stop(10_000)));
    proxy?.close();
    await anvil.stop();
    await cleanup();
  }
});
