/**
 * `npm run bench -- fault-injection [--json] [--half tuning|heldOut|all] [--options '{"spikeWindow":0}']`:
 * spikes (in-range), level shifts, flatlines and drifts injected into clean stretches of the NAB
 * series (see lab/nab/faultInjection.ts). For the Plexus detector (its defaults, and the
 * configuration before the local-spike and frozen-value views, for comparison) and a rolling
 * z-score baseline held to the detector's false-alarm rate on the untouched series: hit rate and
 * median delay per fault kind. `--half` picks the NAB half (lab/nab/splitCorpus.ts).
 */
import {
  FAULT_KINDS,
  type Fault,
  falseAlarmRate,
  injectFaults,
  type KindResult,
  planFaults,
  scoreFaults,
  zScoreAlerts,
  zScores,
} from '../lab/nab/faultInjection.ts';
import { DEFAULT_NAB_DIR, hasNabCorpus, loadNabCorpus } from '../lab/nab/loadNabCorpus.ts';
import { splitNabCorpus } from '../lab/nab/splitCorpus.ts';
import { dataIsRequired } from '../lab/traces/dataDir.ts';
import {
  DEFAULT_ALERT_THRESHOLD,
  DEFAULT_DETECTOR_OPTIONS,
  type DetectorOptions,
} from '../src/intelligence/anomaly/constants.ts';
import { detectAnomalies } from '../src/intelligence/anomaly/detectAnomalies.ts';

/** The detector before issue 23's views: no local-spike view, no frozen-value rule. */
const PREVIOUS: Partial<DetectorOptions> = { spikeWindow: 0, flatlineFactor: 0 };

type Row = { falseAlarmsPer1000: number; kinds: Record<string, KindResult> };

/**
 * Runs the benchmark, printing the table as it goes; returns the figures (see bench/run.ts).
 *
 * @example
 * const figures = await run(['--half', 'tuning']); // what `npm run bench -- fault-injection --half tuning` prints
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  if (!hasNabCorpus()) {
    console.error(`fault-injection: NAB data missing at ${DEFAULT_NAB_DIR}`);
    if (dataIsRequired()) process.exit(1);
    return { skipped: true };
  }
  const half = args.includes('--half') ? (args[args.indexOf('--half') + 1] ?? 'all') : 'all';
  const optIdx = args.indexOf('--options');
  const extra = optIdx >= 0 ? (JSON.parse(args[optIdx + 1] ?? '{}') as Partial<DetectorOptions>) : {};
  const corpus = loadNabCorpus();
  const split = splitNabCorpus(corpus.series);
  const series = half === 'tuning' ? split.tuning : half === 'heldOut' ? split.heldOut : corpus.series;
  const faults = new Map<string, Fault[]>();
  for (const s of series)
    faults.set(s.name, planFaults(s, { firstKind: [...faults.values()].flat().length }));
  const faulty = new Map(series.map((s) => [s.name, injectFaults(s.values, faults.get(s.name)!)]));
  const total = [...faults.values()].reduce((n, f) => n + f.length, 0);
  console.log(
    `${series.length} series (${half}), ${total} faults injected, cycling ${FAULT_KINDS.join(', ')}`,
  );

  const started = performance.now();
  const detector = (options: Partial<DetectorOptions>): Row => {
    const alerts = (values: readonly number[]): boolean[] =>
      detectAnomalies(values, options).map((x) => x >= DEFAULT_ALERT_THRESHOLD);
    const clean = new Map(series.map((s) => [s.name, alerts(s.values)]));
    const hit = new Map(series.map((s) => [s.name, alerts(faulty.get(s.name)!)]));
    return { falseAlarmsPer1000: falseAlarmRate(series, clean), kinds: scoreFaults(faults, hit) };
  };
  const current = detector(extra);
  const previous = detector({ ...extra, ...PREVIOUS });

  // The z-score baseline at the false-alarm rate of the current detector: bisect its threshold.
  const learning = DEFAULT_DETECTOR_OPTIONS.learningPeriod;
  const refractory = DEFAULT_DETECTOR_OPTIONS.refractoryPeriod;
  const zClean = new Map(series.map((s) => [s.name, zScores(s.values)]));
  const zFaulty = new Map(series.map((s) => [s.name, zScores(faulty.get(s.name)!)]));
  const zRate = (k: number): number =>
    falseAlarmRate(
      series,
      new Map([...zClean].map(([n, z]) => [n, zScoreAlerts(z, k, refractory, learning)])),
    );
  let lo = 1;
  let hi = 100;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (zRate(mid) > current.falseAlarmsPer1000) lo = mid;
    else hi = mid;
  }
  const k = hi;
  const zRow: Row = {
    falseAlarmsPer1000: zRate(k),
    kinds: scoreFaults(
      faults,
      new Map([...zFaulty].map(([n, z]) => [n, zScoreAlerts(z, k, refractory, learning)])),
    ),
  };
  const seconds = (performance.now() - started) / 1000;

  const cell = (r: KindResult): string =>
    `${r.hits}/${r.faults} ${(100 * r.hitRate).toFixed(0)}% d${r.medianDelay ?? '-'}`.padStart(18);
  console.log(
    `\n${'detector'.padEnd(36)}${'FA/1000'.padStart(8)}${FAULT_KINDS.map((x) => x.padStart(18)).join('')}`,
  );
  const show = (label: string, r: Row): void =>
    console.log(
      `${label.padEnd(36)}${r.falseAlarmsPer1000.toFixed(3).padStart(8)}${FAULT_KINDS.map((x) => cell(r.kinds[x]!)).join('')}`,
    );
  show('Plexus detector (defaults)', current);
  show('Plexus, before spike/flatline views', previous);
  show(`rolling z-score (500), k=${k.toFixed(2)}`, zRow);
  console.log(
    `\nhits: alert within [start, start + max(length, 5)); d = median delay in readings; FA/1000: alerts per 1,000 clean readings of the untouched series; threshold ${DEFAULT_ALERT_THRESHOLD}; ${seconds.toFixed(1)} s`,
  );
  const summary = (r: Row): Record<string, unknown> => ({
    falseAlarmsPer1000: Math.round(r.falseAlarmsPer1000 * 1000) / 1000,
    ...Object.fromEntries(
      FAULT_KINDS.map((x) => [
        x,
        { hitRate: Math.round(r.kinds[x]!.hitRate * 1000) / 1000, medianDelay: r.kinds[x]!.medianDelay },
      ]),
    ),
  });
  return {
    half,
    series: series.length,
    faults: Object.fromEntries(FAULT_KINDS.map((x) => [x, current.kinds[x]!.faults])),
    plexus: summary(current),
    plexusPrevious: summary(previous),
    zScore: { k: Math.round(k * 100) / 100, ...summary(zRow) },
    options: { ...DEFAULT_DETECTOR_OPTIONS, ...extra },
  };
}
