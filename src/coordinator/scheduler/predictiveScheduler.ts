import { RuntimePredictor } from '../../intelligence/runtime/runtimePredictor.ts';
import { createLoadIndex, type IndexedProvider } from './loadIndex.ts';
import type { Scheduler, TaskRequirements } from './types.ts';

/** Candidates taken from the load heaps (caching the model, or else overall) to start a decision. */
const SEED_CANDIDATES = 4;
/** Entries of a model's speed order examined per decision at most. */
const MAX_SPEED_SCAN = 4096;
/**
 * How far (in log seconds: 10 %) a provider's prediction may have moved since its order was built
 * and still be found: the walk goes on this far past the bound, and an entry whose expected finish
 * as of the order is within it of the best is ranked afresh.
 */
const STALE_MARGIN = Math.log(1.1);
/** Fitting providers from the speed order ranked (predicted afresh) per decision at most (in a fleet over ALWAYS_FRESH_FLEET). */
const MAX_RANKED = 32;
/**
 * A fleet of at most this many providers gets a fresh speed order after every observation and
 * every change of membership (a rebuild costs next to nothing there), so its decisions are always
 * the exact argmin.
 */
const ALWAYS_FRESH_FLEET = 256;
/**
 * In a larger fleet a model's speed order is rebuilt once that model has had this share of the
 * fleet's size in new observations (at least {@link MIN_REBUILD_OBSERVATIONS}): the O(n log n)
 * rebuilds stay O(log n) per decision on average, and an order is never staler than a few runs
 * per provider of that model.
 */
const REBUILD_SHARE = 0.0625;
const MIN_REBUILD_OBSERVATIONS = 64;
/**
 * Providers that joined since an order was built are ranked directly at every decision (they are
 * not in the order yet); past this many the order is rebuilt.
 */
const MAX_JOINED_SCAN = 64;

/** Providers sorted by predicted log run time, with those times. */
type Ranked = { entries: IndexedProvider[]; logSeconds: Float64Array };

/**
 * One model's speed orders: every provider, and those that cached the model when it was built (a
 * provider that caches it since is found by the load heaps until the next rebuild); as of the
 * predictor's `observations` (all models) and `modelObservations` (this model), the fleet's
 * `fleetVersion`, and `joinedAt` entries of the index's join log (in `joinedEpoch`).
 */
type SpeedOrder = {
  all: Ranked;
  cached: Ranked;
  observations: number;
  modelObservations: number;
  fleetVersion: number;
  joinedEpoch: number;
  joinedAt: number;
};

