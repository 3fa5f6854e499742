/**
 * Trusted providers for process tests. Under "no fault without ground truth"
 * (docs/verification.md) untrusted providers that disagree fault nobody: a verdict needs a
 * provider trusted now. A test network stands in for genesis operators by writing a provider's
 * record to the store before it first connects (the coordinator keeps a stored reputation on
 * connect).
 */
import { join } from 'node:path';
import { openStore, type Store } from '../../src/coordinator/store/openStore.ts';
import { type NodeChild, spawnPlexus } from '../../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD, type Devnet } from '../../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../../src/logger.ts';
import type { HardwareClaim } from '../../src/protocol/schemas.ts';

type Db = Store['db'];

/** What a provider's record holds before its first connection: a CPU, no GPU. */
const PLACEHOLDER_HARDWARE: HardwareClaim = {
  cpuModel: 'unknown',
  cpuCores: 1,
  memoryBytes: 0,
  gpus: [],
  executionProviders: ['cpu'],
};

const quiet = createLogger('test', { level: 'silent' });

/** Writes a trusted record (40 valid results, no faults) for `address`, before it connects. */
export async function trustProvider(db: Db, address: string): Promise<void> {
  const t = Date.now();
  await db
    .insertInto('providers')
    .values({
      address: address.toLowerCase(),
      // A valid claim (the provider's own replaces it when it connects): settlement reads every
      // provider's hardware for the price classes, and an epoch may close before it connects.
      hardware: JSON.stringify(PLACEHOLDER_HARDWARE),
      slots: 1,
      region: 'unknown',
      agent_version: 'unknown',
      connected: 0,
      first_seen: t,
      last_seen: t,
      tasks_completed: 0,
      tasks_failed: 0,
      reputation: JSON.stringify({
        alpha: 40,
        beta: 1,
        consecutiveValid: 20,
        verifiedValid: 20,
        faults: 0,
        timeouts: 0,
        updatedAt: t,
      }),
    })
    .execute();
}

/**
 * Creates the keystore a provider process started with `--data-dir dataDir` will load, and
 * writes a trusted record for its address; returns the address (lower case).
 */
export async function trustProviderDir(db: Db, dataDir: string, password: string): Promise<string> {
  const account = await loadOrCreateKeystore(join(dataDir, 'key.json'), password, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: quiet,
  });
  await trustProvider(db, account.address);
  return account.address.toLowerCase();
}

type DevnetProviderOptions = {
  name: string;
  region: string;
  behaviour: string;
  trusted: boolean;
  print: (l: string) => void;
};

/**
 * Starts one more provider process on a devnet (`startDevnet`, data in `devnetDir`), staked on
 * chain like the devnet's own; `trusted`: its record is written to the devnet coordinator's store
 * (SQLite, `coordinator/plexus.db`) before it first connects. Returns its address (lower case).
 */
export async function startDevnetProvider(
  net: Devnet,
  devnetDir: string,
  opts: DevnetProviderOptions,
): Promise<{ child: NodeChild; address: string }> {
  const [started] = await startDevnetProviders(net, devnetDir, [opts]);
  return started!;
}

/**
 * {@link startDevnetProvider} for several providers: their keys, trusted records and stakes are made
 * one after another (the stakes are funded from the devnet treasury, one nonce at a time), then the
 * processes start side by side. If one fails to start, all are stopped.
 */
export async function startDevnetProviders(
  net: Devnet,
  devnetDir: string,
  list: DevnetProviderOptions[],
): Promise<{ child: NodeChild; address: string }[]> {
  for (const opts of list) {
    const pdir = join(devnetDir, opts.name);
    const keystore = join(pdir, 'key.json');
    if (opts.trusted) {
      const store = await openStore({ path: join(devnetDir, 'coordinator', 'plexus.db') });
      try {
        await trustProviderDir(store.db, pdir, DEVNET_PASSWORD);
      } finally {
        await store.close();
      }
    } else {
      await loadOrCreateKeystore(keystore, DEVNET_PASSWORD, {
        scrypt: { n: 1024, r: 8, p: 1 },
        logger: quiet,
      });
    }
    // Staked on chain like any provider: the coordinator gives work only to providers active there.
    await net.registerProvider(keystore, opts.region);
  }
  const children = list.map((opts) =>
    spawnPlexus(
      opts.name,
      [
        'provider',
        'start',
        '--coordinator',
        net.coordinatorUrl,
        '--data-dir',
        join(devnetDir, opts.name),
        '--region',
        opts.region,
        '--behaviour',
        opts.behaviour,
      ],
      { env: { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'warn' }, print: opts.print },
    ),
  );
  try {
    return await Promise.all(
      children.map(async (child) => {
        const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 120_000);
        return { child, address: address.toLowerCase() };
      }),
    );
  } catch (err) {
    await Promise.all(children.map((c) => c.stop(5000)));
    throw err;
  }
}
