/**
 * Blobs between two replicas on one PostgreSQL database with no shared folder (sharedBlobs.ts):
 * a blob stored through one replica's blob store is read whole, into a buffer, and as a stream
 * through the other's, which has its own blob folder; a tiny blob kept in its row (`putBytes`)
 * is read from the row, with no chunks. With CI=true an unreachable PostgreSQL fails.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createBlobStore } from '../src/coordinator/blobs/createBlobStore.ts';
import { sharedBlobs } from '../src/coordinator/blobs/sharedBlobs.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { tempDir } from './helpers/fixtures.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const skip = await postgresSkip();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('a blob stored through one replica is read through another with its own folder', { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const a = await openStore({ url: database.url });
  const b = await openStore({ url: database.url });
  try {
    const storeA = await createBlobStore({ dir: join(dir, 'a'), db: a.db, shared: sharedBlobs(a.db) });
    const storeB = await createBlobStore({ dir: join(dir, 'b'), db: b.db, shared: sharedBlobs(b.db) });
    // Three chunks (the last one short) and a tiny one.
    const big = randomBytes(2 * 1024 * 1024 + 12_345);
    const small = Buffer.from('hello replicas');
    const putBig = await storeA.put(Readable.from([big.subarray(0, 1_000_000), big.subarray(1_000_000)]), {
      maxBytes: 10 * 1024 * 1024,
    });
    const putSmall = await storeA.put(Readable.from([small]), { maxBytes: 1024 });
    assert.equal(putBig.cid, createHash('sha256').update(big).digest('hex'));
    assert.equal(existsSync(storeB.pathOf(putBig.cid)), false, 'replica B has no file of its own yet');

    assert.equal(await storeB.size(putBig.cid), big.length);
    assert.ok(
      Buffer.from(await storeB.read(putBig.cid)).equals(big),
      'Buffer.from(await storeB.read(putBig.cid)).equals(big)',
    );
    const into = new Uint8Array(small.length);
    await storeB.readInto(putSmall.cid, into);
    assert.ok(Buffer.from(into).equals(small), 'Buffer.from(into).equals(small)');
    const { stream, size } = await storeB.openRead(putBig.cid);
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    assert.equal(size, big.length);
    assert.ok(Buffer.concat(parts).equals(big), 'Buffer.concat(parts).equals(big)');
    // Storing the same bytes again through B changes nothing (the chunks are there already).
    await storeB.put(Readable.from([small]), { maxBytes: 1024 });
    const chunks = await a.db
      .selectFrom('blob_chunks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(chunks.n), 3 + 1);
  } finally {
    await a.close();
    await b.close();
    await database.drop();
    await cleanup();
  }
});

test('a tiny blob put through one PostgreSQL replica is read through another with its own folder', {
  skip,
}, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const a = await openStore({ url: database.url });
  const b = await openStore({ url: database.url });
  try {
    const storeA = await createBlobStore({ dir: join(dir, 'a'), db: a.db, shared: sharedBlobs(a.db) });
    const storeB = await createBlobStore({ dir: join(dir, 'b'), db: b.db, shared: sharedBlobs(b.db) });
    const bytes = Buffer.from('an output sent inside a result');
    const cid = sha(bytes);
    await storeA.putBytes(bytes, cid);
    assert.equal(existsSync(storeA.pathOf(cid)), false, 'no file on replica A');
    assert.equal(await storeB.size(cid), bytes.length);
    assert.ok(Buffer.from(await storeB.read(cid)).equals(bytes), 'replica B reads it from the row');
    const { stream } = await storeB.openRead(cid);
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    assert.ok(Buffer.concat(parts).equals(bytes), 'and streams it');
    const chunks = await a.db
      .selectFrom('blob_chunks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('cid', '=', cid)
      .executeTakeFirstOrThrow();
    assert.equal(Number(chunks.n), 0, 'no chunks: the row is the shared copy');
    // A file-backed upload of other bytes still goes through the chunks.
    const other = Buffer.from('uploaded as a file');
    await storeA.put(Readable.from([other]), { maxBytes: 1024 });
    assert.ok(
      Buffer.from(await storeB.read(sha(other))).equals(other),
      'a file-backed blob still reads through',
    );
  } finally {
    await a.close();
    await b.close();
    await database.drop();
    await cleanup();
  }
});
