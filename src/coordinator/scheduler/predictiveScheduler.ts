import { RuntimePredictor } from '../../intelligence/runtime/runtimePredictor.ts';
import type { ProviderCapacity, Scheduler, TaskRequirements } from './types.ts';

type Entry = { capacity: ProviderCapacity; cached: Set<string>; active: number };

/**
 * The learned scheduler: it learns each provider's speed per model from measured results (an
 * online, outlier-robust runtime predictor, `src/intelligence/runtime`) and sends each task where
 * it is expected to finish first: among providers that fit (memory, GPU, a free slot, not excluded),
 * those caching the model come first, then the smallest predicted run time × (1 + load). Before it
 * has seen a provider run a model it predicts from what it knows of that provider and that model,
 * so an unknown pair is neither favoured nor starved; with no data at all it is least-loaded.
 *
 * A decision scans the fitting providers (O(n)): meant for networks of up to a few thousand
 * providers per coordinator; `createLeastLoadedScheduler` is O(log n) for bigger ones.
 *
 * @example
 * const s = createPredictiveScheduler();
 * s.observe?.('0xfast', modelCid, 0.2);
 * s.observe?.('0xslow', modelCid, 1.5);
 * s.pick({ model: modelCid, minMemoryMiB: 0, gpu: false }); // '0xfast' while it has a free slot
 */
export function createPredictiveScheduler(opts: { predictor?: RuntimePredictor } = {}): Scheduler {
  const predictor = opts.predictor ?? new RuntimePredictor();
  const providers = new Map<string, Entry>();
  let free = 0;

  function fits(e: Entry, t: TaskRequirements): boolean {
    return (
      e.active < e.capacity.slots &&
      e.capacity.memoryMiB >= t.minMemoryMiB &&
      (!t.gpu || e.capacity.gpu) &&
      !t.exclude?.has(e.capacity.address)
    );
  }

  return {
    upsertProvider(p) {
      const old = providers.get(p.address);
      if (old) free -= Math.max(0, old.capacity.slots - old.active);
      const e = { capacity: p, cached: new Set(p.cached), active: p.active ?? old?.active ?? 0 };
      providers.set(p.address, e);
      free += Math.max(0, p.slots - e.active);
    },
    removeProvider(address) {
      const e = providers.get(address);
      if (!e) return;
      free -= Math.max(0, e.capacity.slots - e.active);
      providers.delete(address);
    },
    pick(t) {
      let best: Entry | undefined;
      let bestKey: [number, number, string] | undefined;
      for (const e of providers.values()) {
        if (!fits(e, t)) continue;
        const expected = predictor.predict(e.capacity.address, t.model) * (1 + e.active / e.capacity.slots);
        const key: [number, number, string] = [e.cached.has(t.model) ? 0 : 1, expected, e.capacity.address];
        if (
          !bestKey ||
          key[0] < bestKey[0] ||
          (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] < bestKey[2])))
        ) {
          best = e;
          bestKey = key;
        }
      }
      if (!best) return undefined;
      best.active++;
      free--;
      return best.capacity.address;
    },
    release(address) {
      const e = providers.get(address);
      if (!e || e.active === 0) return;
      e.active--;
      free++;
    },
    setCached(address, cid, cached) {
      const e = providers.get(address);
      if (!e) return;
      if (cached) e.cached.add(cid);
      else e.cached.delete(cid);
    },
    active(address) {
      return providers.get(address)?.active ?? 0;
    },
    freeSlots() {
      return free;
    },
    observe(address, model, seconds) {
      predictor.observe(address, model, seconds);
    },
  };
}
