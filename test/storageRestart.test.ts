/**
 * The storage network across a coordinator crash (issue 19): a coordinator is SIGKILLed right
 * after it accepted a put (the holders still fetching their pieces) and started again on the same
 * store and port; the providers reconnect. Nothing is lost and nothing is stored twice: the object
 * becomes `stored` with every piece healthy on a distinct holder, each holder keeps exactly its
 * one piece, the term is held once in the ledger, and `get` returns identical bytes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createStorageClient, type StoredObjectView } from '../src/client/createStorageClient.ts';
import { storageDb } from '../src/coordinator/storage/storageTables.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { tempDir } from './helpers/fixtures.ts';
import { freePort, waitUntil } from './helpers/net.ts';

const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const PROVIDERS = 4;

let dir: string;
let cleanup: () => Promise<void>;
let port: number;
let url: string;
let coordinator: NodeChild;
const providers: NodeChild[] = [];

function startCoordinator(): NodeChild {
  const args = ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')];
  // Long windows: this test is about placement, not challenges.
  args.push('--storage-window-ms', '600000');
  return spawnPlexus('coordinator', args, { env, print });
}

const online = async () =>
  ((await (await fetch(`${url}/v1/health`)).json()) as { providersOnline: number }).providersOnline;

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-storage-restart-'));
  port = await freePort();
  coordinator = startCoordinator();
  url = (await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 60_000)).url;
  // Started together: each waits on its own process, not on the others'.
  const started = Array.from({ length: PROVIDERS }, async (_, i) => {
    const pdir = join(dir, `provider-${i}`);
    await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const args = ['provider', 'start', '--coordinator', url, '--data-dir', pdir, '--blender', 'none'];
    args.push('--cores', '1', '--region', `r${i % 2}`, '--storage-gib', '0.05');
    const p = spawnPlexus(`provider-${i}`, args, { env, print });
    providers.push(p);
    await p.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
  });
  await Promise.all(started);
});

after(async () => {
  await Promise.all(providers.map((p) => p.stop(5000)));
  await coordinator?.stop(5000);
  await cleanup?.();
});

test('coordinator killed mid-upload and restarted: nothing lost, nothing stored twice', {
  timeout: 900_000,
}, async (t) => {
  await waitUntil(`${PROVIDERS} providers online`, async () => (await online()) === PROVIDERS, 120_000);
  const store = createStorageClient({ url, account: privateKeyToAccount(generatePrivateKey()) });
  const file = new Uint8Array(randomBytes(6 * 1024 * 1024 + 7));
  let placing: { objectId: string; status: string } | undefined;
  const deadline = Date.now() + 60_000;
  while (!placing) {
    try {
      placing = await store.put(file, { dataPieces: 2, parityPieces: 2, wait: false });
    } catch (err) {
      if (!String(err).includes('PLX_STORAGE_NO_CAPACITY') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  // Accepted and coded; its holders were just ordered to fetch their pieces: kill it now.
  assert.equal(placing.status, 'placing');
  coordinator.proc.kill('SIGKILL');
  await coordinator.exited;
  const before = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
  const healthyAtCrash = (
    await storageDb(before.db).selectFrom('storage_pieces').select('status').execute()
  ).filter((r) => r.status === 'healthy').length;
  await before.close();

  coordinator = startCoordinator();
  await coordinator.waitFor('PLEXUS_COORDINATOR_READY', 60_000);
  await waitUntil('providers to reconnect', async () => (await online()) === PROVIDERS, 120_000);
  const cid = createHash('sha256').update(file).digest('hex');
  assert.equal(placing.objectId, cid);
  let s: StoredObjectView | undefined;
  await waitUntil(
    'the object to be stored after the restart',
    async () => {
      s = await store.status(cid);
      return s.status === 'stored';
    },
    300_000,
  );
  assert.ok(s, 's');
  assert.equal(s.healthy, 4);
  const holders = s.pieces.map((p) => p.holder);
  assert.equal(new Set(holders).size, 4, 'every piece on a distinct holder');
  assert.ok(Buffer.from(await store.get(cid)).equals(Buffer.from(file)), 'identical bytes');

  // Nothing stored twice: each provider keeps exactly the one piece it holds.
  let pieceFiles = 0;
  for (let i = 0; i < PROVIDERS; i++) {
    const files = await readdir(join(dir, `provider-${i}`, 'storage')).catch(() => [] as string[]);
    pieceFiles += files.filter((f) => f.endsWith('.piece')).length;
  }
  assert.equal(pieceFiles, 4, 'four piece files on the providers, one per piece');
  const after = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
  try {
    const holds = await after.db
      .selectFrom('ledger_entries')
      .select('ref')
      .where('kind', '=', 'storage-hold')
      .execute();
    assert.equal(holds.length, 1, 'the term is held once');
    // The staging copy is gone once every piece is placed.
    const staged = await readdir(join(dir, 'coordinator', 'storage-staging')).catch(() => [] as string[]);
    assert.deepEqual(staged, []);
  } finally {
    await after.close();
  }
  // How far the upload was when the coordinator died (0 to 3 of 4: mid-upload).
  t.diagnostic(`pieces healthy at the crash: ${healthyAtCrash} of 4`);
  assert.ok(healthyAtCrash < 4, 'the coordinator died before every piece was placed');
});
