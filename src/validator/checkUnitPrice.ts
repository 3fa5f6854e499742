/**
 * A validator's check of an execution charge's unit price (docs/validators.md "Unit price"). The
 * market prices every execution at exactly min(base price, the client's signed cap): a provider's
 * floor decides only which jobs it may take (market/priceExecution.ts, createMarket.ts). The base
 * price is the one in force for the epoch the charge accrues to — or, when the charge was posted
 * before the previous epoch closed (the close sets the next epoch's price), the one of the first
 * epoch not yet closed then, named by the charge (`priceEpoch`, evidence version 9). Pure.
 */
import { bigMin } from '../coordinator/market/bigMath.ts';
import type { ChargeFact, EndedLease } from '../coordinator/settlement/epochFacts.ts';
import { MAX_MESSAGE_SKEW_SEC } from '../protocol/constants.ts';
import type { FactDispute } from './checkFacts.ts';

/**
 * The base prices in force for one epoch and when it closed, as its signed bundle published them
 * (`inputs.prices`, `inputs.closedAt`): what a later bundle's charge priced at that epoch is checked by.
 *
 * @example
 * const p: EpochPrices = { epoch: 4, closedAt: 1_700_000_000_000, prices: [['cpu', '100000000000000']] };
 */
export type EpochPrices = {
  epoch: number;
  closedAt: number;
  prices: [string, string][];
  /**
   * The bundle is version 10 or later: its close time was stamped under the epoch-close lock that
   * billing takes (market/epochCloseLock.ts), so no charge honestly priced at it came after it.
   */
  lockedClose?: boolean;
};

/**
 * How long after the recorded close of an epoch closed before evidence version 10 a charge may
 * still be priced at that epoch's price. Such a close time was stamped before the close's chain
 * reads and transaction, and meanwhile another replica's charge read the epoch as still open and,
 * honestly, priced at it (seen in test/failoverReplicas.test.ts: a result 349 ms after the stamp).
 * From version 10 the close is stamped under a lock pricing also takes, and the check is exact.
 */
export const PRICE_CLOSE_RACE_MS = 60_000;

/** What a bundle's charges are priced against. */
export type UnitPriceContext = {
  /** The bundle's epoch. */
  epoch: number;
  /** Version 9 on: the exact price; before: any price from min(base, cap) to the cap (the old rule). */
  exact: boolean;
  /** This bundle's base prices (`inputs.prices`). */
  prices: Map<string, bigint>;
  /** Earlier epochs' prices from bundles this validator accepted (undefined: not seen). */
  pricesOf: (epoch: number) => EpochPrices | undefined;
  /** Leases this bundle lists as ended, by id (lower-case). */
  ended: Map<string, EndedLease>;
};

/**
 * Checks one charge's unit price; null when it holds.
 *
 * @example
 * const wrong = checkUnitPrice(charge, job.maxPrice, ctx);
 * if (wrong) return wrong;
 */
export function checkUnitPrice(c: ChargeFact, maxPrice: bigint, ctx: UnitPriceContext): FactDispute | null {
  const name = `charge[${c.ref}]`;
  const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const unitPrice = BigInt(c.unitPrice);
  const base = ctx.prices.get(c.class);
  if (base === undefined) return bad(`${name}.class`, c.class, 'a priced resource class');
  if (!ctx.exact) {
    const floor = bigMin(base, maxPrice);
    if (unitPrice > maxPrice || unitPrice < floor)
      return bad(`${name}.unitPrice`, c.unitPrice, `between ${floor} and the client's cap ${maxPrice}`);
    return null;
  }
  const p = c.priceEpoch ?? ctx.epoch;
  if (!Number.isSafeInteger(p) || p < 1 || p > ctx.epoch)
    return bad(`${name}.priceEpoch`, p, `an epoch from 1 to ${ctx.epoch}`);
  if (p === ctx.epoch) {
    const exact = bigMin(base, maxPrice);
    if (unitPrice !== exact)
      return bad(`${name}.unitPrice`, c.unitPrice, `${exact}: min(base price ${base}, cap ${maxPrice})`);
    return null;
  }
  const earlier = ctx.pricesOf(p);
  if (!earlier) {
    // A validator that did not accept bundle p (joined later) knows only the cap.
    if (unitPrice > maxPrice || unitPrice < 0n)
      return bad(`${name}.unitPrice`, c.unitPrice, `at most the client's cap ${maxPrice}`);
    return null;
  }
  // Epoch p's price was in force only until p closed: the result must have come before that
  // (the provider signed it, within the clock skew the coordinator allows, and the lease, where
  // this bundle lists it, ended before it); exactly for a close stamped under the epoch-close lock
  // (version 10 on), give or take the close's own duration before (PRICE_CLOSE_RACE_MS).
  const slack = earlier.lockedClose ? 0 : PRICE_CLOSE_RACE_MS;
  const lease = ctx.ended.get(c.assignmentId.toLowerCase());
  const arrived = Math.max(
    c.result.issuedAt * 1000 - MAX_MESSAGE_SKEW_SEC * 1000,
    lease ? lease.endedAt : Number.NEGATIVE_INFINITY,
  );
  if (arrived >= earlier.closedAt + slack)
    return bad(
      `${name}.priceEpoch`,
      p,
      `an epoch not closed when the result came (epoch ${p} closed at ${earlier.closedAt}, the result came at ${arrived} or later${slack ? `, past the ${slack} ms close race of a close before version 10` : ''})`,
    );
  const row = earlier.prices.find(([cls]) => cls === c.class);
  if (!row) return bad(`${name}.class`, c.class, `a class priced in epoch ${p}`);
  const exact = bigMin(BigInt(row[1]), maxPrice);
  if (unitPrice !== exact)
    return bad(
      `${name}.unitPrice`,
      c.unitPrice,
      `${exact}: min(epoch ${p}'s base price ${row[1]}, cap ${maxPrice})`,
    );
  return null;
}
