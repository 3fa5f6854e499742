/**
 * Durability model of erasure-coded storage under provider churn (issue 19; used by
 * bench/storage.ts, written up in docs/storage.md).
 *
 * One segment (and, with piece i of every segment on the same holder, one object) is a
 * continuous-time Markov chain on the number h of healthy pieces, K ≤ h ≤ K + M:
 * - each healthy piece is lost independently at rate λ, from the monthly churn c: a holder still
 *   there after a month with probability 1 − c gives λ = −ln(1 − c) per month;
 * - once h ≤ R (the repair threshold), a repair restores all K + M pieces at rate 1 / T (T: the
 *   mean time from the loss that crossed the threshold to new pieces in place: detection by the
 *   next challenge window, fetching K pieces, rebuilding, verifying, uploading);
 * - h < K is loss, absorbing.
 *
 * The probability of loss within a year, from all pieces healthy, is computed by uniformization
 * (sums of non-negative terms only, so probabilities of 1e-15 keep their digits), and checked by a
 * Monte Carlo simulation of the same chain in the tests. Replication with r copies is the same
 * chain with K = 1, M = r − 1.
 *
 * What it leaves out (docs/storage.md says so too): correlated failures (a region, a provider
 * with many pieces; placement spreads pieces to keep them apart), repairs that fail, and churn
 * that varies over time.
 */

/** One configuration to model. */
export type DurabilityParams = {
  /** K. */
  dataPieces: number;
  /** M. */
  parityPieces: number;
  /** R: repair starts when healthy pieces fall to R (K ≤ R < K + M). */
  repairThreshold: number;
  /** Share of holders lost per month, 0 < c < 1. */
  churnPerMonth: number;
  /** Mean time to repair once triggered, hours. */
  repairHours: number;
  /** Horizon, years (1: the annual loss probability). */
  years?: number;
};

const HOURS_PER_MONTH = (365.25 * 24) / 12;
const HOURS_PER_YEAR = 365.25 * 24;

/**
 * Per-piece loss rate per hour for a monthly churn.
 *
 * @example pieceLossRatePerHour(0.05) // ≈ 7.02e-5
 */
export function pieceLossRatePerHour(churnPerMonth: number): number {
  if (!(churnPerMonth > 0 && churnPerMonth < 1)) throw new RangeError(`churn ${churnPerMonth} not in (0, 1)`);
  return -Math.log1p(-churnPerMonth) / HOURS_PER_MONTH;
}

function check(p: DurabilityParams): void {
  const { dataPieces: k, parityPieces: m, repairThreshold: r } = p;
  if (!(Number.isInteger(k) && Number.isInteger(m) && k >= 1 && m >= 1)) throw new RangeError('bad K/M');
  if (!(Number.isInteger(r) && r >= k && r < k + m))
    throw new RangeError(`repair threshold ${r} not in [K, K+M)`);
  if (!(p.repairHours > 0)) throw new RangeError('repair time must be positive');
}

/**
 * Probability that a segment is lost within the horizon (default one year), starting healthy.
 *
 * @example
 * annualLossProbability({ dataPieces: 16, parityPieces: 16, repairThreshold: 24, churnPerMonth: 0.05, repairHours: 24 })
 */
export function annualLossProbability(p: DurabilityParams): number {
  return modelChain(p).lossProbability;
}

/**
 * Loss probability and expected number of repairs within the horizon (repairs are what the
 * network pays for in bandwidth: each fetches K pieces and uploads the missing ones).
 *
 * @example const { lossProbability, repairs } = modelChain(params);
 */
