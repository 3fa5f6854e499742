/**
 * The predictive scheduler's fast candidate selection (load heaps, then a walk of the model's speed
 * order) against the exhaustive ranking it replaced, in fleets above ALWAYS_FRESH_FLEET (where
 * orders are reused and the walk is capped): it never picks an ineligible provider, it declines
 * only when nothing fits; with a fresh order and a walk under its cap its choice is the exact
 * argmin; with learning and churn going on it is on at least 90 % of decisions (92 % measured) and
 * never expected to finish 3× later than the argmin (2.61× measured).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimePredictor } from '../../intelligence/runtime/runtimePredictor.ts';
import { createPredictiveScheduler } from './predictiveScheduler.ts';
import type { TaskRequirements } from './types.ts';

const MODELS = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64));

type SimProvider = {
  address: string;
  slots: number;
  memoryMiB: number;
  gpu: boolean;
  cached: Set<string>;
  speed: number;
};

function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 16807) % 2147483647;
    return x / 2147483647;
  };
}

function makeFleet(n: number, rand: () => number, from = 0): SimProvider[] {
  return Array.from({ length: n }, (_, i) => ({
    address: `0x${(from + i).toString(16).padStart(6, '0')}`,
    slots: 1 + Math.floor(rand() * 4),
    memoryMiB: rand() < 0.5 ? 4096 : 16384,
    gpu: rand() < 0.3,
    cached: new Set(MODELS.filter(() => rand() < 0.15)),
    speed: Math.exp(2 * rand()),
  }));
}

/** The exhaustive ranking: (caches the model, predicted time × (1 + load), address) over every fitting provider. */
function exhaustive(
  t: TaskRequirements,
  fleet: Iterable<SimProvider>,
  active: (a: string) => number,
  predictor: RuntimePredictor,
): { who: string | undefined; expected: number } {
  let who: string | undefined;
  let key: [number, number] = [2, 0];
  for (const p of fleet) {
    const a = active(p.address);
    if (!fits(p, a, t)) continue;
    const k: [number, number] = [
      p.cached.has(t.model) ? 0 : 1,
      predictor.predict(p.address, t.model) * (1 + a / p.slots),
    ];
    if (k[0] < key[0] || (k[0] === key[0] && (k[1] < key[1] || (k[1] === key[1] && p.address < who!)))) {
      who = p.address;
      key = k;
    }
  }
  return { who, expected: key[1] };
}

function fits(p: SimProvider, active: number, t: TaskRequirements): boolean {
  return active < p.slots && p.memoryMiB >= t.minMemoryMiB && (!t.gpu || p.gpu) && !t.exclude?.has(p.address);
}

test('predictive at 2,000 providers with churn and learning: never ineligible, almost always the exhaustive argmin', () => {
  const rand = lcg(11);
  const predictor = new RuntimePredictor();
  const s = createPredictiveScheduler({ predictor });
  const fleet = new Map(makeFleet(2000, rand).map((p) => [p.address, p]));
  for (const p of fleet.values()) s.upsertProvider({ ...p, cached: [...p.cached] });
  // Everyone has run every model a few times: the predictor knows the fleet.
  for (let r = 0; r < 2; r++)
    for (const p of fleet.values())
      for (const m of MODELS) s.observe?.(p.address, m, p.speed * (1 + rand() * 0.1));
  const inFlight: [string, string][] = [];
  let joinedSoFar = 2000;
  let compared = 0;
  let same = 0;
  let worstRatio = 1;
  for (let i = 0; i < 6000; i++) {
    // Churn: joins, leaves, capacity changes (a reputation cap moving), cache changes.
    const roll = rand();
    const addresses = [...fleet.keys()];
    if (roll < 0.01) {
      const [p] = makeFleet(1, rand, joinedSoFar++);
      fleet.set(p!.address, p!);
      s.upsertProvider({ ...p!, cached: [...p!.cached] });
    } else if (roll < 0.02) {
      const gone = addresses[Math.floor(rand() * addresses.length)]!;
      fleet.delete(gone);
      s.removeProvider(gone);
      for (let k = inFlight.length - 1; k >= 0; k--) if (inFlight[k]![0] === gone) inFlight.splice(k, 1);
    } else if (roll < 0.04) {
      const p = fleet.get(addresses[Math.floor(rand() * addresses.length)]!)!;
      p.slots = 1 + Math.floor(rand() * 4);
      s.upsertProvider({ ...p, cached: [...p.cached], active: s.active(p.address) });
    } else if (roll < 0.05) {
      const p = fleet.get(addresses[Math.floor(rand() * addresses.length)]!)!;
      const m = MODELS[Math.floor(rand() * MODELS.length)]!;
      const on = !p.cached.has(m);
      if (on) p.cached.add(m);
      else p.cached.delete(m);
      s.setCached(p.address, m, on);
    }
    // Completions: learning goes on while deciding (the orders go stale between rebuilds).
    while (inFlight.length > 2500 || (inFlight.length > 0 && rand() < 0.4)) {
      const [who, model] = inFlight.splice(Math.floor(rand() * inFlight.length), 1)[0]!;
      s.release(who);
      s.observe?.(who, model, fleet.get(who)!.speed * (1 + rand() * 0.1));
    }
    const excluded = addresses
      .slice(0, Math.floor(rand() * 3))
      .map(() => addresses[Math.floor(rand() * addresses.length)]!);
    const t: TaskRequirements = {
      model: MODELS[i % MODELS.length]!,
      minMemoryMiB: rand() < 0.3 ? 8192 : 0,
      gpu: rand() < 0.15,
      ...(excluded.length > 0 ? { exclude: new Set(excluded) } : {}),
    };
    const exact = exhaustive(t, fleet.values(), s.active, predictor);
    const activeBefore = new Map<string, number>();
    if (exact.who) activeBefore.set(exact.who, s.active(exact.who));
    const who = s.pick(t);
    if (exact.who === undefined) {
      assert.equal(who, undefined, `decision ${i}: nothing fits, yet it picked ${who}`);
      continue;
    }
    assert.ok(who !== undefined, `decision ${i}: ${exact.who} fits, yet nothing was picked`);
    const p = fleet.get(who);
    assert.ok(p, `decision ${i}: picked ${who}, which is not connected`);
    const a = s.active(who) - 1;
    assert.ok(fits(p, a, t), `decision ${i}: picked ${who}, which does not fit`);
    assert.equal(
      p.cached.has(t.model),
      fleet.get(exact.who)!.cached.has(t.model),
      `decision ${i}: the cache rule (a fitting provider caching the model comes first)`,
    );
    compared++;
    if (who === exact.who) same++;
    else {
      const expected = predictor.predict(who, t.model) * (1 + a / p.slots);
      worstRatio = Math.max(worstRatio, expected / exact.expected);
    }
    inFlight.push([who, t.model]);
  }
  assert.ok(compared > 5000, `${compared} decisions compared`);
  // Measured (seed 11): the exact argmin on 5,521 of 6,000 decisions (92 %), the worst miss expected to
  // finish 2.61× later; the scheduler before this change (orders rebuilt on every fleet change,
  // rebuilt after fleet-size observations of any model) got 4,595 (77 %), worst 2.42×.
  // Misses come from predictions that moved since the order was built (young pairs here: two runs each).
  assert.ok(same / compared >= 0.9, `the exact argmin on ${same} of ${compared} decisions`);
  assert.ok(worstRatio < 3, `worst expected finish ${worstRatio.toFixed(3)}× the exact argmin's`);
});

