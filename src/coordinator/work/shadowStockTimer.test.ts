/**
 * The shadow stock timer (review s13 F3, issue 15): a stocked shadow job must not be told from a
 * real one by where it falls among real submissions. The reviewer's poller flagged every job that
 * sat ≤ 50 ms after the previous one; the old stocking (at the instant of each real submission)
 * put every shadow job 1–5 ms after a real one. Here real submissions are a seeded Poisson stream
 * on a fake clock (no timing under load can flake it) and the timer's stockings are compared with
 * real jobs: the distance to the nearest other real submission must be distributed alike. The
 * same check flags the old schedule (the control), so it would fail on the old code's stockings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createShadowStockTimer, MIN_MEAN_GAP_MS, type ShadowStockTimerOptions } from './shadowStockTimer.ts';

/** A seeded uniform draw in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fake clock with the timer's one pending timeout. */
function fakeClock() {
  let t = 0;
  let pending: { fire: () => Promise<void>; due: number; token: symbol } | undefined;
  const hooks: Pick<ShadowStockTimerOptions, 'now' | 'setTimer' | 'clearTimer'> = {
    now: () => t,
    setTimer: (fire, ms) => {
      assert.equal(pending, undefined, 'at most one stocking timer is armed');
      const token = Symbol('timer');
      pending = { fire, due: t + ms, token };
      return token;
    },
    clearTimer: (h) => {
      if (pending?.token === h) pending = undefined;
    },
  };
  return {
    hooks,
    armed: () => pending !== undefined,
    /** Runs every timer due up to `until`, then sets the clock to it. */
    async advance(until: number) {
      while (pending && pending.due <= until) {
        const { fire, due } = pending;
        pending = undefined;
        t = due;
        await fire();
      }
      t = until;
    },
  };
}

/** Each point's distance to the nearest of `reals` (sorted), `self` excluded. */
function nearest(points: number[], reals: number[], self: boolean): number[] {
  return points.map((p, i) => {
    let lo = 0;
    let hi = reals.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (reals[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    const before = self ? reals[i - 1] : reals[lo - 1];
    const after = self ? reals[i + 1] : reals[lo];
    return Math.min(before === undefined ? Infinity : p - before, after === undefined ? Infinity : after - p);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const within = (xs: number[], ms: number) => xs.filter((x) => x <= ms).length / xs.length;

/** Why `shadows` stand out among `reals` by their distance to real submissions, or undefined. */
function tell(reals: number[], shadows: number[]): string | undefined {
  const real = nearest(reals, reals, true);
  const shadow = nearest(shadows, reals, false);
  const close = { real: within(real, 50), shadow: within(shadow, 50) };
  if (close.shadow > 2 * close.real + 0.02)
    return `${(close.shadow * 100).toFixed(1)}% of shadow jobs within 50 ms of a real one (real: ${(close.real * 100).toFixed(1)}%)`;
  if (median(shadow) < 0.7 * median(real))
    return `median distance ${median(shadow)} ms (real: ${median(real)} ms)`;
  return undefined;
}

/** `n` real submissions, exponential gaps of mean `meanMs` from `seed`. */
function poisson(n: number, meanMs: number, seed: number): number[] {
  const u = seeded(seed);
  const out: number[] = [];
  let t = 1_000;
  for (let i = 0; i < n; i++) {
    t += Math.round(-Math.log(1 - u()) * meanMs);
    out.push(t);
  }
  return out;
}

test('stocked shadow jobs fall among real submissions like real ones: the gap to the nearest real job is not systematically tiny', async () => {
  for (const seed of [1, 2, 3]) {
    const reals = poisson(1500, 1700, seed);
    const clock = fakeClock();
    const stocked: number[] = [];
    const timer = createShadowStockTimer({
      stock: async (at) => {
        stocked.push(at);
        return true;
      },
      random: seeded(1000 + seed),
      ...clock.hooks,
    });
    for (const r of reals) {
      await clock.advance(r);
      const before = stocked.length;
      timer.submitted(r);
      assert.equal(stocked.length, before, 'a real submission stocks nothing');
    }
    await timer.stop();
    assert.ok(stocked.length > 1000, `stockings at about the real rate (${stocked.length} for 1500 real)`);
    assert.equal(tell(reals, stocked), undefined, `seed ${seed}: the stocked jobs stand out`);
    // The control: the old schedule (a shadow job a few ms after each real one) is flagged.
    assert.ok(
      tell(
        reals,
        reals.map((r) => r + 3),
      ) !== undefined,
      'the old stocking is told apart',
    );
  }
});

test('no stocking before a rate is known; during a silence the mean gap grows and stockings thin out', async () => {
  const clock = fakeClock();
  let stocked = 0;
  const timer = createShadowStockTimer({
    stock: async () => {
      stocked++;
      return false;
    },
    random: seeded(7),
    ...clock.hooks,
  });
  timer.submitted(0);
  assert.equal(clock.armed(), false, 'one submission gives no rate: nothing armed');
  for (let t = 1_000; t <= 10_000; t += 1_000) {
    await clock.advance(t);
    timer.submitted(t);
  }
  assert.equal(timer.meanGapMs(), 1_000, 'the EWMA of 1 s gaps');
  await clock.advance(10_000 + 600_000);
  assert.ok(stocked < 40, `ten silent minutes at a 1 s rate would stock ~600 times; ${stocked}`);
  assert.ok((timer.meanGapMs() ?? 0) >= 600_000, 'the mean gap follows the silence');
  await timer.stop();
  assert.equal(clock.armed(), false, 'stopped: nothing armed');
});

test('a burst in one millisecond does not turn stocking into a loop; a failed stock is reported and stocking goes on', async () => {
  const clock = fakeClock();
  const errors: unknown[] = [];
  let calls = 0;
  const timer = createShadowStockTimer({
    stock: async () => {
      calls++;
      throw new Error('store down');
    },
    onError: (err) => errors.push(err),
    random: seeded(9),
    ...clock.hooks,
  });
  for (let i = 0; i < 50; i++) timer.submitted(5);
  assert.equal(timer.meanGapMs(), MIN_MEAN_GAP_MS, 'the mean gap has a floor');
  await clock.advance(5 + 60_000);
  assert.ok(calls >= 1 && calls < 60, `a few stockings, thinning as the silence grows: ${calls}`);
  assert.equal(errors.length, calls, 'every failure reported');
  await timer.stop();
  assert.equal(clock.armed(), false, 'stopped: nothing armed');
});

test('stop during a stocking waits for it and arms nothing after', async () => {
  const clock = fakeClock();
  let release: (() => void) | undefined;
  const timer = createShadowStockTimer({
    stock: () =>
      new Promise<boolean>((resolve) => {
        release = () => resolve(true);
      }),
    random: () => 0.5,
    ...clock.hooks,
  });
  timer.submitted(0);
  timer.submitted(1_000);
  assert.equal(clock.armed(), true, 'armed once a rate is known');
  const advanced = clock.advance(10_000);
  await new Promise((r) => setImmediate(r));
  assert.ok(release, 'a stocking is under way');
  let stopped = false;
  const stopping = timer.stop().then(() => {
    stopped = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(stopped, false, 'stop waits for the stocking under way');
  release();
  await stopping;
  await advanced;
  assert.equal(clock.armed(), false, 'nothing armed after stop');
});
