// GET /v1/epochs/:e/claim is public: it must not sign EIP-712 on every request (security review
// 2026-12-07). One signature per (epoch, evidence hash), the same bytes a fresh one would be.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import type { Kysely } from 'kysely';
import type { LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { claimSignatureProblem, signEpochClaim } from '../../protocol/claimSignature.ts';
import type { Database } from '../store/schema.ts';
import { evidenceRoutes } from './evidenceRoutes.ts';

const hashA = `0x${'aa'.repeat(32)}` as const;
const hashB = `0x${'bb'.repeat(32)}` as const;

/** A database with the `epochs` rows the claim route reads (only the calls it makes). */
function fakeDb(rows: Map<number, { evidenceHash: string }>) {
  return {
    selectFrom: () => {
      let epoch = -1;
      const q = {
        select: () => q,
        where: (_c: string, _op: string, v: number) => {
          epoch = v;
          return q;
        },
        executeTakeFirst: async () => {
          const r = rows.get(epoch);
          return r
            ? { epoch, status: 'closed', payload: JSON.stringify(r), tree: null, signatures: null }
            : undefined;
        },
      };
      return q;
    },
  } as unknown as Kysely<Database>;
}

test('the claim route signs once per epoch and evidence hash, and the cached signature is valid', async () => {
  const key = privateKeyToAccount(generatePrivateKey());
  let signings = 0;
  const account = {
    ...key,
    signTypedData: (async (args: Parameters<LocalAccount['signTypedData']>[0]) => {
      signings++;
      return key.signTypedData(args);
    }) as LocalAccount['signTypedData'],
  } as LocalAccount;
  const target = { chainId: 31337, settlement: `0x${'12'.repeat(20)}` as const };
  const rows = new Map([
    [4, { evidenceHash: hashA }],
    [5, { evidenceHash: hashA }],
  ]);
  const app = Fastify();
  await app.register(evidenceRoutes({ db: fakeDb(rows), claimSigner: { account, target } }));
  const claim = async (epoch: number) => {
    const res = await app.inject({ method: 'GET', url: `/v1/epochs/${epoch}/claim` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { coordinator: { signer: string; signature: string } };
  };
  // 20 requests at once and 20 after: one signing for epoch 4.
  const first = await Promise.all(Array.from({ length: 20 }, () => claim(4)));
  for (let i = 0; i < 20; i++) await claim(4);
  assert.equal(signings, 1, 'epoch 4 signed once');
  const sig = first[0]!.coordinator;
  assert.ok(
    first.every((c) => c.coordinator.signature === sig.signature),
    'every answer carries the same signature',
  );
  assert.deepEqual(sig, await signEpochClaim(key, target, 4, hashA), 'the bytes a fresh signing gives');
  assert.equal(await claimSignatureProblem(sig, key.address, target, 4, hashA), null);
  // Another epoch with the same hash, and a new hash for an epoch: each signs once more.
  await claim(5);
  assert.equal(signings, 2, 'epoch 5 is its own claim');
  rows.set(4, { evidenceHash: hashB });
  const rehashed = await claim(4);
  assert.equal(signings, 3, 'a new evidence hash is signed');
  assert.equal(await claimSignatureProblem(rehashed.coordinator, key.address, target, 4, hashB), null);
  await app.close();
});
