/**
 * `npm run bench -- nab [--json]`: scores Plexus's anomaly detector on the 58 series of the
 * Numenta Anomaly Benchmark with the TypeScript port of NAB's scorer, next to the published
 * scoreboard (`results/final_results.json`). In the same run it re-scores the published Windowed
 * Gaussian per-row outputs (the golden files) as a check that the scorer still reproduces them,
 * and the null detector, which anchors 0. It also reports the two halves of the corpus
 * (lab/nab/splitCorpus.ts: FNV-1a hash of the file name, even → tuning, odd → held out): the
 * detector's options were tuned on the tuning half only, so the held-out half is the fair figure.
 * `--options '{"spikeWindow":0}'` overrides detector options; `--tuning-only` scores only the
 * tuning half (what option tuning looks at).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchmarkDetector, type ProfileResult } from '../lab/nab/benchmarkDetector.ts';
import { DEFAULT_NAB_DIR, hasNabCorpus, loadNabCorpus } from '../lab/nab/loadNabCorpus.ts';
import { readCsvColumns } from '../lab/nab/readCsvColumns.ts';
import { normalizedAtThreshold, splitNabCorpus } from '../lab/nab/splitCorpus.ts';
import { dataIsRequired } from '../lab/traces/dataDir.ts';
import { DEFAULT_DETECTOR_OPTIONS, type DetectorOptions } from '../src/intelligence/anomaly/constants.ts';
import { detectAnomalies } from '../src/intelligence/anomaly/detectAnomalies.ts';

const PROFILES = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const;
/** Scoreboard rows shown, in the order of the NAB README, with their names in final_results.json. */
const SCOREBOARD: [label: string, key: string][] = [
  ['ARTime', 'ARTime'],
  ['Numenta HTM', 'numenta'],
  ['CAD OSE', 'contextOSE'],
  ['earthgecko Skyline', 'earthgeckoSkyline'],
  ['KNN CAD', 'knncad'],
  ['Relative Entropy', 'relativeEntropy'],
  ['Random Cut Forest', 'randomCutForest'],
  ['Twitter ADVec', 'twitterADVec'],
  ['Windowed Gaussian', 'windowedGaussian'],
];

const fmt = (x: number): string => x.toFixed(2).padStart(8);
const row = (label: string, v: readonly number[]): string => `${label.padEnd(34)}${v.map(fmt).join('')}`;
const figures = (r: Record<string, ProfileResult>): number[] => PROFILES.map((p) => r[p]!.normalizedScore);

