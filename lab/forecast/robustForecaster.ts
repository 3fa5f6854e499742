/**
 * The Plexus demand forecaster: a model *selector* that degrades gracefully to the baselines.
 *
 * A fitted model that wins on one trace can lose to the last value on the next (issue 23: the
 * ridge autoregression lost to naive on another Azure service and made one runaway forecast).
 * So every candidate — naive, seasonal naive, a few robust smoothers, an intermittent-demand
 * model and the ridge autoregression — runs side by side, one step ahead, on data it has not
 * been fitted on, and the forecast comes from the candidate with the lowest recent error, but
 * only when the validation shows a real gain over naive — a margin in MAE, a paired t statistic
 * on the per-step savings, a sign test and a minimum number of steps won — otherwise naive it
 * is; weak evidence buys a blend of the candidate with naive rather than the candidate alone.
 * The selection itself is then scored like a candidate (its own one-step forecasts against
 * naive's) and used only while that record beats naive by the margin (see #gate): choosing the
 * best of many noisy validation scores flatters the winner. Where it has not earned its place
 * and the series is mostly empty (non-zero in under a third of the intervals, discounted) with
 * zero forecasting it at least as well as naive over the history, the forecast is 0: naive
 * repeats every lone burst once, the median of a mostly-empty count is 0. Errors are discounted (half-life
 * `halfLife` steps), so the choice follows a series whose character changes. Every candidate's
 * forecast passes the {@link plausibleBounds guard rails} before it is scored or used. A
 * prediction interval comes from the selected candidate's own recent one-step errors
 * (empirical quantiles, i.e. split-conformal style), so its width is measured, not assumed.
 */
import { ArrivalForecaster } from './arrivalForecaster.ts';
import { type Forecaster, NaiveForecaster, SeasonalNaiveForecaster } from './forecaster.ts';
import { clampForecast, type GuardRailOptions, plausibleBounds } from './guardRails.ts';
import { IntermittentForecaster } from './intermittent.ts';
import {
  MovingMedianForecaster,
  SeasonalMedianForecaster,
  SeasonalStepForecaster,
  SesForecaster,
} from './simpleForecasters.ts';

/**
 * Steps (all since the fit) on which a candidate must have beaten naive before it may be chosen: on a
 * series that is empty almost always, one echo of a lone spike avoided is not evidence.
 */
const MIN_BEATS = 5;

/** Options of {@link RobustForecaster}. */
export type RobustForecasterOptions = {
  /** Season length in steps (24 for hourly data with a daily cycle); 0 for none. Default 0. */
  period?: number;
  /** Relative MAE gain over naive a candidate needs before it replaces naive. Default 0.03. */
  margin?: number;
  /**
   * How sure the gain must be: the candidate's mean per-step error saving over naive, divided by
   * its standard error, must reach this (a one-sided paired t statistic). Default 0.5: heavy-tailed
   * savings (bursty counts) make t small even for a real gain, and the sign test below and the
   * blend with naive carry the rest of the caution.
   */
  minT?: number;
  /**
   * Sign-test z a candidate needs: (steps it beat naive − steps it lost) ÷ √(both), discounted
   * like the errors. A mean saving carried by one lucky burst while losing most ordinary steps
   * (a smoother right after a lone spike) is not a gain. Default 0 (it must win at least as often as it loses).
   */
  minSignZ?: number;
  /** Half-life, in steps, of the discounted validation error. Default max(48, 2·period). */
  halfLife?: number;
  /** Validation steps seen before anything but naive may be chosen. Default 48. */
  minValidation?: number;
  /** Guard-rail window and headroom (see {@link plausibleBounds}). Window default max(48, 2·period). */
  guard?: GuardRailOptions;
  /** Residuals kept per candidate for the prediction interval. Default 200. */
  residualWindow?: number;
  /**
   * Steps the selection itself must have been scored on (its own forecasts against naive's, one
   * step ahead, before each value was seen) before its forecast is used. Default 24.
   */
  minSelectionSteps?: number;
  /**
   * Largest (discounted) share of non-zero values for which a series counts as sparse and may be
   * forecast 0 when the selection has not earned its place (see #gate). Default 1/3 (chosen on the
   * development split: 0.5 let two bursty series lose 9–16% to naive there); 0 turns the rule off.
   */
  sparseShare?: number;
  /** Replaces the candidate set; the first must be the naive forecaster (the fallback). */
  candidates?: () => Forecaster[];
};

