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
  /** When the order lapses (its grant's expiry): the sweep then places the piece elsewhere. */
  expiresAt: number;
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
    expiresAt: o.expiresAt,
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

/**
 * The open orders of a coordinator, each ended together with its grant: a re-sent order (a holder
 * reconnecting, a piece placed elsewhere) drops the one before, and lapsed ones are swept, so the
 * map holds at most one order per piece being placed or repaired (before, every re-send on a
 * reconnect left one entry behind for the coordinator's life).
 *
 * @example
 * const orders = createOrderBook((token) => grants.delete(token));
 * orders.set(orderId, newOrder({ ... }));
 * orders.drop(oldOrderId);
 */
export function createOrderBook(dropGrant: (token: string) => void) {
  const orders = new Map<string, StorageOrder>();
  return {
    get: (orderId: string) => orders.get(orderId),
    has: (orderId: string) => orders.has(orderId),
    set(orderId: string, o: StorageOrder): void {
      orders.set(orderId, o);
    },
    /** Ends an order and its grant; returns it (undefined when it was not open). */
    drop(orderId: string | null | undefined): StorageOrder | undefined {
      const o = orderId ? orders.get(orderId) : undefined;
      if (o) {
        dropGrant(o.token);
        orders.delete(orderId!);
      }
      return o;
    },
    /** Orders whose time ran out by `now`. */
    lapsed(now: number): [string, StorageOrder][] {
      return [...orders].filter(([, o]) => o.expiresAt <= now);
    },
    size: () => orders.size,
  };
}

/** The open orders of a coordinator. */
export type OrderBook = ReturnType<typeof createOrderBook>;
