/**
 * Online, outlier-robust runtime prediction per (provider, workload).
 *
 * Each (provider, workload) pair keeps a robust running location of log(seconds / work): an
 * online Huber M-estimate whose steps are clipped at c·σ (σ the pair's own running scale), so a
 * straggler that takes 10× longer moves it by a bounded amount instead of dragging a mean. Step
 * sizes decay as 1/n down to a floor, so estimates converge yet keep following a provider whose
 * speed drifts. On top, an additive model log t ≈ b_w + s_p (workload level + provider
 * slowness) is refitted by a few sweeps of weighted alternating means whenever data changed; it
 * predicts pairs never seen together, and a seen pair's own estimate is blended with it by
 * n / (n + prior), so a pair with one lucky run does not override everything known.
 */

/** Tuning of {@link RuntimePredictor}. */
export type RuntimePredictorOptions = {
  /** Huber threshold in robust-scale units. Default 1.5. */
  huber?: number;
  /** Smallest step size, so old estimates keep adapting. Default 0.02. */
  minStep?: number;
  /** Pseudo-count of the additive model when blending with a pair's own estimate. Default 2. */
  pairPrior?: number;
  /** Prior log seconds per unit of work for a workload never seen. Default 0 (1 s per unit). */
  priorLogSeconds?: number;
};

/** Observations between refits of the additive model (at least; see PAIRS_PER_OBSERVATION). */
const REFIT_EVERY = 8;
/**
 * A refit costs three sweeps over every (provider, workload) pair; with many pairs (a fleet of
 * thousands) it waits for one observation per this many pairs, so refitting stays O(1) amortised
 * per observation instead of growing with the fleet. Below 8 × 32 pairs nothing changes.
 */
const PAIRS_PER_OBSERVATION = 32;

type Pair = { provider: number; workload: number; loc: number; scale: number; n: number };

/**
 * Learns provider speed per workload from measured run times.
 *
 * @example
 * const p = new RuntimePredictor();
 * p.observe('0xabc', 'resnet50', 120, 100); // 100 units of work took 120 s
 * p.predict('0xabc', 'resnet50', 50);       // 60 s
 */
export class RuntimePredictor {
  readonly #huber: number;
  readonly #minStep: number;
  readonly #prior: number;
  readonly #priorLog: number;
  /**
   * Pairs by provider index, then workload index (no string key per lookup: predictions sit on
   * the scheduler's hot path).
   */
  readonly #pairGrid: (Pair | undefined)[][] = [];
  readonly #pairList: Pair[] = [];
  /** Name → index, and the additive terms by index (b_w for workloads, s_p for providers). */
  readonly #workloadIndex = new Map<string, number>();
  readonly #providerIndex = new Map<string, number>();
  readonly #workloadLevel: number[] = [];
  readonly #providerLevel: number[] = [];
  #dirty = false;
  #observations = 0;
  #fittedAt = 0;

  constructor(opts: RuntimePredictorOptions = {}) {
    this.#huber = opts.huber ?? 1.5;
    this.#minStep = opts.minStep ?? 0.02;
    this.#prior = opts.pairPrior ?? 2;
    this.#priorLog = opts.priorLogSeconds ?? 0;
  }

  /** Number of observations so far. */
  get observations(): number {
    return this.#observations;
  }

