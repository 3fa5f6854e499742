/**
 * A validator's check of the storage price per GiB-epoch (docs/validators.md "Storage price"): a
 * put's `storage-hold` entry carries (evidence version 8) the offers the coordinator priced it over,
 * the floor, the price and the client's signed put. The price is recomputed with the coordinator's
 * pure `marketPrice` (src/storage/storagePrice.ts); every offer must be of a distinct provider with
 * a session in the bundle (an invented provider is refused); the price must be at most the client's
 * signed `maxPricePerGiBEpoch` (0: the client set no cap); and the price is kept per object, so a
 * later `storage-payment` of the term at any other price is refused and named. What stays the
 * coordinator's word: each offer's bytes (session reports, not signed with the put), that no
 * connected provider's offer was left out, and the floor (a coordinator setting).
 */
import { storageRequestFromWire, storageRequestSchema } from '../protocol/storageMessages.ts';
import { marketPrice } from '../storage/storagePrice.ts';
import type { FactDispute } from './checkFacts.ts';
import { checkOwnerSignature } from './checkOwnerSignature.ts';

/**
 * What the price check needs across a bundle's entries: `required`, the bundle is version 8 or
 * later (a hold without its pricing is refused; before, accepted and its price unknown);
 * `online`, the providers with a session in the bundle (`inputs.sessions`); `prices`, the price of
 * each object's term as this bundle's holds set it (null: unknown, a hold without pricing);
 * `remembered`, the price earlier bundles this validator signed set.
 *
 * @example const ctx: StoragePriceContext = { required: true, online: new Set(['0xab…']), prices: new Map() };
 */
export type StoragePriceContext = {
  required: boolean;
  online?: ReadonlySet<string>;
  prices: Map<string, bigint | null>;
  remembered?: (objectId: string) => bigint | undefined;
};

/** The most offers one put's evidence may list (a network of this many storage providers). */
const MAX_OFFERS = 10_000;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const UINT = /^[0-9]{1,40}$/;

/**
 * Checks a hold's price evidence (`memo.pricing`, `memo.owner`) and records the object's price in
 * `ctx.prices`. Null when it holds.
 *
 * @example const wrong = await checkHoldPrice('entry[storage:hold:…]', memo, 31337, ctx);
 */
export async function checkHoldPrice(
  name: string,
  memo: Record<string, unknown>,
  chainId: number,
  ctx: StoragePriceContext,
): Promise<FactDispute | null> {
  const bad = (field: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact: `${name}.${field}`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const client = String(memo.client);
  const objectId = String(memo.objectId);
  const pricing = memo.pricing as Record<string, unknown> | undefined;
  if (pricing === undefined) {
    if (ctx.required)
      return bad('pricing', 'missing', 'the offers, floor and price of the put (evidence version 8)');
    ctx.prices.set(objectId, null);
    return null;
  }
  const floor = String(pricing.floor ?? '');
  const claimed = String(pricing.pricePerGiBEpoch ?? '');
  if (!UINT.test(floor)) return bad('pricing.floor', floor, 'a price in base units');
  if (!UINT.test(claimed)) return bad('pricing.pricePerGiBEpoch', claimed, 'a price in base units');
  const list = Array.isArray(pricing.offers) ? (pricing.offers as Record<string, unknown>[]) : null;
  if (!list || list.length > MAX_OFFERS)
    return bad('pricing.offers', list ? list.length : 'missing', `a list of at most ${MAX_OFFERS} offers`);
  const seen = new Set<string>();
  const offers: { offeredBytes: number; freeBytes: number }[] = [];
  for (const [i, o] of list.entries()) {
    const p = String(o?.provider ?? '');
    const offered = o?.offeredBytes;
    const free = o?.freeBytes;
    if (!ADDRESS.test(p) || seen.has(p))
      return bad(`pricing.offers[${i}].provider`, p, 'a distinct provider address');
    seen.add(p);
    // An offer is a connected provider's: one with a session in this bundle.
    if (ctx.online && !ctx.online.has(p))
      return bad(`pricing.offers[${i}].provider`, p, 'a provider with a session in this epoch');
    if (!Number.isSafeInteger(offered) || (offered as number) < 0)
      return bad(`pricing.offers[${i}].offeredBytes`, offered, 'bytes offered');
    if (!Number.isSafeInteger(free) || (free as number) < 0 || (free as number) > (offered as number))
      return bad(`pricing.offers[${i}].freeBytes`, free, `0 to ${offered} bytes free`);
    offers.push({ offeredBytes: offered as number, freeBytes: free as number });
  }
  const price = marketPrice(BigInt(floor), offers);
  if (BigInt(claimed) !== price) return bad('pricing.pricePerGiBEpoch', claimed, price);
  // The client's signed put bounds it: the price is at most the cap it signed.
  const owner = await checkOwnerSignature(name, chainId, memo.owner, client, objectId);
  if (owner) return owner;
  const put = storageRequestFromWire(storageRequestSchema.parse(memo.owner)).message;
  if (put.maxPricePerGiBEpoch > 0n && price > put.maxPricePerGiBEpoch)
    return bad(
      'pricing.pricePerGiBEpoch',
      price,
      `at most the client's signed cap ${put.maxPricePerGiBEpoch}`,
    );
  ctx.prices.set(objectId, price);
  return null;
}

/**
 * Checks a payment's price against the object's term price (this bundle's hold, else the one an
 * earlier signed bundle set). Unknown (a hold before version 8, or before this validator followed):
 * accepted, checked against its memo only. Null when it holds.
 *
 * @example const wrong = checkPaymentPrice('entry[storage:pay:…]', objectId, 1000n, ctx);
 */
export function checkPaymentPrice(
  name: string,
  objectId: string,
  price: bigint,
  ctx: StoragePriceContext,
): FactDispute | null {
  const known = ctx.prices.has(objectId) ? ctx.prices.get(objectId) : ctx.remembered?.(objectId);
  if (known === undefined || known === null || known === price) return null;
  return {
    fact: `${name}.pricePerGiBEpoch`,
    claimed: price.toString(),
    recomputed: `${known} (the object's price at its put)`,
  };
}
