/**
 * An open order to keep a piece (a put from staging, or a repair), and what proves the holder did
 * the work before its `store.stored` counts (docs/storage.md, "Limits and abuse"): a put's holder
 * must have downloaded the staged piece, a repair's holder at least K source pieces through its
 * grant. Before, staging was deleted as soon as holders said they stored, fetched or not.
 */

/** An open order: which piece, who keeps it, its grant's token, and what it fetched so far. */
export type StorageOrder = {
  objectId: string;
  segment: number;
  idx: number;
  holder: string;
  /** The token of the order's grant (dropped when the order ends). */
  token: string;
  /** Distinct fetches needed before `store.stored` counts: 1 for a put, K for a repair. */
  need: number;
  /** What the holder fetched for this order: `staged` for a put, source roots for a repair. */
  fetched: Set<string>;
};

/**
 * @example orders.set(orderId, newOrder({ objectId, segment, idx, holder, token, need: 1 }));
 */
export function newOrder(o: Omit<StorageOrder, 'fetched'>): StorageOrder {
  return {
    objectId: o.objectId,
    segment: o.segment,
    idx: o.idx,
    holder: o.holder,
    token: o.token,
    need: o.need,
    fetched: new Set(),
  };
}

/**
 * Whether the holder fetched what the order needs (so its `store.stored` can be true).
 *
 * @example if (!orderFetched(order)) refuse(order);
 */
export function orderFetched(o: StorageOrder): boolean {
  return o.fetched.size >= o.need;
}
