import { PlexusError } from '../../src/errors/PlexusError.ts';
import { probationaryLength } from './probationaryLength.ts';
import { scaledSigmoid } from './scaledSigmoid.ts';
import type { AnomalyPoint, CostMatrix, Window } from './types.ts';

/**
 * Port of NAB's `Sweeper.calcSweepScore`: gives each row the weighted reward it would earn if
 * it were an alert. Inside a window the reward is the scaled sigmoid of the position relative to
 * the window's right edge (normalised so the left edge earns `tpWeight`); outside a window it is a
 * penalty that fades with the distance from the previous window (full `fpWeight` before any).
 * Rows in the probation period are named `'probationary'` and later ignored.
 *
 * Window ends must be timestamps of the series (NAB looks them up by equality).
 *
 * @example
 * const pts = sweepScores([0, 1, 2, 3], [0, 0, 1, 0], [[2, 3]], 'a.csv', standard, 0);
 * pts[2].windowName; // 'a.csv|2'
 */
export function sweepScores(
  timestamps: readonly number[],
  anomalyScores: readonly number[],
  windows: readonly Window[],
  dataSetName: string,
  cost: CostMatrix,
  probationPercent?: number,
): AnomalyPoint[] {
  if (timestamps.length !== anomalyScores.length) {
    throw new PlexusError('PLX_VALIDATION', 'timestamps and anomalyScores have different lengths', {
      details: { dataSetName, timestamps: timestamps.length, anomalyScores: anomalyScores.length },
    });
  }
  const indexOf = new Map<number, number>();
  timestamps.forEach((t, i) => {
    // NAB uses list.index(), i.e. the first occurrence of a timestamp.
    if (!indexOf.has(t)) indexOf.set(t, i);
  });
  const lookup = (t: number): number => {
    const i = indexOf.get(t);
    if (i === undefined) {
      throw new PlexusError('PLX_VALIDATION', 'a window limit is not a timestamp of the series', {
        details: { dataSetName, timestamp: new Date(t).toISOString() },
      });
    }
    return i;
  };

  const pending = [...windows];
  const out: AnomalyPoint[] = [];
  const maxTP = scaledSigmoid(-1.0);
  const probation = probationaryLength(timestamps.length, probationPercent);

  let cur: Window | null = null;
  let curName: string | null = null;
  let curWidth = 0;
  let curRight = 0;
  let prevWidth: number | null = null;
  let prevRight: number | null = null;

  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i]!;
    const next = pending[0];
    if (next !== undefined && t === next[0]) {
      cur = pending.shift()!;
      curName = `${dataSetName}|${cur[0]}`;
      curRight = lookup(cur[1]);
      curWidth = curRight - lookup(cur[0]) + 1;
    }

    let weighted: number;
    if (cur !== null) {
      // NAB's own comment notes the `+ 1` means a position of exactly 0 never happens; kept as is.
      const position = -(curRight - i + 1) / curWidth;
      weighted = (scaledSigmoid(position) * cost.tpWeight) / maxTP;
    } else {
      const positionPast = prevRight === null ? 3.0 : Math.abs(prevRight - i) / ((prevWidth ?? 0) - 1);
      weighted = scaledSigmoid(positionPast) * cost.fpWeight;
    }

    out.push({
      timestamp: t,
      anomalyScore: anomalyScores[i]!,
      sweepScore: weighted,
      windowName: i >= probation ? curName : 'probationary',
    });

    if (cur !== null && t === cur[1]) {
      prevRight = i;
      prevWidth = curWidth;
      cur = null;
      curName = null;
    }
  }
  return out;
}
