/**
 * `npm run bench -- scheduler`: assignment decisions per second and p99 decision latency of
 * scheduler v1 with 10,000 connected providers (simulated, in-process) and 100,000 queued tasks,
 * against a baseline linear-scan scheduler (the obvious implementation) in the same run.
 * Options: --providers N --tasks N --seed N
 */
import { createLeastLoadedScheduler } from '../src/coordinator/scheduler/leastLoadedScheduler.ts';
import { createPredictiveScheduler } from '../src/coordinator/scheduler/predictiveScheduler.ts';
import type { ProviderCapacity, Scheduler, TaskRequirements } from '../src/coordinator/scheduler/types.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}

/** Small deterministic PRNG (mulberry32), so every run sees the same fleet and tasks. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODELS = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(64, '0'));

function fleet(n: number, r: () => number): ProviderCapacity[] {
  return Array.from({ length: n }, (_, i) => ({
    address: `0x${i.toString(16).padStart(40, '0')}`,
    slots: 1 + Math.floor(r() * 8),
    memoryMiB: [4096, 8192, 16384, 65536][Math.floor(r() * 4)]!,
    gpu: r() < 0.3,
    cached: MODELS.filter(() => r() < 0.1),
  }));
}

function tasks(n: number, r: () => number): TaskRequirements[] {
  return Array.from({ length: n }, () => ({
    model: MODELS[Math.floor(r() * MODELS.length)]!,
    minMemoryMiB: r() < 0.2 ? 8192 : 0,
    gpu: r() < 0.1,
  }));
}

/** The baseline: scan every provider for each decision (what a first version would do). */
function createLinearScanScheduler(): Scheduler {
  const ps = new Map<string, { p: ProviderCapacity; cached: Set<string>; active: number }>();
  return {
    upsertProvider(p) {
      ps.set(p.address, { p, cached: new Set(p.cached), active: ps.get(p.address)?.active ?? 0 });
    },
    removeProvider(a) {
      ps.delete(a);
    },
    pick(t) {
      let best: { p: ProviderCapacity; active: number } | undefined;
      let bestScore = Number.POSITIVE_INFINITY;
      for (const e of ps.values()) {
        if (e.active >= e.p.slots || e.p.memoryMiB < t.minMemoryMiB || (t.gpu && !e.p.gpu)) continue;
        const score = (e.cached.has(t.model) ? 0 : 2) + e.active / e.p.slots;
        if (score < bestScore) {
          bestScore = score;
          best = e;
        }
      }
      if (!best) return undefined;
      best.active++;
      return best.p.address;
    },
    release(a) {
      const e = ps.get(a);
      if (e && e.active > 0) e.active--;
    },
    setCached(a, cid, c) {
      const e = ps.get(a);
      if (e) c ? e.cached.add(cid) : e.cached.delete(cid);
    },
    active(a) {
      return ps.get(a)?.active ?? 0;
    },
    freeSlots() {
      let f = 0;
      for (const e of ps.values()) f += e.p.slots - e.active;
      return f;
    },
  };
}

function measure(s: Scheduler, providers: ProviderCapacity[], queue: TaskRequirements[]) {
  for (const p of providers) s.upsertProvider(p);
  const capacity = providers.reduce((n, p) => n + p.slots, 0);
  // In-flight assignments complete oldest-first once the fleet is 90% busy: a steady state.
  const inFlight: string[] = [];
  let head = 0;
  const lat = new Float64Array(queue.length);
  let decided = 0;
  let unplaced = 0;
  const t0 = process.hrtime.bigint();
  for (const task of queue) {
    while (inFlight.length - head >= capacity * 0.9) s.release(inFlight[head++]!);
    const a = process.hrtime.bigint();
    const who = s.pick(task);
    lat[decided++] = Number(process.hrtime.bigint() - a) / 1e6;
    if (who) inFlight.push(who);
    else unplaced++;
  }
  const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const sorted = Array.from(lat.subarray(0, decided)).sort((x, y) => x - y);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return {
    decisions: decided,
    unplaced,
    decisionsPerSec: Math.round(decided / (totalMs / 1000)),
    p50Ms: Number(q(0.5).toFixed(4)),
    p99Ms: Number(q(0.99).toFixed(4)),
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const nProviders = arg(args, 'providers', 10_000);
  const nTasks = arg(args, 'tasks', 100_000);
  const seed = arg(args, 'seed', 1);
  const r = rng(seed);
  const providers = fleet(nProviders, r);
  const queue = tasks(nTasks, r);
  console.log(`scheduler bench: ${nProviders} providers, ${nTasks} queued tasks, seed ${seed}, one core`);
  const ours = measure(createLeastLoadedScheduler(), providers, queue);
  console.log('least-loaded (v1):', ours);
  // The baseline is O(providers) per decision, so it runs a tenth of the queue.
  const baseline = measure(createLinearScanScheduler(), providers, queue.slice(0, Math.ceil(nTasks / 10)));
  console.log('linear scan (baseline, first 10% of the queue):', baseline);
  console.log(`speed-up: ${(ours.decisionsPerSec / baseline.decisionsPerSec).toFixed(1)}×`);
  // The learned scheduler scans the fitting providers too: shown for scale, on the same 10%.
  const predictive = measure(createPredictiveScheduler(), providers, queue.slice(0, Math.ceil(nTasks / 10)));
  console.log('predictive (learned, first 10% of the queue):', predictive);
  return { providers: nProviders, tasks: nTasks, seed, ours, baseline, predictive };
}
