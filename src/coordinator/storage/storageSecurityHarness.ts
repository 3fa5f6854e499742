/**
 * The in-process storage network the storage security tests attack (storageSecurity.test.ts,
 * relayOwed.test.ts): a real store, blob store and coordinator side, with provider sessions that
 * record what they are sent. Test-only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import type { StorageRequestMessage } from '../../protocol/storageMessages.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import { createBlobStore } from '../blobs/createBlobStore.ts';
import { openStore } from '../store/openStore.ts';
import { createStorageNetwork } from './createStorageNetwork.ts';
import { storageDb } from './storageTables.ts';

/** A put's signature (the route checks it; the network keeps it as the object's evidence). */
export const SIG = `0x${'1b'.repeat(65)}` as const;
export const addr = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;

/**
 * `serveAfterMs`: each holder answers a relay order after that long with bytes of the piece's size
 * (the relay checks the size; what the bytes are is the reader's check).
 */
export async function harness(
  providers = 4,
  clock = { t: Date.now() },
  opts: { serveAfterMs?: number } = {},
) {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-storage-sec-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  const blobs = await createBlobStore({ dir: join(dir, 'blobs'), db: store.db });
  const storage = createStorageNetwork({
    db: store.db,
    blobs,
    dataDir: dir,
    log: createLogger('test', { level: 'silent' }),
    seedOf: async () => ({ seed: `0x${'11'.repeat(32)}`, source: 'test' }),
    now: () => clock.t,
  });
  const inbox = new Map<string, StorageCoordinatorMessage[]>();
  const holders = Array.from({ length: providers }, addr);
  for (const address of holders) {
    inbox.set(address, []);
    await storage.providerConnected({
      address,
      region: 'eu',
      offer: { offeredBytes: 1 << 30, freeBytes: 1 << 30, pieces: [] },
      send: (m) => {
        if (m.type === 'store.serve' && opts.serveAfterMs !== undefined) {
          const { orderId, token, pieceRoot } = m;
          setTimeout(async () => {
            const piece = await storageDb(store.db)
              .selectFrom('storage_pieces')
              .select('piece_bytes')
              .where('root', '=', pieceRoot)
              .executeTakeFirstOrThrow();
            try {
              storage.relayUpload(orderId, token, new Uint8Array(piece.piece_bytes).fill(1));
            } catch {
              // The reader gave up already.
            }
          }, opts.serveAfterMs);
        }
        return inbox.get(address)!.push(m) > 0;
      },
    });
  }
  /** Uploads bytes as `account` (the blob row, and the upload record PUT /v1/blobs writes). */
  async function upload(account: string, bytes: Uint8Array): Promise<string> {
    const { cid, size } = await blobs.put(Readable.from([Buffer.from(bytes)]), { maxBytes: 1 << 30 });
    await store.db
      .insertInto('blob_uploads')
      .values({ cid, account, size, created_at: Date.now() })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return cid;
  }
  const req = (client: `0x${string}`, cid: string, k = 2, m = 1): StorageRequestMessage => ({
    client,
    action: 'put',
    objectId: `0x${cid}`,
    dataPieces: k,
    parityPieces: m,
    epochs: 1,
    maxPricePerGiBEpoch: 0n,
    issuedAt: BigInt(Date.now()),
  });
  return {
    storage,
    store,
    inbox,
    holders,
    upload,
    req,
    async close() {
      storage.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type Harness = Awaited<ReturnType<typeof harness>>;

/** A receipt as the route hands it to the relay (the route checked its signature: not checked here). */
export const receiptWire = (reader: string, server: string, cid: string, cumulative: number) =>
  ({
    reader: reader as `0x${string}`,
    server: server as `0x${string}`,
    objectId: `0x${cid}` as `0x${string}`,
    cumulativeBytes: String(cumulative),
    issuedAt: '1',
    signature: SIG,
  }) as const;
