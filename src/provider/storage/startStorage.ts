/**
 * Starts a provider's storage side: checks the offered space against the disk, opens the piece
 * store and the agent that answers `store.*` messages (createStorageAgent.ts).
 */
import { join } from 'node:path';
import type { LocalAccount } from 'viem';
import type { Logger } from '../../logger.ts';
import { signDirectPiece } from '../../protocol/storageMessages.ts';
import type { ReceiptSigner } from '../../storage/receiptSigner.ts';
import { checkServeUrl, isLocalUrl } from '../../storage/serveAddress.ts';
import { checkDiskOffer } from '../hardware/probeDisk.ts';
import { createPieceStore } from './createPieceStore.ts';
import { createStorageAgent, type StorageAgent } from './createStorageAgent.ts';
import { createDirectServing, startPieceServer } from './servePieces.ts';
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
  /** `--serve-address HOST:PORT`: serve pieces directly there (servePieces.ts); needs `account`. */
  serveAddress?: string;
  /** The provider's account: a direct server signs each piece it serves with it. */
  account?: LocalAccount;
  /** The chain id receipts are signed for (direct serving checks them). */
  chainId?: () => Promise<number>;
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
  let agent: StorageAgent | undefined;
  const direct = opts.serveAddress ? await serveDirectly(opts.serveAddress) : undefined;
  async function serveDirectly(listen: string) {
    const account = opts.account;
    if (!account) throw new Error('direct serving needs the provider account');
    const address = account.address.toLowerCase();
    const chainId = opts.chainId ?? (async () => 0);
    // A receipt it saw in a request is redeemed like one the coordinator forwards.
    const serving = createDirectServing({
      address,
      chainId,
      redeem: (receipt) => agent?.handle({ type: 'store.receipt', receipt }),
      report: (ticket, use) => opts.send({ type: 'store.ticketUse', ticket, use }),
      // Who owes this server for what, kept across restarts beside the pieces.
      stateFile: join(dir, 'serving-accounts.log'),
    });
    const server = await startPieceServer({
      listen,
      serving,
      read: (r) => store.read(r),
      address,
      sign: async (m) => signDirectPiece(account, await chainId(), m),
      log: opts.log,
    });
    // Readers are sent to this URL: a public IP host unless the coordinator is on a local network
    // (serveAddress.ts); the coordinator would refuse the offer anyway, so refuse to start.
    const base = typeof opts.base === 'function' ? opts.base() : opts.base;
    try {
      checkServeUrl(server.url, { allowLocal: isLocalUrl(base) });
    } catch (err) {
      await server.close();
      throw err;
    }
    return { serving, url: server.url, close: server.close };
  }
  agent = createStorageAgent({
    base: opts.base,
    store,
    send: opts.send,
    log: opts.log,
    dir,
    ...(opts.address ? { address: opts.address } : {}),
    ...(opts.behaviour ? { behaviour: opts.behaviour } : {}),
    ...(opts.receipts ? { receipts: opts.receipts } : {}),
    ...(direct ? { direct } : {}),
  });
  return agent;
}
