/**
 * The model-read reserve of a job (modelReadReserve.ts) against a real store: the client's stored
 * model reserves tasks × paid executions × reads per reader × coded bytes × price per byte, added
 * to the job's worst case; another client's object, a removed one and a plain blob reserve nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { worstCaseCost } from '../market/priceExecution.ts';
import { openStore } from '../store/openStore.ts';
import { STORAGE_DEFAULTS } from './constants.ts';
import { modelReadReserve } from './modelReadReserve.ts';
import { storageDb } from './storageTables.ts';

test("a job's model reads on the storage network are reserved with its worst case, only for the owner's object", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-model-reserve-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const owner = `0x${'aa'.repeat(20)}`;
    const model = 'cd'.repeat(32);
    // Two segments of K=2, M=1: pieces of 1,000 and 400 bytes, so 4,200 coded bytes.
    const manifest = {
      segments: [
        { pieceBytes: 1000, pieceRoots: ['r0', 'r1', 'r2'] },
        { pieceBytes: 400, pieceRoots: ['r3', 'r4', 'r5'] },
      ],
    };
    const row = (object_id: string, status: 'stored' | 'removed') => ({
      object_id,
      client: owner,
      object_bytes: 2800,
      data_pieces: 2,
      parity_pieces: 1,
      manifest: JSON.stringify(manifest),
      epochs: 1,
      price_per_gib_epoch: '1',
      escrow: '0',
      start_epoch: 0,
      status,
      created_at: 0,
      updated_at: 0,
      put_request: null,
    });
    await storageDb(store.db)
      .insertInto('storage_objects')
      .values([row(model, 'stored'), row('ef'.repeat(32), 'removed')])
      .execute();
    const policy = { kind: 'redundant' as const, k: 3 };
    const job = { model, client: owner.toUpperCase().replace('0X', '0x'), tasks: 10, policy };
    const reserve = await modelReadReserve(store.db, job);
    // 10 tasks × 5 paid executions (redundant k=3) × 2 reads × 4,200 bytes × price per byte.
    const expected =
      10n * 5n * BigInt(STORAGE_DEFAULTS.modelReadsPerReader) * 4200n * STORAGE_DEFAULTS.pricePerByte;
    assert.equal(reserve, expected, 'every possible reader, each up to its read limit');
    assert.ok(reserve > 0n, 'a stored model reserves something');
    const compute = { tasks: 10, policy, taskTimeoutSec: 60, maxPrice: 1000n };
    assert.equal(
      worstCaseCost({ ...compute, modelReads: reserve }),
      worstCaseCost(compute) + reserve,
      'the reserve is added to the compute worst case',
    );
    assert.equal(
      await modelReadReserve(store.db, { ...job, client: `0x${'bb'.repeat(20)}` }),
      0n,
      "another client's job cannot read the object: nothing reserved",
    );
    assert.equal(
      await modelReadReserve(store.db, { ...job, model: 'ef'.repeat(32) }),
      0n,
      'a removed object',
    );
    assert.equal(await modelReadReserve(store.db, { ...job, model: '12'.repeat(32) }), 0n, 'a plain blob');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
