import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPlexusError } from '../../src/errors/PlexusError.ts';
import { skipWithoutData } from '../traces/dataDir.ts';
import { benchmarkDetector } from './benchmarkDetector.ts';
import { DEFAULT_NAB_DIR, hasNabCorpus, loadNabCorpus, missingNabReason } from './loadNabCorpus.ts';
import { readCsvColumns } from './readCsvColumns.ts';
import { scoreContributions } from './scoreContributions.ts';

const GOLDEN = join(DEFAULT_NAB_DIR, 'golden/results/windowedGaussian');
// Skips without the data, except under CI=true, where the test runs and fails on the loader's error.
const skip = skipWithoutData(missingNabReason());

function goldenFile(name: string): string {
  const [dir, file] = name.split('/');
  return join(GOLDEN, dir!, `windowedGaussian_${file}`);
}

test('reproduces the published Windowed Gaussian NAB scores', { skip }, async (t) => {
  const corpus = loadNabCorpus();
  assert.equal(corpus.series.length, 58);
  const goldenCols = new Map(corpus.series.map((s) => [s.name, readCsvColumns(goldenFile(s.name))]));
  const scores = new Map(
    corpus.series.map((s) => [s.name, goldenCols.get(s.name)!.anomaly_score!.map(Number)]),
  );
  const results = benchmarkDetector(corpus.series, scores, corpus.profiles);
  const published = JSON.parse(readFileSync(join(DEFAULT_NAB_DIR, 'results/final_results.json'), 'utf8'))
    .windowedGaussian as Record<string, number>;

  await t.test('final normalised scores to two decimals', () => {
    assert.equal(results.standard!.normalizedScore.toFixed(2), '39.65');
    assert.equal(results.reward_low_FP_rate!.normalizedScore.toFixed(2), '20.87');
    assert.equal(results.reward_low_FN_rate!.normalizedScore.toFixed(2), '47.41');
    for (const [profile, value] of Object.entries(published)) {
      assert.ok(Math.abs(results[profile]!.normalizedScore - value) < 1e-6, `${profile}: ${value}`);
    }
    // The null detector never alerts once optimised: every window is a false negative.
    assert.equal(results.standard!.nullScore, -116);
    assert.equal(results.reward_low_FN_rate!.nullScore, -232);
  });

  for (const [profile, cost] of Object.entries(corpus.profiles)) {
    await t.test(`per-file table and per-row S(t) for ${profile}`, () => {
      const table = readCsvColumns(join(GOLDEN, `windowedGaussian_${profile}_scores.csv`));
      const files = table.File!;
      const threshold = Number(table.Threshold![0]);
      assert.equal(results[profile]!.threshold, threshold);
      // benchmarkDetector scored the corpus at the optimised threshold, which must be the published one.
      const ours = results[profile]!.table;
      const byFile = new Map(ours.files.map((f) => [f.file, f]));
      let checked = 0;
      for (let r = 0; r < files.length; r++) {
        const name = files[r]!;
        if (name === '') {
          assert.ok(Math.abs(ours.totals.score - Number(table.Score![r])) < 1e-6, 'Totals row');
          continue;
        }
        const f = byFile.get(name);
        assert.ok(f, name);
        // 1e-6, not exact: the published tables predate the sweeper, whose sigmoid is -1 from a
        // position of exactly 3 on (one false positive in Twitter_volume_UPS sits there: 6e-7 apart).
        assert.ok(
          Math.abs(f.score - Number(table.Score![r])) < 1e-6,
          `${name}: ${f.score} vs ${table.Score![r]}`,
        );
        assert.deepEqual(
          [f.tp, f.tn, f.fp, f.fn, f.rows],
          ['TP', 'TN', 'FP', 'FN', 'Total_Count'].map((c) => Number(table[c]![r])),
          name,
        );
        const s = corpus.series.find((x) => x.name === name)!;
        const st = scoreContributions(s.timestamps, scores.get(name)!, s.windows, cost, threshold);
        const expected = goldenCols.get(name)![`S(t)_${profile}`]!.map(Number);
        for (let i = 0; i < st.length; i++) {
          assert.ok(Math.abs(st[i]! - expected[i]!) < 1e-9, `${name} row ${i}: ${st[i]} vs ${expected[i]}`);
        }
        checked++;
      }
      assert.equal(checked, 58);
    });
  }
});

test('a folder without the NAB files is reported missing, and loading it fails naming the folder', () => {
  assert.equal(hasNabCorpus('/nonexistent/nab'), false);
  assert.match(missingNabReason('/nonexistent/nab') ?? '', /\/nonexistent\/nab/);
  assert.throws(
    () => loadNabCorpus('/nonexistent/nab'),
    (e: unknown) => isPlexusError(e, 'PLX_NOT_FOUND') && /nonexistent/.test(e.message),
  );
});
