import { RuntimePredictor } from '../../intelligence/runtime/runtimePredictor.ts';
import { createLoadIndex, type IndexedProvider } from './loadIndex.ts';
import type { Scheduler } from './types.ts';

/** Candidates taken from the load heaps (caching the model, or else overall) to start a decision. */
const SEED_CANDIDATES = 4;
/** Entries of a model's speed order examined per decision at most. */
const MAX_SPEED_SCAN = 4096;
/** Fitting providers from the speed order ranked per decision at most (in a fleet over ALWAYS_FRESH_FLEET). */
const MAX_RANKED = 32;
/**
 * A fleet of at most this many providers gets a fresh speed order after every observation (a
 * rebuild costs next to nothing there), so its decisions are always the exact argmin. A larger
 * fleet rebuilds a model's order once per observation per provider: the O(n log n) rebuilds stay
 * O(log n) per decision on average. Any change of the fleet rebuilds it too.
 */
const ALWAYS_FRESH_FLEET = 256;

/** Providers sorted by predicted log run time, with those times. */
type Ranked = { entries: IndexedProvider[]; logSeconds: Float64Array };

/**
 * One model's speed orders as of `observations`: every provider, and those that cached the model
 * when it was built (a provider that caches it since is found by the load heaps until the next
 * rebuild).
 */
type SpeedOrder = { all: Ranked; cached: Ranked; observations: number; fleetVersion: number };

/**
 * The learned scheduler: it learns each provider's speed per model from measured results (an
 * online, outlier-robust runtime predictor, `src/intelligence/runtime`) and sends each task where
 * it is expected to finish first: among providers that fit (memory, GPU, a free slot, not excluded),
 * those caching the model come first, then the smallest predicted run time × (1 + load), then the
 * address. Before it has seen a provider run a model it predicts from what it knows of that provider
 * and that model, so an unknown pair is neither favoured nor starved; with no data at all it is
 * least-loaded.
 *
 * Two stages keep a decision cheap at fleet scale. First a few candidates from the load index's
 * heaps (the least-loaded fitting providers caching the model, or, if none does, overall) set a
 * bound: the best expected finish among them. Then the model's speed order — providers (those
 * caching the model, when one of them fits, else all) sorted by predicted run time — is walked from
 * the fastest while a provider's predicted run time is below the bound (its expected finish, run
 * time × (1 + load), cannot be lower than its run time), ranking each fitting one with the predictor
 * and tightening the bound.
 *
 * In a fleet of up to {@link ALWAYS_FRESH_FLEET} providers the order is rebuilt after every
 * observation and the walk is not capped, so every decision is the exact argmin over every fitting
 * provider. In a larger fleet the order is rebuilt once per fleet-size observations (and when the
 * fleet changes) and at most {@link MAX_RANKED} providers are ranked per decision: the choice can
 * then differ from the exact argmin when a provider's speed estimate moved since the last rebuild
 * or when more than 32 fitting providers are predicted to be about as fast (where any of them is
 * nearly as good). `npm run bench -- scheduler` counts how often it differs from the exact scan.
 *
 * @example
 * const s = createPredictiveScheduler();
 * s.observe?.('0xfast', modelCid, 0.2);
 * s.observe?.('0xslow', modelCid, 1.5);
 * s.pick({ model: modelCid, minMemoryMiB: 0, gpu: false }); // '0xfast' while it has a free slot
 */
export function createPredictiveScheduler(opts: { predictor?: RuntimePredictor } = {}): Scheduler {
  const predictor = opts.predictor ?? new RuntimePredictor();
  const index = createLoadIndex();
  const speedOrders = new Map<string, SpeedOrder>();

  /** The model's providers sorted by predicted run time, rebuilt when stale. */
  function speedOrder(model: string): SpeedOrder {
    const known = speedOrders.get(model);
    if (
      known &&
      known.fleetVersion === index.fleetVersion &&
      (predictor.observations === known.observations ||
        (index.providers.size > ALWAYS_FRESH_FLEET &&
          predictor.observations - known.observations < index.providers.size))
    ) {
      return known;
    }
    const keyed = [...index.providers.values()].map((e) => ({
      e,
      t: predictor.predictLog(e.address, model),
    }));
    keyed.sort((a, b) => a.t - b.t || (a.e.address < b.e.address ? -1 : 1));
    const ranked = (list: typeof keyed): Ranked => ({
      entries: list.map((k) => k.e),
      logSeconds: Float64Array.from(list, (k) => k.t),
    });
    const order = {
      all: ranked(keyed),
      cached: ranked(keyed.filter((k) => k.e.cached.has(model))),
      observations: predictor.observations,
      fleetVersion: index.fleetVersion,
    };
    speedOrders.set(model, order);
    return order;
  }

  return {
    upsertProvider: (p) => index.upsert(p),
    removeProvider: (address) => index.remove(address),
    pick(t) {
      let best: IndexedProvider | undefined;
      let bestExpected = Number.POSITIVE_INFINITY;
      const consider = (e: IndexedProvider): void => {
        const expected = predictor.predict(e.address, t.model) * (1 + e.active / e.slots);
        if (expected < bestExpected || (expected === bestExpected && best && e.address < best.address)) {
          best = e;
          bestExpected = expected;
        }
      };
      // A provider caching the model always beats one that does not: if any fits, only those count.
      let seeds = index.leastLoaded(t, SEED_CANDIDATES, true);
      const cachedOnly = seeds.length > 0;
      if (!cachedOnly) seeds = index.leastLoaded(t, SEED_CANDIDATES, false);
      for (const e of seeds) consider(e);
      const orders = speedOrder(t.model);
      const order = cachedOnly ? orders.cached : orders.all;
      const end = Math.min(order.entries.length, MAX_SPEED_SCAN);
      const maxRanked = index.providers.size > ALWAYS_FRESH_FLEET ? MAX_RANKED : Number.POSITIVE_INFINITY;
      for (let i = 0, ranked = 0; i < end && ranked < maxRanked; i++) {
        if (Math.exp(order.logSeconds[i]!) > bestExpected) break;
        const e = order.entries[i]!;
        if (!index.fits(e, t) || (cachedOnly && !e.cached.has(t.model))) continue;
        consider(e);
        ranked++;
      }
      const chosen = best as IndexedProvider | undefined;
      if (!chosen) return undefined;
      index.lease(chosen, 1);
      return chosen.address;
    },
    release(address) {
      const e = index.providers.get(address);
      if (e && e.active > 0) index.lease(e, -1);
    },
    setCached: (address, cid, cached) => index.setCached(address, cid, cached),
    active: (address) => index.providers.get(address)?.active ?? 0,
    freeSlots: () => index.freeSlots(),
    observe(address, model, seconds) {
      predictor.observe(address, model, seconds);
    },
  };
}
