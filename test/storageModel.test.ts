/**
 * A compute job whose model is kept on the storage network (issue 19: `plexus job submit --model
 * <cid>`), with real processes: a coordinator and 3 providers that offer disk and run tasks. The
 * client stores an ONNX model with K=2 M=1, then submits a job naming only its content id through
 * the CLI (nothing uploaded). The provider that runs the task reads the model's pieces from the
 * holders through a read grant its lease allows, checks each against its root, decodes, and runs
 * it: the job completes, the agent logs the pieces and servers it read, and the coordinator's relay
 * counted the bytes it was served; the provider receipts each piece to its server, who redeems it,
 * charged to the job's client. `job quote` / `--dry-run` read the stored model's size from the
 * network. A cid that is neither a file nor a stored object is refused, and the object's status
 * (holders, escrow) answers its owner only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createStorageClient } from '../src/client/createStorageClient.ts';
import { STORAGE_DEFAULTS } from '../src/coordinator/storage/constants.ts';
import { storageDb } from '../src/coordinator/storage/storageTables.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { type NodeChild, PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';
import { freePort, waitUntil } from './helpers/net.ts';

const run = promisify(execFile);
const quiet = createLogger('test', { level: 'silent' });
const env = { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'info' };
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const PROVIDERS = 3;

let dir: string;
let cleanup: () => Promise<void>;
let url: string;
let coordinator: NodeChild;
const providers: NodeChild[] = [];
/** Every log line of the providers (info and above), by provider index. */
const logs: string[][] = [];

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-storage-model-'));
  const port = await freePort();
  const args = ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')];
  args.push('--storage-window-ms', '600000');
  coordinator = spawnPlexus('coordinator', args, { env: { ...env, PLEXUS_LOG_LEVEL: 'warn' }, print });
  url = (await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000)).url;
  // Started together: each waits on its own process, not on the others'.
  const started = Array.from({ length: PROVIDERS }, async (_, i) => {
    const pdir = join(dir, `provider-${i}`);
    await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const pargs = ['provider', 'start', '--coordinator', url, '--data-dir', pdir, '--blender', 'none'];
    pargs.push('--cores', '1', '--region', `r${i}`, '--storage-gib', '0.05');
    // Two of the three serve pieces directly on a reachable address; the third only through the relay.
    if (i < 2) pargs.push('--serve-address', `127.0.0.1:${await freePort()}`);
    logs[i] = [];
    const p = spawnPlexus(`provider-${i}`, pargs, {
      env,
      showLevel: 30,
      print: (l) => {
        logs[i]!.push(l);
        print(l);
      },
    });
    providers.push(p);
    await p.waitFor('PLEXUS_PROVIDER_STARTED', 300_000);
  });
  await Promise.all(started);
});

after(async () => {
  await Promise.all(providers.map((p) => p.stop(5000)));
  await coordinator?.stop(5000);
  await cleanup?.();
});

