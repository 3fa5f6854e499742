/**
 * Blob bytes in the shared PostgreSQL store, for coordinator replicas on different machines
 * (docs/scaling.md, "Blobs from any replica"): an upload's file is also written as `bytea` chunks
 * of `blob_chunks` before its `blobs` row exists, so any replica that sees the row can copy the
 * bytes into its own blob folder on first read, and from then on serves them from its file like
 * any other (streams, no database in the path).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/** Bytes per `blob_chunks` row (1 MiB: one INSERT per MiB, and a read holds one chunk at a time). */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

/** The blob store's link to the shared store (see createBlobStore's `shared` option). */
export type SharedBlobs = {
  /** Copies the complete file of blob `cid` (`size` bytes) into the database; idempotent. */
  store(cid: string, path: string, size: number): Promise<void>;
  /**
   * Writes blob `cid` (`size` bytes) from the database to `path` (through a temp file in
   * `tmpDir`), reading through `via` when given (a transaction the caller holds).
   */
  fetch(cid: string, size: number, path: string, tmpDir: string, via?: Kysely<Database>): Promise<void>;
};

/**
 * Blob chunks in the database behind `db` (a PostgreSQL store shared by replicas).
 *
 * @example const blobs = await createBlobStore({ dir, db, shared: sharedBlobs(db) });
 */
export function sharedBlobs(db: Kysely<Database>): SharedBlobs {
  return {
    async store(cid, path, size) {
      // Already there (the same bytes uploaded before, to this replica or another): nothing to do.
      const count = Math.ceil(size / BLOB_CHUNK_BYTES);
      const have = await db
        .selectFrom('blob_chunks')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('cid', '=', cid)
        .executeTakeFirst();
      if (Number(have?.n ?? 0) >= count) return;
      const fh = await open(path, 'r');
      try {
        for (let idx = 0; idx < count; idx++) {
          const n = Math.min(BLOB_CHUNK_BYTES, size - idx * BLOB_CHUNK_BYTES);
          const buf = Buffer.allocUnsafe(n);
          let at = 0;
          while (at < n) {
            const { bytesRead } = await fh.read(buf, at, n - at, idx * BLOB_CHUNK_BYTES + at);
            if (bytesRead === 0) throw new Error(`blob ${cid} file is shorter than ${size} bytes`);
            at += bytesRead;
          }
          await db
            .insertInto('blob_chunks')
            .values({ cid, idx, data: buf })
            .onConflict((oc) => oc.columns(['cid', 'idx']).doNothing())
            .execute();
        }
      } finally {
        await fh.close();
      }
    },
    async fetch(cid, size, path, tmpDir, via = db) {
      const tmp = join(tmpDir, randomBytes(12).toString('hex'));
      const fh = await open(tmp, 'w', 0o644);
      let done = false;
      try {
        const count = Math.ceil(size / BLOB_CHUNK_BYTES);
        let written = 0;
        for (let idx = 0; idx < count; idx++) {
          const row = await via
            .selectFrom('blob_chunks')
            .select('data')
            .where('cid', '=', cid)
            .where('idx', '=', idx)
            .executeTakeFirst();
          if (!row) throw new Error(`blob ${cid}: chunk ${idx} is missing from the shared store`);
          const data = row.data as Uint8Array;
          let at = 0;
          while (at < data.length) {
            const { bytesWritten } = await fh.write(data, at, data.length - at);
            at += bytesWritten;
          }
          written += data.length;
        }
        if (written !== size)
          throw new Error(`blob ${cid}: the shared store holds ${written} of ${size} bytes`);
        await fh.close();
        await rename(tmp, path);
        done = true;
      } finally {
        if (!done) {
          await fh.close().catch(() => {});
          await rm(tmp, { force: true });
        }
      }
    },
  };
}