/**
 * The learned scheduler: it learns each provider's speed per model from measured results (an
 * online, outlier-robust runtime predictor, `src/intelligence/runtime`) and sends each task where
 * it is expected to finish first: among providers that fit (memory, GPU, a free slot, not excluded),
 * those caching the model come first, then the smallest predicted run time × (1 + load), then the
 * address. Before it has seen a provider run a model it predicts from what it knows of that provider
 * and that model, so an unknown pair is neither favoured nor starved; with no data at all it is
 * least-loaded.
 *
 * Two stages keep a decision cheap at fleet scale (candidates from indexed structures, then the
 * learned ranking of a few dozen). First a few candidates from the load index's heaps (the
 * least-loaded fitting providers caching the model, or, if none does, overall) set a bound: the
 * best expected finish among them. Then the model's speed order — providers (those caching the
 * model, when one of them fits, else all) sorted by predicted run time — is walked from the fastest
 * while a provider's predicted run time is below the bound (its expected finish, run time × (1 +
 * load), cannot be lower than its run time); a fitting provider whose expected finish as of the
 * order may beat the bound is ranked afresh with the predictor, tightening the bound. Providers
 * that joined since the order was built are ranked directly. The walk goes {@link STALE_MARGIN}
 * past the bound, so predictions that moved a little since the order was built are still found.
 *
 * In a fleet of up to {@link ALWAYS_FRESH_FLEET} providers the order is rebuilt after every
 * observation and every join or leave, and the walk is not capped, so every decision is the exact
 * argmin over every fitting provider. In a larger fleet a model's order is rebuilt after
 * {@link REBUILD_SHARE} × fleet-size observations of that model or {@link MAX_JOINED_SCAN} joins
 * (sorting the previous order again: nearly sorted, an adaptive sort is quick), never because a
 * provider's capacity changed (a reconnect, a reputation cap moving: entries are updated in place),
 * and at most {@link MAX_RANKED} providers are ranked per decision. The choice is always a provider
 * that fits, and caches the model when a fitting one does (as found by the load heaps); it can
 * differ from the exact argmin when a prediction moved more than the margin since the last rebuild,
 * or when more than 32 fitting providers are predicted to be about as fast (then the chosen one's
 * expected finish is at most twice the best's). `npm run bench -- scheduler` counts how often it
 * differs from the exhaustive ranking; predictiveCandidates.test.ts holds it to that.
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
  /** Observations per model through this scheduler (what makes a model's order stale). */
  const observedPerModel = new Map<string, number>();

  function fresh(known: SpeedOrder, model: string): boolean {
    const n = index.providers.size;
    if (n <= ALWAYS_FRESH_FLEET) {
      return known.fleetVersion === index.fleetVersion && known.observations === predictor.observations;
    }
    return (
      known.joinedEpoch === index.joinedEpoch &&
      index.joined.length - known.joinedAt <= MAX_JOINED_SCAN &&
      (observedPerModel.get(model) ?? 0) - known.modelObservations <
        Math.max(MIN_REBUILD_OBSERVATIONS, n * REBUILD_SHARE)
    );
  }

  /** The model's providers sorted by predicted run time, rebuilt when stale. */
  function speedOrder(model: string): SpeedOrder {
    const known = speedOrders.get(model);
    if (known && fresh(known, model)) return known;
    // Start from the last order (its live entries, then whoever joined since) when there is one:
    // predictions move little between rebuilds, so it is nearly sorted.
    let entries: IndexedProvider[] = [];
    if (known && known.joinedEpoch === index.joinedEpoch) {
      for (const e of known.all.entries) if (e.live) entries.push(e);
      for (let j = known.joinedAt; j < index.joined.length; j++) {
        const e = index.joined[j]!;
        if (e.live) entries.push(e);
      }
    } else entries = [...index.providers.values()];
    const n = entries.length;
    const logs = new Float64Array(n);
    for (let i = 0; i < n; i++) logs[i] = predictor.predictLog(entries[i]!.address, model);
    // V8's sort (TimSort) is adaptive: on the last order, which is nearly sorted, it takes far
    // fewer comparisons than n log n.
    const at = new Array<number>(n);
    for (let i = 0; i < n; i++) at[i] = i;
    at.sort((x, y) => logs[x]! - logs[y]! || (entries[x]!.address < entries[y]!.address ? -1 : 1));
    const sortedLogs = new Float64Array(n);
    const sorted: IndexedProvider[] = new Array(n);
    for (let i = 0; i < n; i++) {
      sorted[i] = entries[at[i]!]!;
      sortedLogs[i] = logs[at[i]!]!;
    }
    const cachedEntries: IndexedProvider[] = [];
    const cachedLogs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!sorted[i]!.cached.has(model)) continue;
      cachedEntries.push(sorted[i]!);
      cachedLogs.push(sortedLogs[i]!);
    }
    const order = {
      all: { entries: sorted, logSeconds: sortedLogs },
      cached: { entries: cachedEntries, logSeconds: Float64Array.from(cachedLogs) },
      observations: predictor.observations,
      modelObservations: observedPerModel.get(model) ?? 0,
      fleetVersion: index.fleetVersion,
      joinedEpoch: index.joinedEpoch,
      joinedAt: index.joined.length,
    };
    speedOrders.set(model, order);
    return order;
  }

  /** The decision in progress: its task, the best provider so far and its expected finish. */
  const d: {
    t: TaskRequirements | undefined;
    cachedOnly: boolean;
    best: IndexedProvider | undefined;
    bestExpected: number;
    logBound: number;
  } = { t: undefined, cachedOnly: false, best: undefined, bestExpected: 0, logBound: 0 };

  /** Whether `e` may take the decision's task (and, when only cached ones count, caches its model). */
  function eligible(e: IndexedProvider): boolean {
    const t = d.t!;
    return e.live && index.fits(e, t) && (!d.cachedOnly || e.cached.has(t.model));
  }

  /** Ranks `e` for the decision's task: predicted run time × (1 + load), ties by address. */
  function consider(e: IndexedProvider): void {
    const expected = predictor.predict(e.address, d.t!.model) * (1 + e.active / e.slots);
    const best = d.best;
    if (expected < d.bestExpected || (expected === d.bestExpected && best && e.address < best.address)) {
      d.best = e;
      d.bestExpected = expected;
      d.logBound = Math.log(expected);
    }
  }

  /** A pick restricted to `t.only`: each named provider is ranked, nothing else is searched. */
  function pickAmong(t: TaskRequirements & { only: ReadonlySet<string> }): string | undefined {
    const fitting = index.fittingAmong(t);
    d.cachedOnly = fitting.some((e) => e.cached.has(t.model));
    for (const e of fitting) if (!d.cachedOnly || e.cached.has(t.model)) consider(e);
    const chosen = d.best as IndexedProvider | undefined;
    d.t = undefined;
    if (!chosen) return undefined;
    index.lease(chosen, 1);
    return chosen.address;
  }

  return {
    upsertProvider: (p) => index.upsert(p),
    removeProvider: (address) => index.remove(address),
    pick(t) {
      // The decision's state lives in `d` (no closures per decision: they cost more than the work).
      d.best = undefined;
      d.bestExpected = Number.POSITIVE_INFINITY;
      d.logBound = Number.POSITIVE_INFINITY;
      d.t = t;
      if (t.only) return pickAmong({ ...t, only: t.only });
      // A provider caching the model always beats one that does not: if any fits, only those count.
      let seeds = index.leastLoaded(t, SEED_CANDIDATES, true);
      d.cachedOnly = seeds.length > 0;
      if (!d.cachedOnly) seeds = index.leastLoaded(t, SEED_CANDIDATES, false);
      for (const e of seeds) consider(e);
      const orders = speedOrder(t.model);
      // Providers that joined since the order was built are not in it: each is ranked directly.
      const joined = index.joined;
      for (let j = orders.joinedAt; j < joined.length; j++) {
        const e = joined[j]!;
        if (eligible(e)) consider(e);
      }
      const order = d.cachedOnly ? orders.cached : orders.all;
      const end = Math.min(order.entries.length, MAX_SPEED_SCAN);
      const maxRanked = index.providers.size > ALWAYS_FRESH_FLEET ? MAX_RANKED : Number.POSITIVE_INFINITY;
      for (let i = 0, ranked = 0; i < end && ranked < maxRanked; i++) {
        // Expected finish = run time × (1 + load) ≥ run time: nothing further on can beat the best
        // (compared in logs, so no exp per entry; the margin covers predictions that moved a little
        // since the order was built).
        const logSeconds = order.logSeconds[i]!;
        if (logSeconds > d.logBound + STALE_MARGIN) break;
        const e = order.entries[i]!;
        if (e.active >= e.slots || !eligible(e)) continue; // a full provider, the common case, first
        // Its expected finish as of the order; only one that may beat the best is predicted afresh.
        if (logSeconds + Math.log1p(e.active / e.slots) > d.logBound + STALE_MARGIN) continue;
        consider(e);
        ranked++;
      }
      const chosen = d.best as IndexedProvider | undefined; // set by consider(), which TS cannot see
      d.t = undefined;
      if (!chosen) return undefined;
      index.lease(chosen, 1);
      return chosen.address;
    },
    release(address) {
      const e = index.providers.get(address);
      if (e && e.active > 0) index.lease(e, -1);
    },
    setCached: (address, cid, cached) => index.setCached(address, cid, cached),
    cachedOf: (address) => index.cachedOf(address),
    active: (address) => index.providers.get(address)?.active ?? 0,
    freeSlots: () => index.freeSlots(),
    observe(address, model, seconds) {
      predictor.observe(address, model, seconds);
      observedPerModel.set(model, (observedPerModel.get(model) ?? 0) + 1);
    },
  };
}
