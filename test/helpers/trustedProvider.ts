/**
 * Trusted providers for process tests. Under "no fault without ground truth"
 * (docs/verification.md) untrusted providers that disagree fault nobody: a verdict needs a
 * provider trusted now. A test network stands in for genesis operators by writing a provider's
 * record to the store before it first connects (the coordinator keeps a stored reputation on
 * connect).
 */
import { join } from 'node:path';
import type { testCoordinator } from './fixtures.ts';
import { loadOrCreateKeystore } from '../../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../../src/logger.ts';

type Db = Awaited<ReturnType<typeof testCoordinator>>['store']['db'];

const quiet = createLogger('test', { level: 'silent' });

/** Writes a trusted record (40 valid results, no faults) for `address`, before it connects. */
export async function trustProvider(db: Db, address: string): Promise<void> {
  const t = Date.now();
  await db
    .insertInto('providers')
    .values({
      address: address.toLowerCase(),
      hardware: '{}',
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
