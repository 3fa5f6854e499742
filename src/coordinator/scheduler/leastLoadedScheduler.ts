import type { ProviderCapacity, Scheduler, TaskRequirements } from './types.ts';

type Entry = {
  address: string;
  slots: number;
  memoryMiB: number;
  gpu: boolean;
  cached: Set<string>;
  active: number;
  /** Bumped on every change, so stale heap items are recognised and dropped. */
  version: number;
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

/**
 * Scheduler v1: among providers that match the task's needs (memory, GPU, a free slot, not
 * excluded), prefer one that already caches the model, then the least loaded (active ÷ slots).
 *
 * Decisions are O(log n) amortised: one heap of all providers by load, one of GPU providers, and
 * one per cached model. Every change pushes a fresh heap item and bumps the provider's version; stale items are
 * dropped when they surface, so nothing is ever searched linearly.
 *
 * @example
 * const s = createLeastLoadedScheduler();
 * s.upsertProvider({ address: '0xA…', slots: 2, memoryMiB: 8192, gpu: false, cached: [] });
 * s.pick({ model: cid, minMemoryMiB: 0, gpu: false }); // '0xA…'
 */
export function createLeastLoadedScheduler(): Scheduler {
  const providers = new Map<string, Entry>();
  // `const` bindings: compact() clears them in place.
  const all = new LoadHeap();
  const gpus = new LoadHeap();
  const byModel = new Map<string, LoadHeap>();
  let free = 0;

  function publish(e: Entry): void {
    e.version++;
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

  function fits(e: Entry, t: TaskRequirements): boolean {
    return e.memoryMiB >= t.minMemoryMiB && (!t.gpu || e.gpu) && !t.exclude?.has(e.address);
  }

  /** Pops the least-loaded live provider that fits; items that fit-but-were-skipped go back. */
  function take(heap: LoadHeap, t: TaskRequirements): Entry | undefined {
    const skipped: HeapItem[] = [];
    let found: Entry | undefined;
    while (heap.size > 0 && skipped.length < MAX_SKIPS_PER_PICK) {
      const item = heap.pop()!;
      const e = providers.get(item.address);
      if (!e || e.version !== item.version || e.active >= e.slots) continue; // stale
      if (fits(e, t)) {
        found = e;
        break;
      }
      skipped.push(item);
    }
    for (const item of skipped) heap.push(item);
    return found;
  }

  return {
    upsertProvider(p: ProviderCapacity) {
      const old = providers.get(p.address);
      if (old) free -= Math.max(0, old.slots - old.active);
      const e: Entry = {
        address: p.address,
        slots: p.slots,
        memoryMiB: p.memoryMiB,
        gpu: p.gpu,
        cached: new Set(p.cached),
        active: p.active ?? old?.active ?? 0,
        version: old?.version ?? 0,
      };
      providers.set(p.address, e);
      free += Math.max(0, e.slots - e.active);
      publish(e);
    },
    removeProvider(address) {
      const e = providers.get(address);
      if (!e) return;
      free -= Math.max(0, e.slots - e.active);
      providers.delete(address);
    },
    pick(t) {
      const cachedHeap = byModel.get(t.model);
      // GPU tasks search only GPU providers, so they never wade through CPU-only ones.
      const e = (cachedHeap && take(cachedHeap, t)) ?? take(t.gpu ? gpus : all, t);
      if (!e) return undefined;
      e.active++;
      free--;
      publish(e);
      return e.address;
    },
    release(address) {
      const e = providers.get(address);
      if (!e || e.active === 0) return;
      e.active--;
      free++;
      publish(e);
    },
    setCached(address, cid, cached) {
      const e = providers.get(address);
      if (!e || e.cached.has(cid) === cached) return;
      if (cached) e.cached.add(cid);
      else e.cached.delete(cid);
      publish(e);
    },
    active(address) {
      return providers.get(address)?.active ?? 0;
    },
    freeSlots() {
      return free;
    },
  };
}
