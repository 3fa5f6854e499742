/**
 * A put's price and the evidence of it (docs/storage.md "Price", docs/validators.md "Storage
 * price"): `marketPrice(floor, offers)` over the offers of the storage sessions connected now, and
 * the snapshot the object's `storage-hold` entry carries so a validator recomputes the same price
 * with the same pure function, bounds it by the client's signed cap and keeps it for the term's
 * payments (validator/checkStoragePrice.ts).
 */
import { PlexusError } from '../../errors/PlexusError.ts';
import type { StorageRequestMessage } from '../../protocol/storageMessages.ts';
import { marketPrice, type StoragePricing } from '../../storage/storagePrice.ts';
import type { StorageSession } from './storageNetworkTypes.ts';

/**
 * Prices a put from the connected sessions' offers; refuses (PLX_STORAGE_PRICE_ABOVE_MAX) above the
 * client's signed `maxPricePerGiBEpoch` (0: no cap). Returns the price and its evidence.
 *
 * @example const { price, pricing } = pricePut(10n ** 15n, [...sessions.values()], req);
 */
export function pricePut(
  floor: bigint,
  sessions: readonly Pick<StorageSession, 'address' | 'offer' | 'freeBytes'>[],
  req: Pick<StorageRequestMessage, 'maxPricePerGiBEpoch'>,
): { price: bigint; pricing: StoragePricing } {
  const offers = [...sessions]
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .map((s) => ({
      provider: s.address.toLowerCase(),
      offeredBytes: s.offer.offeredBytes,
      // What was placed on it since it connected is taken off its offer's free space.
      freeBytes: Math.max(0, Math.min(s.freeBytes, s.offer.offeredBytes)),
    }));
  // Priced by supply and demand: the floor until half the offered space is in use (storagePrice.ts).
  const price = marketPrice(floor, offers);
  if (req.maxPricePerGiBEpoch > 0n && req.maxPricePerGiBEpoch < price)
    throw new PlexusError('PLX_STORAGE_PRICE_ABOVE_MAX', `storage costs ${price} per GiB-epoch`, {
      details: { pricePerGiBEpoch: price.toString() },
    });
  return { price, pricing: { floor: floor.toString(), offers, pricePerGiBEpoch: price.toString() } };
}