test('job submit --model <cid>: the provider reads the model from its holders and runs it', {
  timeout: 900_000,
}, async (t) => {
  const online = async () =>
    ((await (await fetch(`${url}/v1/health`)).json()) as { providersOnline: number }).providersOnline;
  await waitUntil(`${PROVIDERS} providers online`, async () => (await online()) === PROVIDERS, 300_000);
  const keystore = join(dir, 'client.json');
  const account = await loadOrCreateKeystore(keystore, DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
    role: 'client',
  });
  const model = new Uint8Array(await readFile(ppocrDetectionModelPath()));
  const cid = createHash('sha256').update(model).digest('hex');
  const store = createStorageClient({ url, account });
  const put = await store.put(model, { dataPieces: 2, parityPieces: 1, timeoutMs: 600_000 });
  assert.equal(put.status, 'stored');
  // The object's metadata (holders, escrow, client) is its owner's only: a signed request.
  assert.equal((await store.status(cid)).client, account.address.toLowerCase());
  const stranger = createStorageClient({ url, account: privateKeyToAccount(generatePrivateKey()) });
  await assert.rejects(stranger.status(cid), { code: 'PLX_NOT_FOUND' });
  assert.equal((await fetch(`${url}/v1/storage/objects/${cid}`)).status, 404, 'no public metadata route');
  // The owner reads it back: at least one of the K data pieces comes from a holder's own server.
  assert.deepEqual(await store.get(cid), model, 'store get returns identical bytes');
  assert.ok(
    store.directPieces() >= 1,
    `direct pieces: ${store.directPieces()} (a data piece is on a direct server)`,
  );
  const input = join(dir, 'input.safetensors');
  await writeFile(input, encodeSafetensors(ocrInput(7)));

  const cli = (args: string[]) =>
    run(process.execPath, [PLEXUS_BIN, ...args], {
      env: { ...process.env, ...env, PLEXUS_LOG_LEVEL: 'warn' },
      timeout: 600_000,
    });
  // The quote (and --dry-run) read the stored model's size from the network: no file needed.
  type Quoted = {
    tasks: number;
    model?: { cid: string; bytes: number; dataPieces: number; readCostPerProvider: string };
  };
  const quoteArgs = [
    '--coordinator',
    url,
    '--keystore',
    keystore,
    '--json',
    '--model',
    cid,
    '--input',
    input,
  ];
  const quoted = JSON.parse((await cli(['job', 'quote', ...quoteArgs])).stdout.trim()) as Quoted;
  assert.equal(quoted.tasks, 1);
  assert.equal(quoted.model?.cid, cid);
  assert.equal(quoted.model?.bytes, model.length, "the quote read the model's size from the network");
  assert.equal(quoted.model?.dataPieces, 2);
  assert.ok(BigInt(quoted.model!.readCostPerProvider) > 0n, 'BigInt(quoted.model!.readCostPerProvider) > 0n');
  const dry = JSON.parse((await cli(['job', 'submit', '--dry-run', ...quoteArgs])).stdout.trim()) as Quoted;
  assert.deepEqual(dry.model, quoted.model, '--dry-run gives the same quote');
  await assert.rejects(
    cli(['job', 'quote', ...quoteArgs.slice(0, -4), '--model', 'cd'.repeat(32), '--input', input]),
    (e: { stderr?: string }) => String(e.stderr).includes('PLX_NOT_FOUND'),
  );

  const base = ['job', 'submit', '--coordinator', url, '--keystore', keystore, '--json'];
  const { stdout } = await cli([...base, '--model', cid, '--input', input]);
  const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { jobId: string; status: string };
  assert.equal(out.status, 'completed');

  // The provider that ran it read the model from the network: K pieces, from their holders.
  const fetched = logs.flatMap((lines, i) =>
    lines
      .filter((l) => l.includes('model fetched from the storage network'))
      .map((l) => ({
        i,
        rec: JSON.parse(l.slice(l.indexOf('{'))) as {
          cid: string;
          pieces: number;
          servers: string[];
          direct?: number;
        },
      })),
  );
  assert.ok(fetched.length >= 1, 'a provider read the model from the storage network');
  for (const f of fetched) {
    assert.equal(f.rec.cid, cid);
    assert.ok((f.rec.direct ?? 0) >= 1, 'a data piece of each model read came from a direct server');
    assert.equal(f.rec.pieces, 2, 'K pieces of the one segment');
    assert.ok(f.rec.servers.length >= 1, 'f.rec.servers.length >= 1');
  }
  assert.ok(
    !logs.flat().some((l) => l.includes('model not readable from the storage network')),
    'no provider fell back to the coordinator',
  );
  // The relay counted bytes served to the reading provider(s), by holders.
  let servedBytes = 0n;
  const db = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
  try {
    const served = await storageDb(db.db)
      .selectFrom('storage_receipts')
      .selectAll()
      .where('object_id', '=', cid)
      .execute();
    const providerReads = served.filter((r) => r.reader !== account.address.toLowerCase());
    assert.ok(providerReads.length >= 1, 'pieces were served to a provider');
    servedBytes = providerReads.reduce((n, r) => n + BigInt(r.served_bytes), 0n);
    assert.ok(servedBytes >= BigInt(model.length), 'at least the model size was read from holders');
  } finally {
    await db.close();
  }
  // The reading provider receipted every piece to its server; the servers redeemed them, paid by
  // the model's owner (the job's client), never above what the relay counted.
  const owner = account.address.toLowerCase();
  const modelReads = async () => {
    const s = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
    try {
      const redeemed = await storageDb(s.db)
        .selectFrom('storage_redemptions')
        .selectAll()
        .where('object_id', '=', cid)
        .where('reader', '!=', owner)
        .execute();
      const entries = await s.db
        .selectFrom('ledger_entries as e')
        .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
        .select(['e.memo', 'p.account', 'p.amount'])
        .where('e.kind', '=', 'storage-retrieval')
        .execute();
      return { redeemed, entries };
    } finally {
      await s.close();
    }
  };
  await waitUntil(
    'model-read receipts redeemed',
    async () => (await modelReads()).redeemed.some((r) => r.ok === 1),
    120_000,
  );
  const { redeemed, entries } = await modelReads();
  for (const r of redeemed) assert.deepEqual([r.ok, r.reason], [1, null], 'every model-read receipt pays');
  const paid = redeemed.reduce((n, r) => n + BigInt(r.amount), 0n);
  const charged = entries
    .filter((e) => (JSON.parse(e.memo) as { readFor?: string }).readFor === 'job-model')
    .filter((e) => e.account === `client:${owner}:unsettled`)
    .reduce((n, e) => n + BigInt(e.amount), 0n);
  t.diagnostic(`model reads paid to holders: ${paid} base units, charged to the job's client: ${charged}`);
  assert.ok(paid > 0n, 'paid > 0n');
  assert.equal(charged, paid, "the job's client pays its providers' model reads");
  // Honest counting (docs/storage.md, "What a read moves and pays"): each read paid for exactly its
  // K pieces, and the relay counted no more than that plus M (here 1) hedged pieces per read.
  const pieceBytes = BigInt(Math.ceil(model.length / 2));
  const paidBytes = paid / STORAGE_DEFAULTS.pricePerByte;
  t.diagnostic(
    `${fetched.length} model read(s): relay counted ${servedBytes} bytes, paid ${paidBytes} bytes, model ${model.length}`,
  );
  assert.equal(paidBytes % pieceBytes, 0n, 'whole pieces paid');
  assert.ok(paidBytes >= 2n * pieceBytes * BigInt(fetched.length), 'K pieces paid per read');
  assert.ok(
    servedBytes <= paidBytes + pieceBytes * BigInt(fetched.length),
    'the relay counted at most one piece per read beyond what was paid',
  );

  // A cid that is neither a file here nor an object on the network: refused before anything is sent.
  const missing = 'ab'.repeat(32);
  await assert.rejects(cli([...base, '--model', missing, '--input', input]), (e: { stderr?: string }) =>
    String(e.stderr).includes('PLX_NOT_FOUND'),
  );
});
