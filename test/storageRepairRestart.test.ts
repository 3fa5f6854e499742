/**
 * The storage network across a coordinator crash mid-repair (issue 19): an object (K=2 M=1) on 3
 * of 5 providers loses a holder (SIGKILL); once the offline grace has passed it is faulted and the
 * coordinator orders the repair. The moment the coordinator logs "repair ordered" it is SIGKILLed
 * and started again on the same store and port. Nothing is lost and nothing is stored twice: the
 * object ends with 3 healthy pieces on 3 distinct live providers, exactly 3 piece files on the
 * providers (a repairer whose order the restarted coordinator forgot drops its copy), the term held
 * once, only the killed holder faulted, and `get` returns identical bytes.
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
const env = { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'warn' };
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const PROVIDERS = 5;
/** Short windows so the loss is found soon; a deadline a loaded machine can meet. */
const WINDOW_MS = 10_000;
const OFFLINE_GRACE_MS = 60_000;

let dir: string;
let cleanup: () => Promise<void>;
let port: number;
let url: string;
let coordinator: NodeChild;
const providers = new Map<string, NodeChild>();
const dirOf = new Map<string, string>();
/** Resolves when the running coordinator logs a repair order. */
let repairOrdered: () => void = () => {};

function startCoordinator(): NodeChild {
  const args = ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')];
  args.push('--storage-window-ms', String(WINDOW_MS), '--storage-deadline-ms', '5000');
  // The killed holder is faulted `offline` after this; the live ones have as long to reconnect
  // after the restart (their backoff is capped at 30 s) before a window could fault them.
  args.push('--storage-offline-grace-ms', String(OFFLINE_GRACE_MS));
  return spawnPlexus('coordinator', args, {
    env: { ...env, PLEXUS_LOG_LEVEL: 'info' },
    showLevel: 30,
    print: (l) => {
      if (l.includes('"repair ordered"')) repairOrdered();
      print(l);
    },
  });
}

const online = async () =>
  ((await (await fetch(`${url}/v1/health`)).json()) as { providersOnline: number }).providersOnline;

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-storage-repair-restart-'));
  port = await freePort();
  coordinator = startCoordinator();
  url = (await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000)).url;
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
    const { address } = await p.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 300_000);
    providers.set(address.toLowerCase(), p);
    dirOf.set(address.toLowerCase(), pdir);
  });
  await Promise.all(started);
});

after(async () => {
  await Promise.all([...providers.values()].map((p) => p.stop(5000)));
  await coordinator?.stop(5000);
  await cleanup?.();
});

async function pieceFiles(): Promise<number> {
  let n = 0;
  for (const a of providers.keys()) {
    const files = await readdir(join(dirOf.get(a)!, 'storage')).catch(() => [] as string[]);
    n += files.filter((f) => f.endsWith('.piece')).length;
  }
  return n;
}

test('coordinator killed mid-repair and restarted: nothing lost, nothing stored twice', {
  timeout: 900_000,
}, async (t) => {
  await waitUntil(`${PROVIDERS} providers online`, async () => (await online()) === PROVIDERS, 300_000);
  const store = createStorageClient({ url, account: privateKeyToAccount(generatePrivateKey()) });
  const file = new Uint8Array(randomBytes(4 * 1024 * 1024 + 3));
  const cid = createHash('sha256').update(file).digest('hex');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await store.put(file, { dataPieces: 2, parityPieces: 1, timeoutMs: 300_000 });
      break;
    } catch (err) {
      if (!String(err).includes('PLX_STORAGE_NO_CAPACITY') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  let s: StoredObjectView = await store.status(cid);
  assert.equal(s.healthy, 3);
  const killed = s.pieces[0]!.holder!.toLowerCase();
  const ordered = new Promise<void>((resolve) => {
    repairOrdered = resolve;
  });
  providers.get(killed)!.proc.kill('SIGKILL');
  await providers.get(killed)!.exited;
  providers.delete(killed);

  // The next window faults the dead holder and orders the repair: kill the coordinator right then.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    ordered,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('no repair ordered')),
        6 * WINDOW_MS + OFFLINE_GRACE_MS + 120_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  coordinator.proc.kill('SIGKILL');
  await coordinator.exited;
  const atCrash = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
  const statusAtCrash = (
    await storageDb(atCrash.db).selectFrom('storage_pieces').select('status').execute()
  ).map((r) => r.status);
  await atCrash.close();
  t.diagnostic(`pieces at the crash: ${statusAtCrash.join(', ')}`);

  coordinator = startCoordinator();
  await coordinator.waitFor('PLEXUS_COORDINATOR_READY', 120_000);
  await waitUntil('providers to reconnect', async () => (await online()) === PROVIDERS - 1, 300_000);
  await waitUntil(
    'the repair to finish after the restart',
    async () => {
      s = await store.status(cid);
      return s.healthy === 3 && s.pieces.every((p) => p.status === 'healthy' && p.holder !== killed);
    },
    8 * WINDOW_MS + OFFLINE_GRACE_MS + 120_000,
  ).catch((err: Error) => {
    // The state it stopped in, so a failure on a busy machine says what was left undone.
    const pieces = s.pieces.map((p) => `${p.status}@${p.holder?.slice(0, 8)}`).join(', ');
    const faults = s.faults.map((f) => `${f.provider.slice(0, 8)}:${f.reason}`).join(', ');
    throw new Error(`${err.message}; pieces ${pieces}; faults ${faults}; killed ${killed.slice(0, 8)}`);
  });
  const holders = s.pieces.map((p) => p.holder!.toLowerCase());
  assert.equal(new Set(holders).size, 3, 'every piece on a distinct holder');
  for (const h of holders) assert.ok(providers.has(h), 'held by a live provider');
  assert.deepEqual(
    new Set(s.faults.map((f) => f.provider.toLowerCase())),
    new Set([killed]),
    'only the killed holder was faulted',
  );
  assert.ok(Buffer.from(await store.get(cid)).equals(Buffer.from(file)), 'identical bytes');
  // Nothing stored twice: a repairer whose order was forgotten drops its copy (on its report or reconnect).
  await waitUntil(
    'exactly 3 piece files on the live providers',
    async () => (await pieceFiles()) === 3,
    120_000,
  );
  const after = await openStore({ path: join(dir, 'coordinator', 'plexus.db'), readonly: true });
  try {
    const holds = await after.db
      .selectFrom('ledger_entries')
      .select('ref')
      .where('kind', '=', 'storage-hold')
      .execute();
    assert.equal(holds.length, 1, 'the term is held once');
    // The repair is paid at most once (its order's ref), to a live provider, never the dead holder.
    const repairs = await after.db
      .selectFrom('ledger_entries')
      .select('memo')
      .where('kind', '=', 'storage-repair')
      .execute();
    assert.ok(repairs.length <= 1, `the repair paid at most once (${repairs.length})`);
    for (const r of repairs) {
      const repairer = (JSON.parse(r.memo) as { repairer: string }).repairer;
      assert.ok(providers.has(repairer) && repairer !== killed, 'paid to a live provider');
    }
  } finally {
    await after.close();
  }
});