test('predictive at 2,000 providers: with a fresh order and fewer than 32 providers within 2× of the best, always the exhaustive argmin', () => {
  const rand = lcg(5);
  const predictor = new RuntimePredictor();
  const s = createPredictiveScheduler({ predictor });
  const fleet = makeFleet(2000, rand);
  // Speeds 2^(k/16) for a shuffled k: at most 16 providers per doubling, so a walk bounded by 2×
  // the first fitting provider's time never reaches the cap of 32 ranked.
  const ks = fleet.map((_, i) => i);
  for (let i = ks.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [ks[i], ks[j]] = [ks[j]!, ks[i]!];
  }
  fleet.forEach((p, i) => {
    p.speed = 2 ** (ks[i]! / 16);
  });
  for (const p of fleet) s.upsertProvider({ ...p, cached: [...p.cached] });
  for (let r = 0; r < 3; r++)
    for (const p of fleet) for (const m of MODELS) s.observe?.(p.address, m, p.speed);
  const byAddress = new Map(fleet.map((p) => [p.address, p]));
  for (let i = 0; i < 3000; i++) {
    if (i % 10 === 0) {
      // A capacity change on the way (a reputation cap moving) must not make the order wrong.
      const p = fleet[Math.floor(rand() * fleet.length)]!;
      p.slots = 1 + Math.floor(rand() * 4);
      s.upsertProvider({ ...p, cached: [...p.cached], active: s.active(p.address) });
    }
    const t: TaskRequirements = {
      model: MODELS[i % MODELS.length]!,
      minMemoryMiB: rand() < 0.3 ? 8192 : 0,
      gpu: rand() < 0.15,
      exclude: new Set([fleet[Math.floor(rand() * fleet.length)]!.address]),
    };
    const exact = exhaustive(t, fleet, s.active, predictor);
    const who = s.pick(t);
    assert.equal(who, exact.who, `decision ${i}`);
    if (who)
      assert.ok(
        fits(byAddress.get(who)!, s.active(who) - 1, t),
        'fits(byAddress.get(who)!, s.active(who) - 1, t)',
      );
    if (i % 3 === 2) s.release(fleet[Math.floor(rand() * fleet.length)]!.address);
  }
});

test('predictive: a capacity change (reputation refresh) or a join does not rebuild the speed orders', () => {
  let predictions = 0;
  class CountingPredictor extends RuntimePredictor {
    override predictLog(p: string, w: string): number {
      predictions++;
      return super.predictLog(p, w);
    }
  }
  const s = createPredictiveScheduler({ predictor: new CountingPredictor() });
  const rand = lcg(3);
  const fleet = makeFleet(5000, rand);
  for (const p of fleet) s.upsertProvider({ ...p, cached: [...p.cached] });
  for (const p of fleet) s.observe?.(p.address, MODELS[0]!, p.speed);
  const t = { model: MODELS[0]!, minMemoryMiB: 0, gpu: false };
  assert.ok(s.pick(t), 's.pick(t)');
  predictions = 0;
  for (let i = 0; i < 50; i++) {
    const p = fleet[i]!;
    s.upsertProvider({ ...p, cached: [...p.cached], slots: p.slots + 1, active: s.active(p.address) });
    const [joiner] = makeFleet(1, rand, 10_000 + i);
    s.upsertProvider({ ...joiner!, cached: [...joiner!.cached] });
    assert.ok(s.pick(t), 's.pick(t)');
  }
  // 50 decisions: a few dozen predictions each, far below one rebuild (5,000 predictions).
  assert.ok(predictions < 5000, `${predictions} predictions for 50 decisions`);
});
