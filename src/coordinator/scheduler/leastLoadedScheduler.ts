import { createLoadIndex, type IndexedProvider } from './loadIndex.ts';
import type { Scheduler } from './types.ts';

/**
 * Scheduler v1: among providers that match the task's needs (memory, GPU, a free slot, not
 * excluded), prefer one that already caches the model, then the least loaded (active ÷ slots).
 *
 * Decisions are O(log n) amortised: the load index (`loadIndex.ts`) keeps one heap of all
 * providers by load, one of GPU providers, and one per cached model, with stale items dropped when
 * they surface, so nothing is ever searched linearly.
 *
 * @example
 * const s = createLeastLoadedScheduler();
 * s.upsertProvider({ address: '0xA…', slots: 2, memoryMiB: 8192, gpu: false, cached: [] });
 * s.pick({ model: cid, minMemoryMiB: 0, gpu: false }); // '0xA…'
 */
export function createLeastLoadedScheduler(): Scheduler {
  const index = createLoadIndex();
  return {
    upsertProvider: (p) => index.upsert(p),
    removeProvider: (address) => index.remove(address),
    pick(t) {
      const e = t.only
        ? leastLoadedOf(index.fittingAmong({ ...t, only: t.only }), t.model)
        : (index.leastLoaded(t, 1, true)[0] ?? index.leastLoaded(t, 1, false)[0]);
      if (!e) return undefined;
      index.lease(e, 1);
      return e.address;
    },
    release(address) {
      const e = index.providers.get(address);
      if (e && e.active > 0) index.lease(e, -1);
    },
    setCached: (address, cid, cached) => index.setCached(address, cid, cached),
    cachedOf: (address) => index.cachedOf(address),
    active: (address) => index.providers.get(address)?.active ?? 0,
    freeSlots: () => index.freeSlots(),
  };
}

/** The same order as the heaps give, over a given few: caching `model` first, then load, then address. */
function leastLoadedOf(candidates: IndexedProvider[], model: string): IndexedProvider | undefined {
  let best: IndexedProvider | undefined;
  const key = (e: IndexedProvider) => (e.cached.has(model) ? 0 : 2) + e.active / e.slots;
  for (const e of candidates) {
    if (!best || key(e) < key(best) || (key(e) === key(best) && e.address < best.address)) best = e;
  }
  return best;
}
