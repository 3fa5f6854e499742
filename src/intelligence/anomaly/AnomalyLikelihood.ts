import { gaussianTail } from './gaussianTail.ts';
import { RollingWindow } from './RollingWindow.ts';

/**
 * Turns a stream of raw surprise values into how unlikely the recent ones are for *this*
 * series, after Numenta's anomaly likelihood: the short moving average of the raw values is
 * compared with a Gaussian fitted to its own longer history, and the tail probability is put on
 * a log scale where 0.5 means about 1e-5 and 1 means 1e-10. Noisy series thereby stop alerting
 * on their everyday noise, quiet series alert on small changes.
 *
 * @example
 * const lik = new AnomalyLikelihood(10, 2000);
 * for (const raw of raws) score = lik.update(raw, true);
 */
export class AnomalyLikelihood {
  private readonly recent: RollingWindow;
  private readonly history: RollingWindow;

  constructor(averageWindow: number, historyWindow: number) {
    this.recent = new RollingWindow(averageWindow);
    this.history = new RollingWindow(historyWindow);
  }

  /** Adds a raw value; returns the log-likelihood score in [0, 1] (0 while `active` is false). */
  update(raw: number, active: boolean): number {
    this.recent.push(raw);
    const avg = this.recent.mean();
    let score = 0;
    if (active && this.history.size > 10) {
      const sd = Math.sqrt(this.history.variance()) + 1e-6;
      const likelihood = 1 - gaussianTail((avg - this.history.mean()) / sd);
      // Numenta's computeLogLikelihood, constants included.
      score = Math.log(1.0000000001 - likelihood) / Math.log(1.0 - 0.9999999999);
    }
    this.history.push(avg);
    return Math.min(1, Math.max(0, score));
  }
}
