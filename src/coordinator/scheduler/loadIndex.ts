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
  /** The index's own: the last model-heap compaction that kept an item of this provider. */
  mark: number;
};

type HeapItem = { load: number; address: string; version: number };

/** A binary min-heap on (load, address). Stale items are skipped lazily by version. */
class LoadHeap {
  private items: HeapItem[] = [];
  /** For a model's heap: how many providers cache the model now (its compaction bound). */
  holders = 0;

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items = [];
  }

  push(item: HeapItem): void {
    ops.pushes++;
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
      this.down(0);
    }
    return top;
  }

  /** Keeps only the items `keep` accepts, and restores the heap order in O(size). */
  retain(keep: (item: HeapItem) => boolean): void {
    ops.compacted += this.items.length;
    this.items = this.items.filter(keep);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private down(i: number): void {
    const a = this.items;
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
}

/**
 * Work done on the heaps since the process started: items pushed, and items looked at by
 * compactions. Tests read it to show that a change costs what it should (not wall time).
 */
export const ops = { pushes: 0, compacted: 0 };

function less(x: HeapItem, y: HeapItem): boolean {
  return x.load < y.load || (x.load === y.load && x.address < y.address);
}

/** How many fitting-but-skipped candidates a pick examines before giving up on a heap. */
const MAX_SKIPS_PER_PICK = 64;
/**
 * A model's heap is compacted once it holds more than this many items per provider caching the
 * model (plus MODEL_HEAP_SLACK): stale items (older loads, removed cids) never outnumber the live
 * ones by more than this factor, and a compaction, O(size), is paid for by the pushes since the last.
 */
const MODEL_HEAP_ITEMS_PER_HOLDER = 4;
const MODEL_HEAP_SLACK = 16;

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
  /** What the provider caches now (undefined for an unknown provider). */
  cachedOf(address: string): ReadonlySet<string> | undefined;
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

  /**
   * The provider's load changed (or it was added): a new version, and an item in each of its
   * heaps (every older item of it is stale now). O(|cached| · log n): `cached` is bounded
   * (MAX_ADVERTISED_CACHE in protocol/constants.ts).
   */
  function publish(e: IndexedProvider): void {
    e.version = ++versions;
    if (all.size > 4 * providers.size + 1024) compact();
    if (e.active >= e.slots) return; // full providers live in no heap until a slot frees
    const item = itemOf(e);
    all.push(item);
    if (e.gpu) gpus.push(item);
    for (const cid of e.cached) pushModel(cid, item);
  }

  function itemOf(e: IndexedProvider): HeapItem {
    return { load: e.active / e.slots, address: e.address, version: e.version };
  }

  /** Drops every stale item of the fleet heaps (they only grow between pops), keeping memory bounded. */
  function compact(): void {
    all.clear();
    gpus.clear();
    for (const e of providers.values()) {
      if (e.active >= e.slots) continue;
      const item = itemOf(e);
      all.push(item);
      if (e.gpu) gpus.push(item);
    }
  }

  /** Model-heap compactions so far (each marks the providers whose item it kept). */
  let compactions = 0;

  /**
   * Pushes `item` into `cid`'s heap, compacting that heap by its own size (stale items of its
   * holders, duplicates of a cid removed and added again) before it outgrows its holders.
   */
  function pushModel(cid: string, item: HeapItem): void {
    const h = byModel.get(cid);
    if (!h) return; // nobody holds it (cannot happen: a holder's cid has a heap)
    if (h.size >= MODEL_HEAP_ITEMS_PER_HOLDER * h.holders + MODEL_HEAP_SLACK) {
      const mark = ++compactions;
      h.retain((x) => {
        const e = providers.get(x.address);
        // Only a provider's current item while it caches the model and has a free slot; live
        // items of one provider are equal (same version): one is kept.
        if (!e || e.version !== x.version || e.active >= e.slots || e.mark === mark || !e.cached.has(cid))
          return false;
        e.mark = mark;
        return true;
      });
    }
    h.push(item);
  }

  /** One more provider caches `cid` (the model's heap counts its holders). */
  function hold(cid: string): void {
    let h = byModel.get(cid);
    if (!h) {
      h = new LoadHeap();
      byModel.set(cid, h);
    }
    h.holders++;
  }

  /** One provider less caches `cid`: its item there goes stale; a model nobody holds has no heap. */
  function unhold(cid: string): void {
    const h = byModel.get(cid);
    if (!h) return;
    if (--h.holders <= 0) byModel.delete(cid);
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
        for (const cid of old.cached) unhold(cid);
        old.cached = new Set(p.cached);
        for (const cid of old.cached) hold(cid);
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
        mark: 0,
      };
      providers.set(p.address, e);
      for (const cid of e.cached) hold(cid);
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
      for (const cid of e.cached) unhold(cid);
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
        if (cachedOnly && !e.cached.has(t.model)) continue; // the model left its cache
        // A cid removed and added again left two equal items: they pop one after the other.
        if (popped.length > 0 && popped[popped.length - 1]!.address === item.address) continue;
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
      // Only this cid's heap changes (O(log n)): the provider's load, hence its items in its
      // other heaps, stays as it was (review s12 F1: re-publishing them all made a cache message
      // of n cids cost O(n · |cached|)). A removed cid's item is dropped when a pick meets it.
      if (cached) {
        e.cached.add(cid);
        hold(cid);
        if (e.active < e.slots) pushModel(cid, itemOf(e));
      } else {
        e.cached.delete(cid);
        unhold(cid);
      }
    },
    cachedOf(address) {
      return providers.get(address)?.cached;
    },
    freeSlots() {
      return free;
    },
  };
}