  /**
   * Records that `work` units of `workload` took `seconds` on `providerId`.
   * Non-positive or non-finite measurements are ignored.
   */
  observe(providerId: string, workload: string, seconds: number, work = 1): void {
    if (!(seconds > 0) || !(work > 0) || !Number.isFinite(seconds) || !Number.isFinite(work)) return;
    const y = Math.log(seconds / work);
    const pair = this.#pairOf(providerId, workload);
    if (!pair) {
      // In a small model a new pair refits at once (cheap); in a fleet-sized one that would make
      // every first result cost a sweep over every pair, so a new provider starts from what this
      // one run says about it and the next scheduled refit corrects it.
      const small = this.#pairList.length < REFIT_EVERY * PAIRS_PER_OBSERVATION;
      let pi = this.#providerIndex.get(providerId);
      if (pi === undefined) {
        const known = this.#workloadIndex.get(workload);
        const start = small || known === undefined ? 0 : y - this.#workloadLevel[known]!;
        pi = this.#providerLevel.push(start) - 1;
        this.#providerIndex.set(providerId, pi);
        this.#pairGrid.push([]);
      }
      let wi = this.#workloadIndex.get(workload);
      if (wi === undefined) {
        wi = this.#workloadLevel.push(y - this.#providerLevel[pi]!) - 1;
        this.#workloadIndex.set(workload, wi);
      }
      const fresh = { provider: pi, workload: wi, loc: y, scale: 0.25, n: 1 };
      this.#pairGrid[pi]![wi] = fresh;
      this.#pairList.push(fresh);
      if (small) this.#fittedAt = Number.NEGATIVE_INFINITY; // a new pair refits at once
    } else {
      const r = y - pair.loc;
      const c = this.#huber * pair.scale;
      pair.loc += Math.max(1 / (pair.n + 1), this.#minStep) * Math.min(c, Math.max(-c, r));
      pair.scale = Math.max(0.02, pair.scale + 0.05 * (Math.min(Math.abs(r), 3 * pair.scale) - pair.scale));
      pair.n++;
    }
    this.#dirty = true;
    this.#observations++;
  }

  /** Expected seconds for `work` units of `workload` on `providerId`. */
  predict(providerId: string, workload: string, work = 1): number {
    return Math.exp(this.predictLog(providerId, workload)) * work;
  }

  /** Expected log(seconds per unit of work); unseen providers and workloads fall back to priors. */
  predictLog(providerId: string, workload: string): number {
    // The additive part may lag by a few observations (pairs' own estimates never do): refitting
    // after every single run would dominate replay time for no measurable gain.
    if (
      this.#dirty &&
      this.#observations - this.#fittedAt >=
        Math.max(REFIT_EVERY, Math.ceil(this.#pairList.length / PAIRS_PER_OBSERVATION))
    ) {
      this.#refit();
    }
    const wi = this.#workloadIndex.get(workload);
    const pi = this.#providerIndex.get(providerId);
    const additive =
      (wi === undefined ? this.#priorLog : this.#workloadLevel[wi]!) +
      (pi === undefined ? 0 : this.#providerLevel[pi]!);
    const pair = pi === undefined || wi === undefined ? undefined : this.#pairGrid[pi]![wi];
    if (!pair) return additive;
    const own = pair.n / (pair.n + this.#prior);
    return own * pair.loc + (1 - own) * additive;
  }

  /** How much faster than a typical provider `providerId` runs `workload` (>1 = faster). */
  speedup(providerId: string, workload: string): number {
    return Math.exp(this.#level(workload) - this.predictLog(providerId, workload));
  }

  #level(workload: string): number {
    const wi = this.#workloadIndex.get(workload);
    return wi === undefined ? this.#priorLog : this.#workloadLevel[wi]!;
  }

  #pairOf(providerId: string, workload: string): Pair | undefined {
    const pi = this.#providerIndex.get(providerId);
    const wi = this.#workloadIndex.get(workload);
    return pi === undefined || wi === undefined ? undefined : this.#pairGrid[pi]![wi];
  }

  /** Warm-started sweeps of weighted alternating means for b_w + s_p over all pairs. */
  #refit(): void {
    this.#dirty = false;
    this.#fittedAt = this.#observations;
    const b = this.#workloadLevel;
    const s = this.#providerLevel;
    const bSum = new Float64Array(b.length);
    const bW = new Float64Array(b.length);
    const sSum = new Float64Array(s.length);
    const sW = new Float64Array(s.length);
    for (let sweep = 0; sweep < 3; sweep++) {
      bSum.fill(0);
      bW.fill(0);
      for (const p of this.#pairList) {
        const w = Math.min(p.n, 20);
        bSum[p.workload]! += w * (p.loc - s[p.provider]!);
        bW[p.workload]! += w;
      }
      for (let i = 0; i < b.length; i++) if (bW[i]! > 0) b[i] = bSum[i]! / bW[i]!;
      sSum.fill(0);
      sW.fill(0);
      for (const p of this.#pairList) {
        const w = Math.min(p.n, 20);
        sSum[p.provider]! += w * (p.loc - b[p.workload]!);
        sW[p.provider]! += w;
      }
      for (let i = 0; i < s.length; i++) if (sW[i]! > 0) s[i] = sSum[i]! / sW[i]!;
    }
  }
}

/**
 * The naive baseline: the running mean of seconds per unit of work for each (provider, workload)
 * pair, falling back to the workload's mean, then to 1 s per unit. Not robust: one straggler
 * shifts the mean by its full size over n.
 *
 * @example
 * const m = new MeanRuntimeEstimator();
 * m.observe('p', 'w', 10, 1);
 * m.predict('p', 'w'); // 10
 */
export class MeanRuntimeEstimator {
  readonly #pair = new Map<string, { sum: number; n: number }>();
  readonly #workload = new Map<string, { sum: number; n: number }>();

  observe(providerId: string, workload: string, seconds: number, work = 1): void {
    if (!(seconds > 0) || !(work > 0)) return;
    for (const [map, key] of [
      [this.#pair, `${providerId}\u0000${workload}`],
      [this.#workload, workload],
    ] as const) {
      const e = map.get(key) ?? { sum: 0, n: 0 };
      e.sum += seconds / work;
      e.n++;
      map.set(key, e);
    }
  }

  predict(providerId: string, workload: string, work = 1): number {
    const e = this.#pair.get(`${providerId}\u0000${workload}`) ?? this.#workload.get(workload);
    return (e ? e.sum / e.n : 1) * work;
  }
}