/**
 * The default candidates for a season of `period` steps: naive first (the fallback), then seasonal
 * naive, the smoothers, TSB for intermittent counts and the ridge autoregression.
 *
 * @example
 * defaultCandidates(24).map((c) => c.name); // ['naive', 'seasonal-naive(24)', ...]
 */
export function defaultCandidates(period: number): Forecaster[] {
  const out: Forecaster[] = [new NaiveForecaster()];
  if (period > 1) out.push(new SeasonalNaiveForecaster(period));
  out.push(
    new MovingMedianForecaster(3),
    new MovingMedianForecaster(5),
    new SesForecaster(0.3),
    new SesForecaster(0.1),
    new IntermittentForecaster(),
  );
  if (period > 1) out.push(new SeasonalMedianForecaster(period, 3), new SeasonalStepForecaster(period));
  out.push(new ArrivalForecaster({ period: period > 1 ? period : 0, refitEvery: 24 }));
  return out;
}

/** What {@link RobustForecaster.explain} reports about the current choice. */
export type Selection = { chosen: string; scores: Record<string, number>; validationSteps: number };

/**
 * @example
 * const f = new RobustForecaster({ period: 24 });
 * f.fit(hourlyArrivals);
 * const next = f.forecast(1)[0];
 * const [lo, hi] = f.interval(0.8); // 80% prediction interval for the next value
 */
export class RobustForecaster implements Forecaster {
  readonly name = 'plexus';
  readonly #period: number;
  readonly #margin: number;
  readonly #minT: number;
  readonly #minSignZ: number;
  readonly #decay: number;
  readonly #minValidation: number;
  readonly #guard: GuardRailOptions;
  readonly #residualWindow: number;
  readonly #makeCandidates: () => Forecaster[];
  #candidates: Forecaster[] = [];
  #history: number[] = [];
  /** Each candidate's guarded forecast of the next value, made before the value is seen. */
  #pending: number[] = [];
  #scores: number[] = [];
  /** Discounted sums of each candidate's saving over naive, d = |e_naive| − |e_c|, and of d². */
  #gain: number[] = [];
  #gainSq: number[] = [];
  /** Discounted counts of steps each candidate beat naive on, and lost to it on. */
  #beat: number[] = [];
  #lost: number[] = [];
  /** Undiscounted count of validation steps each candidate beat naive on. */
  #beatTotal: number[] = [];
  /** Discounted weight sums Σw and Σw², for the effective sample size of the discounted mean. */
  #w1 = 0;
  #w2 = 0;
  #residuals: number[][] = [];
  #validated = 0;
  #chosen = 0;
  /** Weight of the chosen candidate against naive in the forecast (see #choose). */
  #weight = 0;
  readonly #minSelectionSteps: number;
  readonly #sparseShare: number;
  /** The selection's own forecast of the next value (chosen candidate blended with naive). */
  #selected = 0;
  /** Discounted absolute errors of the selection and of naive on the steps it was scored on. */
  #selectionError = 0;
  #selectionNaiveError = 0;
  #selectionSteps = 0;
  /** Whether the selection has earned its place over naive (see #gate). */
  #open = false;
  /**
   * The sparse-series rule (see #gate): discounted absolute errors, over the whole history, of the
   * zero forecast and of naive, the discounted share of non-zero values and the discounted weight.
   */
  #zeroError = 0;
  #naiveFullError = 0;
  #nonZero = 0;
  #fullWeight = 0;
  #fullSteps = 0;
  #last: number | undefined;
  /** Whether the series is mostly empty and zero has forecast it at least as well as naive (see #gate). */
  #sparse = false;

