/**
 * "Trusted with less": a Scheduler wrapper that caps each provider's concurrent leases at a limit
 * derived from its reputation (reputation.concurrencyLimit: one for a newcomer, more with every
 * verified-valid result, back to one after a fault). It changes only the capacity it reports to
 * the inner scheduler, so placement rules stay the inner scheduler's.
 */
import type { ProviderCapacity, Scheduler, TaskRequirements } from './types.ts';

/**
 * A Scheduler whose capacities follow `limitOf`; call `refresh(address)` when a provider's limit
 * may have changed (after a verdict touched its reputation).
 *
 * @example
 * const s = createReputationLimitedScheduler(createLeastLoadedScheduler(), (a) => concurrencyLimit(rep(a)));
 * s.upsertProvider({ address: '0xA…', slots: 8, memoryMiB: 8192, gpu: false, cached: [] }); // 1 lease for a newcomer
 * s.refresh('0xA…'); // after its reputation changed
 * s.refreshes; // 1: how many refreshes so far (a cache of reputation-derived views checks it)
 */
export function createReputationLimitedScheduler(
  inner: Scheduler,
  limitOf: (address: string) => number,
): Scheduler & { refresh(address: string): void; readonly refreshes: number } {
  /** Calls of `refresh` so far: a cheap sign that some provider's reputation changed. */
  let refreshes = 0;
  /** What each provider advertised, and what it caches now (needed to re-upsert it). */
  const advertised = new Map<string, ProviderCapacity & { cached: Set<string> }>();

  function capped(p: ProviderCapacity, slots: number): ProviderCapacity {
    return { ...p, slots: Math.max(1, Math.min(slots, Math.floor(limitOf(p.address)))) };
  }

  return {
    upsertProvider(p) {
      const entry = { ...p, cached: new Set(p.cached) };
      advertised.set(p.address, entry);
      inner.upsertProvider(capped({ ...entry, cached: [...entry.cached] }, p.slots));
    },
    removeProvider(address) {
      advertised.delete(address);
      inner.removeProvider(address);
    },
    pick(task: TaskRequirements) {
      return inner.pick(task);
    },
    release(address) {
      inner.release(address);
    },
    setCached(address, cid, cached) {
      const p = advertised.get(address);
      if (p) {
        if (cached) p.cached.add(cid);
        else p.cached.delete(cid);
      }
      inner.setCached(address, cid, cached);
    },
    cachedOf(address) {
      return advertised.get(address)?.cached;
    },
    active(address) {
      return inner.active(address);
    },
    freeSlots() {
      return inner.freeSlots();
    },
    observe(address, model, seconds) {
      inner.observe?.(address, model, seconds);
    },
    get refreshes() {
      return refreshes;
    },
    refresh(address) {
      refreshes++;
      const p = advertised.get(address);
      if (!p) return;
      // Leases already out stay out; a lowered limit only stops new ones.
      inner.upsertProvider(capped({ ...p, cached: [...p.cached], active: inner.active(address) }, p.slots));
    },
  };
}