export function modelChain(p: DurabilityParams): { lossProbability: number; repairs: number } {
  check(p);
  const k = p.dataPieces;
  const n = k + p.parityPieces;
  const lambda = pieceLossRatePerHour(p.churnPerMonth);
  const mu = 1 / p.repairHours;
  const t = (p.years ?? 1) * HOURS_PER_YEAR;
  // States: index j = h − K for h = K..N; out[j] = exit rates.
  const size = n - k + 1;
  const fail = (j: number) => (j + k) * lambda;
  const repair = (j: number) => (j + k <= p.repairThreshold && j + k < n ? mu : 0);
  let rate = 0;
  for (let j = 0; j < size; j++) rate = Math.max(rate, fail(j) + repair(j));
  // Uniformized chain: one jump of rate `rate` per step; stay put with the remaining probability.
  const lt = rate * t;
  let v = new Float64Array(size);
  v[size - 1] = 1;
  let lost = 0; // mass absorbed in "lost" after the current number of steps
  let logWeight = -lt; // log Poisson(lt, step)
  let total = 0;
  let weightSum = 0;
  let repairs = 0; // expected repair jumps: Σ over steps of P(that step happens by t) × repair mass
  const maxSteps = Math.ceil(lt + 12 * Math.sqrt(lt) + 50);
  for (let step = 0; step <= maxSteps; step++) {
    const w = Math.exp(logWeight);
    total += w * lost;
    weightSum += w;
    // Step `step + 1` happens by time t when at least step + 1 jumps occur: 1 − CDF(step).
    const later = Math.max(0, 1 - weightSum);
    // One step of the uniformized chain.
    const next = new Float64Array(size);
    for (let j = 0; j < size; j++) {
      const mass = v[j]!;
      if (mass === 0) continue;
      const pf = fail(j) / rate;
      const pr = repair(j) / rate;
      if (j === 0) lost += mass * pf;
      else next[j - 1]! += mass * pf;
      next[size - 1]! += mass * pr;
      repairs += later * mass * pr;
      next[j]! += mass * (1 - pf - pr);
    }
    v = next;
    logWeight += Math.log(lt) - Math.log(step + 1);
  }
  // The Poisson tail beyond maxSteps (< 1e-25 of the weight) carries at most `lost` each.
  return { lossProbability: total + (1 - weightSum > 0 ? (1 - weightSum) * lost : 0), repairs };
}

/**
 * Nines of annual durability: −log10 of the loss probability (capped at 30 where the model's
 * answer is below double precision's reach; far past what its assumptions can support anyway).
 *
 * @example nines(1e-11) // 11
 */
export function nines(lossProbability: number): number {
  return lossProbability <= 1e-30 ? 30 : -Math.log10(lossProbability);
}

/**
 * Monte Carlo of the same chain (for checking the model where losses are frequent enough to
 * count): the share of `trials` segments lost within the horizon.
 *
 * @example simulateLossProbability(params, 20_000, () => Math.random())
 */
export function simulateLossProbability(p: DurabilityParams, trials: number, random: () => number): number {
  check(p);
  const k = p.dataPieces;
  const n = k + p.parityPieces;
  const lambda = pieceLossRatePerHour(p.churnPerMonth);
  const mu = 1 / p.repairHours;
  const horizon = (p.years ?? 1) * HOURS_PER_YEAR;
  let losses = 0;
  for (let trial = 0; trial < trials; trial++) {
    let h = n;
    let now = 0;
    for (;;) {
      const failRate = h * lambda;
      const repairRate = h <= p.repairThreshold && h < n ? mu : 0;
      const total = failRate + repairRate;
      now += -Math.log(1 - random()) / total;
      if (now > horizon) break;
      if (random() * total < failRate) {
        h--;
        if (h < k) {
          losses++;
          break;
        }
      } else h = n;
    }
  }
  return losses / trials;
}

/** A row of the comparison table. */
export type DurabilityRow = {
  scheme: string;
  overhead: number;
  churnPerMonth: number;
  repairHours: number;
  lossProbability: number;
  nines: number;
};

/**
 * Erasure coding beside replication at the same overhead (rounded to whole copies) and at a higher
 * one, for each churn: the table of docs/storage.md.
 *
 * @example compareSchemes({ dataPieces: 16, parityPieces: 16, repairThreshold: 24 }, [0.01, 0.05, 0.1], 24)
 */
export function compareSchemes(
  code: { dataPieces: number; parityPieces: number; repairThreshold: number },
  churns: readonly number[],
  repairHours: number,
  replicaCounts: readonly number[] = [2, 3],
): DurabilityRow[] {
  const rows: DurabilityRow[] = [];
  const schemes = [
    { scheme: `RS K=${code.dataPieces} M=${code.parityPieces} R=${code.repairThreshold}`, ...code },
    // Replication repairs on the first lost copy: the most eager (and so most favourable) threshold.
    ...replicaCounts.map((r) => ({
      scheme: `${r}× replication`,
      dataPieces: 1,
      parityPieces: r - 1,
      repairThreshold: r - 1,
    })),
  ];
  for (const churnPerMonth of churns)
    for (const s of schemes) {
      const lossProbability = annualLossProbability({ ...s, churnPerMonth, repairHours });
      rows.push({
        scheme: s.scheme,
        overhead: (s.dataPieces + s.parityPieces) / s.dataPieces,
        churnPerMonth,
        repairHours,
        lossProbability,
        nines: nines(lossProbability),
      });
    }
  return rows;
}
