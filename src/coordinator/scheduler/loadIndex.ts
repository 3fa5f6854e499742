/**
 * The bookkeeping every scheduler shares: which providers are connected with what capacity, how
 * many leases each holds, what each caches, and heaps by load (all providers, GPU providers, one
 * per cached model) so the least-loaded fitting providers are found in O(log n) — for one pick
 * (scheduler v1) or as candidates to rank (the predictive scheduler).
 */
import type { ProviderCapacity, TaskRequirements } from './types.ts';

/** A provider as the index holds it. */
export type IndexedProvider = {
  address: string;
  slots: number;
  memoryMiB: number;
  gpu: boolean;
  cached: Set<string>;
  active: number;
  /** Bumped on every change, so stale heap items are recognised and dropped. */
  version: number;
  /**
   * False once the provider is removed. An entry keeps its identity while the provider stays
   * connected (an upsert updates it in place), so structures built from entries — the predictive
   * scheduler's speed orders — stay valid across capacity changes and only skip removed ones.
   */
  live: boolean;
};

type HeapItem = { load: number; address: string; version: number };

/** A binary min-heap on (load, address). Stale items are skipped lazily by version. */
class LoadHeap {
  private items: HeapItem[] = [];

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items = [];
  }

  push(item: HeapItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): HeapItem | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: HeapItem, y: HeapItem): boolean {
  return x.load < y.load || (x.load === y.load && x.address < y.address);
}

/** How many fitting-but-skipped candidates a pick examines before giving up on a heap. */
const MAX_SKIPS_PER_PICK = 64;

/** The provider index (see the module comment). */
export type LoadIndex = {
  /** Every provider, by address. */
  readonly providers: ReadonlyMap<string, IndexedProvider>;
  /** Bumped whenever a provider is added or removed (not when one changes capacity). */
  readonly fleetVersion: number;
  /**
   * Entries in the order they were added (a provider removed and added again appears again, as a
   * new entry). Append-only between resets; `joinedEpoch` changes when it is reset (then
   * `fleetVersion` changes too), so a reader that remembers (epoch, length) sees exactly who joined
   * since.
   */
  readonly joined: readonly IndexedProvider[];
  readonly joinedEpoch: number;
  upsert(p: ProviderCapacity): void;
  remove(address: string): void;
  /** True when the provider can take the task now (a free slot, memory, GPU, not excluded, in `only`). */
  fits(e: IndexedProvider, t: TaskRequirements): boolean;
  /** The providers named in `t.only` that fit the task now, each looked up (no search). */
  fittingAmong(t: TaskRequirements & { only: ReadonlySet<string> }): IndexedProvider[];
  /**
   * Up to `k` fitting providers, least loaded first (ties by address), from the providers caching
   * `t.model` (`cachedOnly`) or from all (GPU) providers. Nothing changes.
   */
  leastLoaded(t: TaskRequirements, k: number, cachedOnly: boolean): IndexedProvider[];
  /** One lease more (`+1`) or less (`-1`) on a provider. */
  lease(e: IndexedProvider, delta: 1 | -1): void;
  setCached(address: string, cid: string, cached: boolean): void;
  freeSlots(): number;
};

/**
 * Builds an empty provider index.
 *
 * @example
 * const index = createLoadIndex();
 * index.upsert({ address: '0xa', slots: 2, memoryMiB: 8192, gpu: false, cached: [] });
 * index.leastLoaded({ model: cid, minMemoryMiB: 0, gpu: false }, 1, false); // [0xa's entry]
 */
