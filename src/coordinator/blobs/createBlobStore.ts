import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Kysely } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import { type Cid, isCid } from '../../protocol/ids.ts';
import type { Database } from '../store/schema.ts';

export type BlobStore = {
  /**
   * Streams `body` to disk while hashing it, never holding it whole in memory. Refuses more than
   * `maxBytes` (PLX_PAYLOAD_TOO_LARGE) and, when `expectedCid` is given, bytes that hash to
   * something else (PLX_DIGEST_MISMATCH). Idempotent: storing the same bytes twice is a no-op.
   */
  put(body: Readable, opts: { maxBytes: number; expectedCid?: Cid }): Promise<{ cid: Cid; size: number }>;
  has(cid: Cid): Promise<boolean>;
  size(cid: Cid): Promise<number | undefined>;
  /** A read stream of the blob; PLX_NOT_FOUND when absent. */
  openRead(cid: Cid): Promise<{ stream: ReadStream; size: number }>;
  /** The whole blob in memory (for small blobs the coordinator inspects: models, tensors). */
  read(cid: Cid): Promise<Uint8Array>;
  pathOf(cid: Cid): string;
};

/**
 * The coordinator's content-addressed blob store: files under `dir/ab/abcd…` plus a row per blob.
 * A blob is visible only after its file is complete and renamed into place, so a crash mid-upload
 * leaves only a temp file, which is cleaned at start.
 *
 * @example const blobs = await createBlobStore({ dir: '.plexus/blobs', db });
 */
export async function createBlobStore(opts: { dir: string; db: Kysely<Database> }): Promise<BlobStore> {
  const tmpDir = join(opts.dir, 'tmp');
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });

  const pathOf = (cid: Cid) => join(opts.dir, cid.slice(0, 2), cid);

  function checkCid(cid: string): void {
    if (!isCid(cid)) throw new PlexusError('PLX_BAD_CID', `not a content id: ${cid.slice(0, 80)}`);
  }

  async function size(cid: Cid): Promise<number | undefined> {
    checkCid(cid);
    const row = await opts.db.selectFrom('blobs').select('size').where('cid', '=', cid).executeTakeFirst();
    return row?.size;
  }

  return {
    pathOf,
    size,
    async has(cid) {
      return (await size(cid)) !== undefined;
    },
    async put(body, { maxBytes, expectedCid }) {
      if (expectedCid !== undefined) checkCid(expectedCid);
      const tmp = join(tmpDir, randomBytes(12).toString('hex'));
      const hash = createHash('sha256');
      let bytes = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > maxBytes) {
            cb(
              new PlexusError('PLX_PAYLOAD_TOO_LARGE', `blob exceeds ${maxBytes} bytes`, {
                details: { maxBytes },
              }),
            );
            return;
          }
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      try {
        await pipeline(body, meter, createWriteStream(tmp, { mode: 0o644 }));
        const cid = hash.digest('hex');
        if (expectedCid !== undefined && cid !== expectedCid) {
          throw new PlexusError('PLX_DIGEST_MISMATCH', `bytes hash to ${cid}, not ${expectedCid}`, {
            details: { expected: expectedCid, actual: cid },
          });
        }
        const final = pathOf(cid);
        await mkdir(join(opts.dir, cid.slice(0, 2)), { recursive: true });
        await rename(tmp, final);
        await opts.db
          .insertInto('blobs')
          .values({ cid, size: bytes, created_at: Date.now() })
          .onConflict((oc) => oc.column('cid').doNothing())
          .execute();
        return { cid, size: bytes };
      } finally {
        await rm(tmp, { force: true });
      }
    },
    async openRead(cid) {
      const n = await size(cid);
      if (n === undefined) throw new PlexusError('PLX_NOT_FOUND', `no blob ${cid}`);
      return { stream: createReadStream(pathOf(cid)), size: n };
    },
    async read(cid) {
      const n = await size(cid);
      if (n === undefined) throw new PlexusError('PLX_UNKNOWN_BLOB', `no blob ${cid}`, { details: { cid } });
      const buf = await readFile(pathOf(cid));
      // The row says the blob exists; a missing or short file means the disk was tampered with.
      if ((await stat(pathOf(cid))).size !== n) throw new Error(`blob ${cid} on disk has the wrong size`);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    },
  };
}
