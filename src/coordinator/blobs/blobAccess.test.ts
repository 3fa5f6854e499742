import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signBlobAuth } from '../../protocol/eip712.ts';
import { openStore } from '../store/openStore.ts';
import { createBlobAccess } from './blobAccess.ts';

test('a staked provider uploads free of quota; an unstaked provider key and a client without escrow do not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-access-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const staked = privateKeyToAccount(generatePrivateKey());
    const unstaked = privateKeyToAccount(generatePrivateKey());
    const client = privateKeyToAccount(generatePrivateKey());
    for (const p of [staked, unstaked])
      await store.db
        .insertInto('providers')
        .values({
          address: p.address.toLowerCase(),
          hardware: '{}',
          slots: 1,
          region: 'eu',
          agent_version: 'test',
          connected: 1,
          first_seen: 0,
          last_seen: 0,
          tasks_completed: 0,
          tasks_failed: 0,
          reputation: null,
        })
        .execute();
    const access = createBlobAccess({
      store,
      db: store.db,
      chainId: 31337,
      quota: { bytes: 100, count: 1 },
      mayUpload: async (a) => a.toLowerCase() !== client.address.toLowerCase(),
      isStaked: (a) => a === staked.address.toLowerCase(),
    });
    const cid = 'ab'.repeat(32);
    const big = 10_000;
    const grant = await access.authorizeUpload(
      await signBlobAuth(staked, 31337, { cid, size: big }),
      cid,
      big,
    );
    await grant.done({ cid, size: big });
    await assert.rejects(
      access.authorizeUpload(await signBlobAuth(unstaked, 31337, { cid, size: big }), cid, big),
      { code: 'PLX_BLOB_QUOTA_EXCEEDED' },
    );
    await assert.rejects(
      access.authorizeUpload(await signBlobAuth(client, 31337, { cid, size: 10 }), cid, 10),
      { code: 'PLX_BLOB_FORBIDDEN' },
    );
    // Uploads in flight count: a second one while the first is under way exceeds a count of 1.
    const first = await access.authorizeUpload(
      await signBlobAuth(unstaked, 31337, { cid, size: 10 }),
      cid,
      10,
    );
    const other = 'cd'.repeat(32);
    await assert.rejects(
      access.authorizeUpload(await signBlobAuth(unstaked, 31337, { cid: other, size: 10 }), other, 10),
      { code: 'PLX_BLOB_QUOTA_EXCEEDED' },
    );
    await first.done();
    // Two uploads started together (neither awaited before the other begins): the quota check
    // reads the database between them, yet only one of the two fits a count of 1.
    const [a, b] = ['ef'.repeat(32), '12'.repeat(32)];
    const [ha, hb] = [
      await signBlobAuth(unstaked, 31337, { cid: a, size: 10 }),
      await signBlobAuth(unstaked, 31337, { cid: b, size: 10 }),
    ];
    const raced = await Promise.allSettled([
      access.authorizeUpload(ha, a, 10),
      access.authorizeUpload(hb, b, 10),
    ]);
    assert.equal(
      raced.filter((r) => r.status === 'fulfilled').length,
      1,
      'exactly one racing upload is let in',
    );
    const refused = raced.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal(refused.reason.code, 'PLX_BLOB_QUOTA_EXCEEDED');
    // A refused upload leaves no reservation behind: once the admitted one ends, another fits.
    for (const r of raced) if (r.status === 'fulfilled') await r.value.done();
    const after = await access.authorizeUpload(
      await signBlobAuth(unstaked, 31337, { cid: a, size: 10 }),
      a,
      10,
    );
    await after.done();
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
