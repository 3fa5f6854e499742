/**
 * Starts a provider's storage side: checks the offered space against the disk, opens the piece
 * store and the agent that answers `store.*` messages (createStorageAgent.ts).
 */
import { join } from 'node:path';
import type { Logger } from '../../logger.ts';
import type { ReceiptSigner } from '../../storage/receiptSigner.ts';
import { checkDiskOffer } from '../hardware/probeDisk.ts';
import { createPieceStore } from './createPieceStore.ts';
import { createStorageAgent, type StorageAgent } from './createStorageAgent.ts';
import type { StorageBehaviour } from './storageCheats.ts';

/**
 * @example
 * const storage = await startStorage({ capacityBytes: 10 * 2 ** 30, dataDir, base, log, send });
 */
export async function startStorage(opts: {
  capacityBytes: number;
  dir?: string;
  dataDir: string;
  /** The coordinator's base URL, or a function answering the replica the session uses now. */
  base: string | (() => string);
  log: Logger;
  send: (msg: unknown) => boolean;
  behaviour?: StorageBehaviour;
  address?: string;
  /** Signs receipts for the source pieces a repair reads (createStorageAgent.ts). */
  receipts?: ReceiptSigner;
}): Promise<StorageAgent> {
  const dir = opts.dir ?? join(opts.dataDir, 'storage');
  const store = await createPieceStore({ dir, capacityBytes: opts.capacityBytes });
  const free = await checkDiskOffer(dir, opts.capacityBytes, store.usedBytes());
  opts.log.info(
    {
      dir,
      offeredBytes: opts.capacityBytes,
      usedBytes: store.usedBytes(),
      diskFreeBytes: free,
      pieces: store.list().length,
    },
    'storage offered',
  );
  return createStorageAgent({
    base: opts.base,
    store,
    send: opts.send,
    log: opts.log,
    dir,
    ...(opts.address ? { address: opts.address } : {}),
    ...(opts.behaviour ? { behaviour: opts.behaviour } : {}),
    ...(opts.receipts ? { receipts: opts.receipts } : {}),
  });
}
