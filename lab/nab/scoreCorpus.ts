import { scoresFor } from './optimizeThreshold.ts';
import { scoreDataSet } from './scoreDataSet.ts';
import type { CostMatrix, LabelledSeries, ThresholdScore } from './types.ts';

/** One row of NAB's `<detector>_<profile>_scores.csv`. */
export type FileScore = ThresholdScore & {
  file: string;
  /** Rows in the file, probation included (NAB's `Total_Count` column in the published tables). */
  rows: number;
};

/** Per-file scores and their sum, like NAB's score table with its `Totals` row. */
export type CorpusScore = { files: FileScore[]; totals: Omit<FileScore, 'file'> };

/**
 * Port of NAB's `scorer.scoreCorpus`: scores every file at one threshold and adds up the
 * score and the counts.
 *
 * @example
 * const { totals } = scoreCorpus(corpus.series, scoresByFile, profiles.standard, 1.0);
 * totals.score; // -24.013… for the Windowed Gaussian golden results
 */
export function scoreCorpus(
  series: readonly LabelledSeries[],
  anomalyScoresByFile: ReadonlyMap<string, readonly number[]>,
  cost: CostMatrix,
  threshold: number,
  probationPercent?: number,
): CorpusScore {
  const files: FileScore[] = series.map((s) => {
    const { result } = scoreDataSet(
      s.timestamps,
      scoresFor(anomalyScoresByFile, s.name),
      s.windows,
      s.name,
      cost,
      threshold,
      probationPercent,
    );
    return { ...result, threshold, file: s.name, rows: s.timestamps.length };
  });
  const totals = { threshold, score: 0, tp: 0, tn: 0, fp: 0, fn: 0, total: 0, rows: 0 };
  for (const f of files) {
    totals.score += f.score;
    totals.tp += f.tp;
    totals.tn += f.tn;
    totals.fp += f.fp;
    totals.fn += f.fn;
    totals.total += f.total;
    totals.rows += f.rows;
  }
  return { files, totals };
}
