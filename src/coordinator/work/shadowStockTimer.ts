/**
 * When shadow jobs are stocked (issue 15, review s13 F3; docs/verification.md "Canaries look like
 * work"). A shadow job stocked at the instant of a real submission sat 1–5 ms after a real job in
 * the public job list, where real jobs lie seconds apart: a poller flagged every such follower as
 * a shadow job before any lease. Stocking now runs on a timer of its own: its arrivals are a
 * Poisson process at the recent real submission rate (exponential delays whose mean is an EWMA of
 * the gaps between real submissions), so a stocked job's distance to the nearest real submission
 * is distributed as a real job's distance to its neighbours. A real submission only updates the
 * rate and redraws the pending delay (the exponential is memoryless: redrawing at a rate change
 * keeps the arrivals Poisson); it never stocks. While no real job arrives the mean gap grows with
 * the silence, so shadow jobs do not keep arriving into a quiet list at a past burst's rate.
 */

/** Weight of the newest gap in the EWMA of real submission gaps (about the last ten gaps count). */
export const GAP_EWMA_WEIGHT = 0.1;
/**
 * The shortest mean delay: two submissions in one millisecond must not turn stocking into a
 * loop of store queries (a stock refused for a full stock is one count and one read).
 */
export const MIN_MEAN_GAP_MS = 200;
/** setTimeout's longest delay (a longer one fires at once). */
const MAX_DELAY_MS = 2 ** 31 - 1;

export type ShadowStockTimerOptions = {
  /** Stocks one shadow job submitted `at` (work/shadowStock.ts `stockShadowJob`); true when made. */
  stock: (at: number) => Promise<boolean>;
  /** Called after a shadow job was made (the submitted-jobs counter). */
  onStocked?: () => void;
  onError?: (err: unknown) => void;
  /** Injected in tests: the clock, the uniform draw in [0, 1), the timer. */
  now?: () => number;
  random?: () => number;
  setTimer?: (fire: () => Promise<void>, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
};

export type ShadowStockTimer = {
  /** A real job was submitted `at` (default now): the rate is updated, the next stocking redrawn. */
  submitted(at?: number): void;
  /** The mean delay now (ms); undefined before two real submissions gave a gap. */
  meanGapMs(): number | undefined;
  /** Stops it (coordinator close): no timer stays armed; resolves once a stocking under way ended. */
  stop(): Promise<void>;
};

function defaultSetTimer(fire: () => Promise<void>, ms: number): unknown {
  const t = setTimeout(() => void fire(), ms);
  t.unref();
  return t;
}

/**
 * Builds the stocking timer; it arms itself once two real submissions gave a rate.
 *
 * @example
 * const timer = createShadowStockTimer({ stock: (at) => stockShadowJob(db, events, at) });
 * timer.submitted(); // in the submitter's onSubmitted hook
 * await timer.stop(); // on close
 */
export function createShadowStockTimer(opts: ShadowStockTimerOptions): ShadowStockTimer {
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const setTimer = opts.setTimer ?? defaultSetTimer;
  const clearTimer = opts.clearTimer ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout));
  let ewma: number | undefined;
  let last: number | undefined;
  let handle: unknown;
  let stocking: Promise<void> | undefined;
  let stopped = false;

  const meanGapMs = (): number | undefined => {
    if (ewma === undefined || last === undefined) return undefined;
    return Math.max(MIN_MEAN_GAP_MS, ewma, now() - last);
  };

  const arm = () => {
    if (handle !== undefined) clearTimer(handle);
    handle = undefined;
    const mean = meanGapMs();
    if (stopped || stocking || mean === undefined) return;
    // Inverse CDF of the exponential; 1 - u lies in (0, 1], so the logarithm is finite.
    const delay = Math.min(MAX_DELAY_MS, Math.round(-Math.log(1 - random()) * mean));
    handle = setTimer(fire, delay);
  };

  async function stockOne(): Promise<void> {
    try {
      if (await opts.stock(now())) opts.onStocked?.();
    } catch (err) {
      opts.onError?.(err);
    }
  }

  async function fire(): Promise<void> {
    handle = undefined;
    if (stopped) return;
    stocking = stockOne();
    await stocking;
    stocking = undefined;
    arm();
  }

  return {
    submitted(at = now()) {
      if (last !== undefined) {
        const gap = Math.max(0, at - last);
        ewma = ewma === undefined ? gap : GAP_EWMA_WEIGHT * gap + (1 - GAP_EWMA_WEIGHT) * ewma;
      }
      last = Math.max(at, last ?? at);
      arm();
    },
    meanGapMs,
    async stop() {
      stopped = true;
      if (handle !== undefined) clearTimer(handle);
      handle = undefined;
      await stocking;
    },
  };
}