  constructor(opts: RobustForecasterOptions = {}) {
    this.#period = opts.period ?? 0;
    this.#margin = opts.margin ?? 0.03;
    this.#minT = opts.minT ?? 0.5;
    this.#minSignZ = opts.minSignZ ?? 0;
    const halfLife = opts.halfLife ?? Math.max(48, 2 * this.#period);
    this.#decay = 0.5 ** (1 / halfLife);
    this.#minValidation = opts.minValidation ?? 48;
    this.#guard = { window: Math.max(48, 2 * this.#period), ...opts.guard };
    this.#residualWindow = opts.residualWindow ?? 200;
    this.#makeCandidates = opts.candidates ?? (() => defaultCandidates(this.#period));
    this.#minSelectionSteps = opts.minSelectionSteps ?? 24;
    this.#sparseShare = opts.sparseShare ?? 1 / 3;
  }

  /**
   * Fits every candidate on the first half of `series` and validates them one step ahead on the
   * second half (rolling origin), so the first choice already rests on out-of-sample errors.
   */
  fit(series: readonly number[]): void {
    this.#candidates = this.#makeCandidates();
    const split = Math.floor(series.length / 2);
    this.#history = series.slice(0, split);
    this.#zeroError = 0;
    this.#naiveFullError = 0;
    this.#nonZero = 0;
    this.#fullWeight = 0;
    this.#fullSteps = 0;
    this.#last = undefined;
    this.#sparse = false;
    for (const x of this.#history) this.#track(x);
    for (const c of this.#candidates) c.fit(this.#history);
    this.#scores = this.#candidates.map(() => 0);
    this.#gain = this.#candidates.map(() => 0);
    this.#gainSq = this.#candidates.map(() => 0);
    this.#beat = this.#candidates.map(() => 0);
    this.#lost = this.#candidates.map(() => 0);
    this.#beatTotal = this.#candidates.map(() => 0);
    this.#w1 = 0;
    this.#w2 = 0;
    this.#residuals = this.#candidates.map(() => []);
    this.#validated = 0;
    this.#chosen = 0;
    this.#weight = 0;
    this.#selected = 0;
    this.#selectionError = 0;
    this.#selectionNaiveError = 0;
    this.#selectionSteps = 0;
    this.#open = false;
    this.#predictAll();
    for (let i = split; i < series.length; i++) this.update(series[i]!);
  }

  update(value: number): void {
    this.#track(value);
    const naiveError = Math.abs(value - this.#pending[0]!);
    if (this.#validated >= this.#minValidation) {
      this.#selectionError = this.#decay * this.#selectionError + Math.abs(value - this.#selected);
      this.#selectionNaiveError = this.#decay * this.#selectionNaiveError + naiveError;
      this.#selectionSteps++;
    }
    const d2 = this.#decay * this.#decay;
    this.#w1 = this.#decay * this.#w1 + 1;
    this.#w2 = d2 * this.#w2 + 1;
    for (let c = 0; c < this.#candidates.length; c++) {
      const e = value - this.#pending[c]!;
      this.#scores[c] = this.#decay * this.#scores[c]! + Math.abs(e);
      const d = naiveError - Math.abs(e);
      this.#beat[c] = this.#decay * this.#beat[c]! + (d > 1e-9 ? 1 : 0);
      if (d > 1e-9) this.#beatTotal[c]!++;
      this.#lost[c] = this.#decay * this.#lost[c]! + (d < -1e-9 ? 1 : 0);
      this.#gain[c] = this.#decay * this.#gain[c]! + d;
      this.#gainSq[c] = this.#decay * this.#gainSq[c]! + d * d;
      const r = this.#residuals[c]!;
      r.push(e);
      if (r.length > this.#residualWindow) r.shift();
      this.#candidates[c]!.update(value);
    }
    this.#history.push(value);
    this.#validated++;
    this.#predictAll();
    this.#choose();
    this.#gate();
  }

  forecast(h: number): number[] {
    if (this.#candidates.length === 0) return new Array<number>(h).fill(0);
    if (!this.#open && this.#sparse) return new Array<number>(h).fill(0);
    const w = this.#open ? this.#weight : 0;
    if (h === 1) return [w * this.#pending[this.#chosen]! + (1 - w) * this.#pending[0]!];
    const bounds = this.#bounds();
    const naive = this.#candidates[0]!.forecast(h);
    return this.#candidates[this.#chosen]!.forecast(h).map(
      (v, i) => w * clampForecast(v, bounds) + (1 - w) * clampForecast(naive[i]!, bounds),
    );
  }

  /**
   * Prediction interval for the next value at `level` (e.g. 0.8): the point forecast plus the
   * (1 − level)/2 and (1 + level)/2 quantiles of the chosen candidate's recent one-step errors,
   * kept within the guard rails' floor.
   *
   * @example
   * const [lo, hi] = f.interval(0.9);
   */
  interval(level = 0.8): [number, number] {
    const point = this.forecast(1)[0] ?? 0;
    // The zero forecast's one-step errors are the values themselves.
    const zero = !this.#open && this.#sparse;
    const r = [
      ...((zero
        ? this.#history.slice(-this.#residualWindow)
        : this.#residuals[this.#open ? this.#chosen : 0]) ?? []),
    ].sort((a, b) => a - b);
    if (r.length < 10) return [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
    const q = (p: number): number => r[Math.min(r.length - 1, Math.max(0, Math.floor(p * r.length)))]!;
    const floor = this.#guard.floor ?? 0;
    return [Math.max(floor, point + q((1 - level) / 2)), Math.max(floor, point + q((1 + level) / 2))];
  }

  /**
   * Which candidate forecasts now, and every candidate's discounted validation error.
   *
   * @example
   * f.explain().chosen; // 'naive' when nothing beat it by the margin
   */
  explain(): Selection {
    return {
      chosen:
        (this.#open ? this.#candidates[this.#chosen]?.name : this.#sparse ? 'zero (sparse)' : undefined) ??
        'naive',
      scores: Object.fromEntries(this.#candidates.map((c, i) => [c.name, this.#scores[i]!])),
      validationSteps: this.#validated,
    };
  }

  /**
   * The selection is itself a forecaster, and picking the best of a dozen candidates on noisy
   * validation errors flatters the winner (the best of many noisy scores is biased low). So its
   * own record is kept too — what it forecast each step against naive, before the value was
   * seen — and its forecast is used only once that record beats naive by the margin over at
   * least `minSelectionSteps` steps; until then, and whenever it stops doing so, naive it is.
   */
  #gate(): void {
    this.#selected = this.#weight * this.#pending[this.#chosen]! + (1 - this.#weight) * this.#pending[0]!;
    this.#open =
      this.#selectionSteps >= this.#minSelectionSteps &&
      this.#selectionError < (1 - this.#margin) * this.#selectionNaiveError;
    // Sparse counts: where the series is empty more often than not, the MAE-optimal forecast (the
    // median) is 0 unless bursts persist, and naive repeats every lone burst once. So when the
    // selection has not earned its place, a series that is empty in at least two intervals of
    // three (discounted) and on which zero has forecast at least as well as naive over the whole
    // (discounted) history is forecast 0. Ties go to zero: on an all-empty history both are 0.
    this.#sparse =
      this.#fullSteps >= this.#minValidation &&
      this.#nonZero < this.#sparseShare * this.#fullWeight &&
      this.#zeroError <= this.#naiveFullError;
  }

  /** Accumulates the sparse-series record (see #gate) for one more value of the series. */
  #track(value: number): void {
    const decay = this.#decay;
    this.#fullWeight = decay * this.#fullWeight + 1;
    this.#nonZero = decay * this.#nonZero + (value !== 0 ? 1 : 0);
    if (this.#last !== undefined) {
      this.#zeroError = decay * this.#zeroError + Math.abs(value);
      this.#naiveFullError = decay * this.#naiveFullError + Math.abs(value - this.#last);
      this.#fullSteps++;
    }
    this.#last = value;
  }

  #bounds(): [number, number] {
    return plausibleBounds(this.#history, this.#guard);
  }

  #predictAll(): void {
    const bounds = this.#bounds();
    this.#pending = this.#candidates.map((c) => clampForecast(c.forecast(1)[0] ?? 0, bounds));
  }

  #choose(): void {
    // Naive (index 0) until the validation errors rest on enough steps, and unless another
    // candidate beats naive by the margin *and* the saving is clearly more than noise (a few
    // lucky steps on a short or spiky series must not switch): "no clear gain" means "baseline".
    this.#chosen = 0;
    this.#weight = 0;
    if (this.#validated < this.#minValidation) return;
    const nEff = (this.#w1 * this.#w1) / Math.max(this.#w2, 1e-12);
    let best = 0;
    let bestT = 0;
    for (let c = 1; c < this.#scores.length; c++) {
      if (!(this.#scores[c]! < (1 - this.#margin) * this.#scores[0]!)) continue;
      const decided = this.#beat[c]! + this.#lost[c]!;
      if (
        this.#beatTotal[c]! < MIN_BEATS ||
        decided === 0 ||
        (this.#beat[c]! - this.#lost[c]!) / Math.sqrt(decided) < this.#minSignZ
      )
        continue;
      const mean = this.#gain[c]! / this.#w1;
      const variance = Math.max(0, this.#gainSq[c]! / this.#w1 - mean * mean);
      const t = variance > 0 ? mean / Math.sqrt(variance / nEff) : mean > 0 ? Number.POSITIVE_INFINITY : 0;
      if (t >= this.#minT && (best === 0 || this.#scores[c]! < this.#scores[best]!)) {
        best = c;
        bestT = t;
      }
    }
    this.#chosen = best;
    // Weak evidence buys a blend with naive, strong evidence the candidate alone. By the triangle
    // inequality a blend's error is at most the weighted mean of the two errors, so a candidate
    // that turns out worse than naive costs only its weight's share of the difference.
    this.#weight = best === 0 ? 0 : Math.min(1, (bestT - this.#minT) / this.#minT + 0.5);
  }
}
