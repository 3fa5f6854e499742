/**
 * A validator follows a network's coordinator replicas, as real OS processes on a real anvil: two
 * `plexus coordinator` replicas on one PostgreSQL database (both settling to the same contracts,
 * one of them the settlement leader), and two `plexus validator start --coordinator A,B`
 * processes (threshold 2). Replica A, the one the validators follow, is killed (SIGKILL): each
 * validator moves to B, keeps verifying and signing the epochs closed after the kill, and the
 * chain keeps finalizing them. With CI=true an unreachable PostgreSQL fails this test instead of
 * skipping it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import type { NodeChild } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import type { EpochList } from '../src/protocol/http/market.ts';
import { tempDir } from './helpers/fixtures.ts';
import { freePort, waitUntil } from './helpers/net.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';
import { startReplica } from './helpers/replicas.ts';
import { deploySettlementChain } from './helpers/settlementChain.ts';
import { spawnValidator } from './helpers/spawnValidator.ts';

const skip = await postgresSkip();
const EPOCH_SECONDS = 4;
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};

type Health = { following: { coordinator: string; replica: string }[] };
const health = async (v: string) => (await (await fetch(`${v}/health`)).json()) as Health;
/** The epochs validator `v` signed, of those listed (its `GET /v1/epochs/:epoch/signature`). */
async function signedBy(v: string, epochs: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const e of epochs) if ((await fetch(`${v}/v1/epochs/${e}/signature`)).status === 200) out.push(e);
  return out;
}

test('a validator given both replicas keeps signing epochs when the one it follows is killed', {
  skip,
  timeout: 900_000,
}, async () => {
  const { dir, cleanup } = await tempDir('plexus-validator-failover-');
  const database = await createTestDatabase();
  const children: NodeChild[] = [];
  // The replicas read the submitter keystore's password from the environment they inherit.
  process.env.PLEXUS_KEYSTORE_PASSWORD = DEVNET_PASSWORD;
  const { anvil, ctx, validatorKeystores, submitterKeystore } = await deploySettlementChain(
    dir,
    EPOCH_SECONDS,
    {},
  );
  try {
    const validatorUrls: string[] = [];
    for (let i = 0; i < 2; i++) validatorUrls.push(`http://127.0.0.1:${await freePort()}`);
    const chainArgs = ['--deployment', join(dir, 'deployment.json'), '--rpc-url', anvil.rpcUrl];
    chainArgs.push('--epoch-seconds', String(EPOCH_SECONDS), '--validator-url', ...validatorUrls);
    chainArgs.push('--submitter-keystore', submitterKeystore);
    const a = await startReplica('a', dir, database.url, chainArgs);
    children.push(a.child);
    const b = await startReplica('b', dir, database.url, chainArgs);
    children.push(b.child);
    for (const [i, url] of validatorUrls.entries()) {
      const v = spawnValidator(i, {
        keystore: validatorKeystores[i]!,
        dir,
        coordinator: `${a.url},${b.url}`,
        url,
        env,
        print,
      });
      children.push(v);
      await v.waitFor('PLEXUS_VALIDATOR_READY', 120_000);
    }
    const epochsOn = async (url: string) =>
      ((await (await fetch(`${url}/v1/epochs`)).json()) as EpochList).epochs;

    // Before the kill: both validators follow A and have signed at least one epoch through it.
    await waitUntil(
      'both validators to sign an epoch through replica A',
      async () => {
        const closed = (await epochsOn(a.url)).filter((e) => e.status !== 'open').map((e) => e.epoch);
        for (const v of validatorUrls) if ((await signedBy(v, closed)).length === 0) return false;
        return true;
      },
      300_000,
    );
    for (const v of validatorUrls)
      assert.deepEqual((await health(v)).following, [{ coordinator: `${a.url},${b.url}`, replica: a.url }]);

    // A dies with no goodbye. Every epoch from the one open now on is closed after the kill.
    const openAtKill = Math.max(...(await epochsOn(a.url)).map((e) => e.epoch));
    a.child.proc.kill('SIGKILL');

    // Each validator moves to B and signs epochs it could only have read from B; the chain
    // finalizes them (B, the leader now if A was, collects the signatures and submits).
    const target = openAtKill + 2;
    await waitUntil(
      `both validators to sign epoch ${target} and later through replica B`,
      async () => {
        const closed = (await epochsOn(b.url)).filter((e) => e.status !== 'open').map((e) => e.epoch);
        if (!closed.includes(target)) return false;
        for (const v of validatorUrls) if (!(await signedBy(v, [target])).length) return false;
        return true;
      },
      300_000,
    );
    for (const v of validatorUrls) {
      assert.equal((await health(v)).following[0]?.replica, b.url, 'the validator moved to replica B');
      const metrics = await (await fetch(`${v}/metrics`)).text();
      assert.match(metrics, /^plexus_validator_replica_switches_total [1-9]/m, 'the move is counted');
      const disputes = ((await (await fetch(`${v}/v1/disputes`)).json()) as { disputes: unknown[] }).disputes;
      assert.deepEqual(disputes, [], 'an honest network: no dispute across the failover');
    }
    await waitUntil(
      `the chain to finalize epoch ${target}`,
      async () => Number((await getSettlementState(ctx)).lastFinalizedEpoch) >= target,
      300_000,
    );
  } finally {
    await Promise.all(children.reverse().map((c) => c.stop(10_000)));
    await anvil.stop();
    await database.drop();
    await cleanup();
  }
});