/**
 * Runs the benchmark, printing the tables as it goes; returns the figures (see bench/run.ts).
 *
 * @example
 * const figures = await run([]); // what `npm run bench -- nab` prints and returns
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const optIdx = args.indexOf('--options');
  const extra = optIdx >= 0 ? (JSON.parse(args[optIdx + 1] ?? '{}') as Partial<DetectorOptions>) : {};
  if (!hasNabCorpus()) {
    // On CI a skipped benchmark would pass silently with nothing measured: fail instead.
    if (dataIsRequired()) {
      console.error(`nab: NAB data missing at ${DEFAULT_NAB_DIR} (../shared/data/nab) and CI=true`);
      process.exit(1);
    }
    console.log(`nab: skipped — NAB data missing at ${DEFAULT_NAB_DIR} (../shared/data/nab)`);
    return { skipped: true };
  }
  const corpus = loadNabCorpus();
  const halves = splitNabCorpus(corpus.series);
  if (args.includes('--tuning-only')) {
    const scores = new Map(halves.tuning.map((s) => [s.name, detectAnomalies(s.values, extra)]));
    const r = benchmarkDetector(halves.tuning, scores, corpus.profiles);
    console.log(row(`tuning half (${halves.tuning.length} files)`, figures(r)));
    return { tuningHalf: Object.fromEntries(PROFILES.map((p) => [p, round(r[p]!.normalizedScore)])) };
  }
  const rows = corpus.series.reduce((n, s) => n + s.values.length, 0);
  console.log(
    `NAB corpus: ${corpus.series.length} series, ${rows} rows, ${corpus.series.reduce((n, s) => n + s.windows.length, 0)} windows`,
  );

  const started = performance.now();
  const ours = new Map(corpus.series.map((s) => [s.name, detectAnomalies(s.values, extra)]));
  const detectMs = performance.now() - started;
  const scoringStarted = performance.now();
  const result = benchmarkDetector(corpus.series, ours, corpus.profiles);
  const scoreMs = performance.now() - scoringStarted;

  // The halves, each scored by NAB's protocol on its own (threshold optimised on that half), and the
  // held-out half also at the tuning half's threshold (nothing of the held-out half chosen on it).
  const tuning = benchmarkDetector(halves.tuning, ours, corpus.profiles);
  const heldOut = benchmarkDetector(halves.heldOut, ours, corpus.profiles);
  const transferred = PROFILES.map((p) =>
    normalizedAtThreshold(halves.heldOut, ours, corpus.profiles[p]!, tuning[p]!.threshold),
  );

  const golden = new Map(
    corpus.series.map((s) => {
      const [dir, file] = s.name.split('/');
      const cols = readCsvColumns(
        join(corpus.dir, 'golden/results/windowedGaussian', dir!, `windowedGaussian_${file}`),
      );
      return [s.name, cols.anomaly_score!.map(Number)];
    }),
  );
  const wg = benchmarkDetector(corpus.series, golden, corpus.profiles);
  const published = JSON.parse(
    readFileSync(join(corpus.dir, 'results/final_results.json'), 'utf8'),
  ) as Record<string, Record<string, number>>;

  console.log(`\n${''.padEnd(34)}${'standard'.padStart(8)}${'low FP'.padStart(8)}${'low FN'.padStart(8)}`);
  console.log(row('Plexus detector (this run)', figures(result)));
  console.log(row(`  tuning half (${halves.tuning.length} files)`, figures(tuning)));
  console.log(row(`  held-out half (${halves.heldOut.length} files)`, figures(heldOut)));
  console.log(row('  held-out, tuning-half threshold', transferred));
  console.log(row('Windowed Gaussian, re-scored here', figures(wg)));
  const wgHeld = benchmarkDetector(halves.heldOut, golden, corpus.profiles);
  console.log(row('  held-out half', figures(wgHeld)));
  console.log(row('null detector (definition)', [0, 0, 0]));
  console.log('published scoreboard:');
  for (const [label, key] of SCOREBOARD) {
    const p = published[key];
    if (p)
      console.log(
        row(
          `  ${label}`,
          PROFILES.map((x) => p[x]!),
        ),
      );
  }
  const std = result.standard!;
  console.log(
    `\nthresholds: ${PROFILES.map((p) => `${p} ${result[p]!.threshold.toFixed(4)}`).join(', ')}` +
      `\nstandard profile: ${std.table.totals.tp} TP rows, ${std.table.totals.fp} FP rows, raw score ${std.rawScore.toFixed(2)} (null ${std.nullScore}, perfect ${std.perfectScore})` +
      `\ndetector: ${(detectMs / 1000).toFixed(1)} s for ${rows} rows (${((detectMs * 1000) / rows).toFixed(1)} µs/row); scoring 3 profiles: ${(scoreMs / 1000).toFixed(1)} s`,
  );
  const htm = published.numenta;
  return {
    series: corpus.series.length,
    rows,
    detector: Object.fromEntries(PROFILES.map((p) => [p, round(result[p]!.normalizedScore)])),
    heldOutHalf: {
      files: halves.heldOut.length,
      ...Object.fromEntries(PROFILES.map((p) => [p, round(heldOut[p]!.normalizedScore)])),
      tuningHalfThreshold: Object.fromEntries(PROFILES.map((p, i) => [p, round(transferred[i]!)])),
    },
    tuningHalf: {
      files: halves.tuning.length,
      ...Object.fromEntries(PROFILES.map((p) => [p, round(tuning[p]!.normalizedScore)])),
    },
    windowedGaussianHeldOutHalf: Object.fromEntries(
      PROFILES.map((p) => [p, round(wgHeld[p]!.normalizedScore)]),
    ),
    thresholds: Object.fromEntries(PROFILES.map((p) => [p, result[p]!.threshold])),
    windowedGaussianRescored: Object.fromEntries(PROFILES.map((p) => [p, round(wg[p]!.normalizedScore)])),
    numentaHtmPublished: htm ? Object.fromEntries(PROFILES.map((p) => [p, round(htm[p]!)])) : null,
    detectSeconds: round(detectMs / 1000),
    microsPerRow: round((detectMs * 1000) / rows),
    options: { ...DEFAULT_DETECTOR_OPTIONS, ...extra },
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