export function createLoadIndex(): LoadIndex {
  const providers = new Map<string, IndexedProvider>();
  const all = new LoadHeap();
  const gpus = new LoadHeap();
  const byModel = new Map<string, LoadHeap>();
  let free = 0;
  let fleetVersion = 0;
  let joined: IndexedProvider[] = [];
  let joinedEpoch = 0;

  /** Versions come from one counter, so an entry added again never matches its old heap items. */
  let versions = 0;

  function publish(e: IndexedProvider): void {
    e.version = ++versions;
    if (all.size > 4 * providers.size + 1024) compact();
    if (e.active >= e.slots) return; // full providers live in no heap until a slot frees
    const item = { load: e.active / e.slots, address: e.address, version: e.version };
    all.push(item);
    if (e.gpu) gpus.push(item);
    for (const cid of e.cached) heapFor(cid).push(item);
  }

  /** Drops every stale heap item (heaps only grow between pops), keeping memory bounded. */
  function compact(): void {
    all.clear();
    gpus.clear();
    byModel.clear();
    for (const e of providers.values()) {
      if (e.active >= e.slots) continue;
      const item = { load: e.active / e.slots, address: e.address, version: e.version };
      all.push(item);
      if (e.gpu) gpus.push(item);
      for (const cid of e.cached) heapFor(cid).push(item);
    }
  }

  function heapFor(cid: string): LoadHeap {
    let h = byModel.get(cid);
    if (!h) {
      h = new LoadHeap();
      byModel.set(cid, h);
    }
    return h;
  }

  function fits(e: IndexedProvider, t: TaskRequirements): boolean {
    return (
      e.active < e.slots &&
      e.memoryMiB >= t.minMemoryMiB &&
      (!t.gpu || e.gpu) &&
      !t.exclude?.has(e.address) &&
      (t.only === undefined || t.only.has(e.address))
    );
  }

  return {
    providers,
    get fleetVersion() {
      return fleetVersion;
    },
    get joined() {
      return joined;
    },
    get joinedEpoch() {
      return joinedEpoch;
    },
    upsert(p) {
      const old = providers.get(p.address);
      if (old) {
        // Same provider, new capacity (a reconnect, a reputation cap moving): updated in place.
        free -= Math.max(0, old.slots - old.active);
        old.slots = p.slots;
        old.memoryMiB = p.memoryMiB;
        old.gpu = p.gpu;
        old.cached = new Set(p.cached);
        old.active = p.active ?? old.active;
        free += Math.max(0, old.slots - old.active);
        publish(old);
        return;
      }
      const e: IndexedProvider = {
        address: p.address,
        slots: p.slots,
        memoryMiB: p.memoryMiB,
        gpu: p.gpu,
        cached: new Set(p.cached),
        active: p.active ?? 0,
        version: 0,
        live: true,
      };
      providers.set(p.address, e);
      free += Math.max(0, e.slots - e.active);
      fleetVersion++;
      if (joined.length > 4 * providers.size + 1024) {
        joined = [];
        joinedEpoch++;
      }
      joined.push(e);
      publish(e);
    },
    remove(address) {
      const e = providers.get(address);
      if (!e) return;
      free -= Math.max(0, e.slots - e.active);
      e.live = false;
      e.version = ++versions; // its heap items are stale now
      providers.delete(address);
      fleetVersion++;
    },
    fits,
    fittingAmong(t) {
      const found: IndexedProvider[] = [];
      for (const address of t.only) {
        const e = providers.get(address);
        if (e && fits(e, t)) found.push(e);
      }
      return found;
    },
    leastLoaded(t, k, cachedOnly) {
      const heap = cachedOnly ? byModel.get(t.model) : t.gpu ? gpus : all;
      if (!heap) return [];
      // Pop live items until k fit (skipping at most MAX_SKIPS_PER_PICK that do not), then put
      // back every live item popped: the heaps are left as they were, minus stale items.
      const popped: HeapItem[] = [];
      const found: IndexedProvider[] = [];
      let skips = 0;
      while (heap.size > 0 && found.length < k && skips < MAX_SKIPS_PER_PICK) {
        const item = heap.pop()!;
        const e = providers.get(item.address);
        if (!e || e.version !== item.version || e.active >= e.slots) continue; // stale
        popped.push(item);
        if (fits(e, t)) found.push(e);
        else skips++;
      }
      for (const item of popped) heap.push(item);
      return found;
    },
    lease(e, delta) {
      e.active += delta;
      free -= delta;
      publish(e);
    },
    setCached(address, cid, cached) {
      const e = providers.get(address);
      if (!e || e.cached.has(cid) === cached) return;
      if (cached) e.cached.add(cid);
      else e.cached.delete(cid);
      publish(e);
    },
    freeSlots() {
      return free;
    },
  };
}
